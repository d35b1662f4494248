"""What every `candor` command prints through, the one error it turns into a message, and the
settings a command that only reads them acts on (`usable_settings`: said when config.toml is
broken).

Command modules raise `UserError` for anything the person can act on; `agent.cli.main` prints it
as one line on stderr and exits 1, never with a traceback.

`out` and `err` are rich consoles made at their first use, so a command that prints one plain
line (`candor rules test URL`, an error) does not load rich: `LazyConsole.line` writes such a line
itself when rich would write exactly the same characters.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agent.config import Config, Home

EMOJI_CODE = re.compile(r":\S*?:")
"""What rich may turn into an emoji (`:cat:`); a line with one goes through rich."""


def prints_as_is(text: str) -> bool:
    """True when rich, printing `text` with markup off, would write exactly `text`.

    Rich strips control codes, expands tabs and replaces emoji codes; a line with no character
    that is not printable and nothing that looks like an emoji code is left alone.
    """
    return text.isprintable() and EMOJI_CODE.search(text) is None


class LazyConsole:
    """A rich `Console` made at first use; until then plain lines are written without it."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.made: Console | None = None

    @property
    def console(self) -> Console:
        """The rich console itself (made now if it was not yet)."""
        if self.made is None:
            from rich.console import Console

            self.made = Console(**self.options)
        return self.made

    def __getattr__(self, name: str) -> Any:
        if name in ("options", "made"):  # not set yet (a copy being made): not rich's
            raise AttributeError(name)
        return getattr(self.console, name)

    def line(self, text: str) -> None:
        """Print `text` as `print(text, markup=False)` does, loading rich only if it matters."""
        if self.made is not None or not prints_as_is(text):
            self.console.print(text, markup=False)
            return
        stream = sys.stderr if self.options.get("stderr") else sys.stdout
        stream.write(text + "\n")
        stream.flush()


out = LazyConsole(highlight=False, soft_wrap=True)
"""Standard output, for what a command reports."""
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)
"""Standard error, for problems and progress."""


class UserError(Exception):
    """A failure the person can act on; printed as one message, exit 1."""


def usable_settings(home: Home) -> Config:
    """The settings a command that only reads them acts on: config.toml's, or while it is broken
    the last good ones, with one sentence on stderr saying why (commands that edit config.toml
    read it strictly instead: they would otherwise overwrite the person's file)."""
    from agent.config import last_good_config

    read = last_good_config(home)
    if read.note:
        err.line(f"candor: {read.note}")
    return read.config
