"""The settings to act on when config.toml is broken: the last good ones, as the journal records.

A config.toml that cannot be read must not stop protection, reloads or reports, and must not
hand anyone the defaults either. So the agent, when it puts settings into force, keeps a copy
of them under `state/` named by their digest and journals that digest in its `rules_applied`
row. `last_good_config` is the one way every part of Candor (the agent, the commands, the
reporter) reads the settings: config.toml when it is good; when it is broken, the copy whose
digest the journal's newest `rules_applied` row names, checked; and only when that copy is gone
or altered, the defaults (the rulebook still holds every loosening the journal recorded, for
its cooling-off delay). Each answer carries the error, so the caller can say what is wrong.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.config.errors import ConfigError
from agent.config.home import Home
from agent.config.loading import load_config, parse_config
from agent.config.model import Config

log = logging.getLogger(__name__)

COPY_PREFIX = "applied-config-"
"""`state/applied-config-<digest>.toml`: the settings last put into force, as Candor wrote them."""
APPLIED_KIND = "rules_applied"

Source = Literal["file", "applied", "defaults"]


@dataclass(frozen=True, slots=True)
class LastGood:
    """The settings to act on, where they came from, and what is wrong with config.toml."""

    config: Config
    source: Source = "file"
    """`file`: config.toml itself; `applied`: the copy the journal names; `defaults`."""
    error: ConfigError | None = None
    """Why config.toml was not used; None when it was."""

    @property
    def note(self) -> str | None:
        """One sentence for the person when config.toml was not used; None when it was."""
        if self.error is None:
            return None
        if self.source == "applied":
            return kept_words(self.error)
        return (
            f"{str(self.error).rstrip('.')}. Candor has no checked copy of the settings it last "
            "applied, so it uses the defaults until this is fixed (a loosening still waits for "
            "its delay)."
        )


def kept_words(error: ConfigError) -> str:
    """The sentence for a broken config.toml while the settings last applied stay in force."""
    problem = str(error).rstrip(".")
    return f"{problem}. Candor keeps the settings it last applied until this is fixed."


def last_good_config(home: Home) -> LastGood:
    """config.toml's settings if they are good; else the last applied ones, with the error."""
    try:
        return LastGood(load_config(home))
    except ConfigError as exc:
        error = exc
    digest = applied_digest(home)
    applied = read_copy(home, digest) if digest else None
    if applied is None:
        return LastGood(Config(), "defaults", error)
    return LastGood(applied, "applied", error)


def digest_of(config: Config) -> str:
    """The digest of the settings as Candor writes them (comments and order do not count)."""
    from agent.config.toml_writing import dump_config

    return hashlib.sha256(dump_config(config).encode("utf-8")).hexdigest()


def copy_path(home: Home, digest: str) -> Path:
    """Where the copy of the settings with `digest` is kept."""
    return home.state_dir / f"{COPY_PREFIX}{digest}.toml"


def keep_copy(home: Home, config: Config) -> str:
    """Write the copy of `config` (once) before it is journaled as applied; its digest.

    A copy that cannot be written is logged: the journal's digest is still the record, and a
    broken config.toml then falls back to the defaults."""
    from agent.config.files import create_once
    from agent.config.toml_writing import dump_config

    digest = digest_of(config)
    try:
        home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_once(copy_path(home, digest), dump_config(config))
    except OSError as exc:
        log.warning("could not keep a copy of the applied settings: %s", exc)
    return digest


def forget_other_copies(home: Home, digest: str) -> None:
    """Remove copies other than `digest`'s, once `digest` is journaled as applied."""
    keep = copy_path(home, digest).name
    with suppress(OSError):
        for path in home.state_dir.glob(f"{COPY_PREFIX}*.toml"):
            if path.name != keep:
                path.unlink(missing_ok=True)


def applied_digest(home: Home) -> str | None:
    """The settings digest in the journal's newest `rules_applied` row; None when none says."""
    if not home.journal_file.exists():
        return None
    from agent.journal import JournalError
    from agent.journal.store import Journal

    try:
        with Journal(home.journal_file) as journal:
            newest = next(journal.latest([APPLIED_KIND], 1), None)
    except (JournalError, OSError) as exc:
        log.warning("could not read the applied settings' digest: %s", exc)
        return None
    value = newest.body.get("config") if newest is not None else None
    return value if isinstance(value, str) else None


def read_copy(home: Home, digest: str) -> Config | None:
    """The copy named `digest`, if it is there, not a link, and still has that digest."""
    from rules.own_files import read_own_file

    try:
        raw = read_own_file(copy_path(home, digest))
        config = parse_config(raw.decode("utf-8"), copy_path(home, digest))
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    if digest_of(config) != digest:
        return None
    return config
