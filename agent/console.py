"""What every `candor` command prints through, and the one error it turns into a message.

Command modules raise `UserError` for anything the person can act on; `agent.cli.main` prints it
as one line on stderr and exits 1, never with a traceback.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A failure the person can act on; printed as one message, exit 1."""


def command_group(sub: argparse._SubParsersAction, name: str, help_text: str) -> Any:
    """The sub-commands of `candor NAME`, shared by the modules that each add some to it."""
    parser = sub.choices.get(name) or sub.add_parser(name, help=help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(metavar="ACTION")
