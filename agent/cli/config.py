"""`candor config check|show`: is config.toml valid, and what settings are in force."""

from __future__ import annotations

import argparse

from agent.cli.console import UserError, out, usable_settings
from agent.config import Home, dump_config, last_good_config


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor config`."""
    config = parser.add_subparsers(metavar="ACTION")
    config.add_parser("check", help="validate config.toml").set_defaults(handler=cmd_config_check)
    config.add_parser("show", help="print the effective configuration").set_defaults(
        handler=cmd_config_show
    )


def cmd_config_check(home: Home, args: argparse.Namespace) -> int:
    """`candor config check`: is config.toml valid (one sentence naming the line if not)."""
    read = last_good_config(home)
    if read.note:
        raise UserError(read.note)
    where = home.config_file if home.config_file.exists() else "defaults (no config.toml yet)"
    out.print(f"Configuration is valid: {where}")
    return 0


def cmd_config_show(home: Home, args: argparse.Namespace) -> int:
    """`candor config show`: the settings in force, defaults included, as TOML."""
    out.print(dump_config(usable_settings(home)), markup=False, end="")
    return 0
