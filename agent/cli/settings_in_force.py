"""The settings a command acts on: config.toml's, or while it is broken the last good ones, said.

Every command that only reads the settings (to list rules, build a report, install) goes
through `usable_settings`, so a broken config.toml never stops them and never goes unmentioned;
commands that edit config.toml read it strictly, since they would otherwise overwrite the
person's file.
"""

from __future__ import annotations

from agent.cli.console import err
from agent.config import Config, Home, last_good_config


def usable_settings(home: Home) -> Config:
    """config.toml's settings, or the last good ones with one sentence on stderr saying why."""
    read = last_good_config(home)
    if read.note:
        err.line(f"candor: {read.note}")
    return read.config
