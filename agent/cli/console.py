"""What every `candor` command prints through, and the one error it turns into a message.

Command modules raise `UserError` for anything the person can act on; `agent.cli.main` prints it
as one line on stderr and exits 1, never with a traceback.
"""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
"""Standard output, for what a command reports."""
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Standard error, for problems and progress."""


class UserError(Exception):
    """A failure the person can act on; printed as one message, exit 1."""
