"""Writing the settings as TOML: `candor config show`, the wizard and the `partner` commands."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from agent.config.durations import format_duration
from agent.config.files import locked, write_atomic
from agent.config.home import Home
from agent.config.key_lines import BARE_KEY
from agent.config.model import Config

CONFIG_HEADER = (
    "# Candor settings. Every key is described in docs/configuration.md;\n"
    "# `candor config show` prints the settings in force, defaults included.\n\n"
)


def dump_config(config: Config) -> str:
    """The settings as TOML, defaults included (`candor config show`); loads back equal."""
    out: list[str] = []
    _dump_section(out, (), config)
    return "\n".join(out).strip("\n") + "\n"


def save_config(home: Home, config: Config) -> None:
    """Write config.toml atomically, readable by the person only. Comments are not kept."""
    home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(home.config_file, CONFIG_HEADER + dump_config(config), mode=0o600)


@contextmanager
def config_edit(home: Home) -> Iterator[None]:
    """Hold config.toml's lock from a command's first read of it to its save, so two edits at
    once (two `candor partner` commands) never lose one. Readers take no lock."""
    home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(home.config_file):
        yield


Command = Callable[[Home, Any], int]


def editing_config(command: Command) -> Command:
    """`command(home, args)` run under `config_edit(home)`: for commands that save the settings."""

    def run(home: Home, args: Any) -> int:
        with config_edit(home):
            return command(home, args)

    return run


def _dump_section(out: list[str], path: tuple[str, ...], section: BaseModel) -> None:
    scalars: list[str] = []
    tables: list[tuple[tuple[str, ...], BaseModel]] = []
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            tables.append(((*path, name), value))
        elif isinstance(value, dict):
            tables.extend(((*path, name, key), item) for key, item in value.items())
        elif value is not None:
            scalars.append(f"{_toml_key(name)} = {_toml_value(value)}")
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_toml_key(p) for p in path) + "]")
    out.extend(scalars)
    for sub_path, sub in tables:
        _dump_section(out, sub_path, sub)


def _toml_key(name: str) -> str:
    return name if BARE_KEY.fullmatch(name) else _toml_string(name)


def _toml_string(text: str) -> str:
    # JSON's escapes are a subset of TOML's basic-string escapes; DEL must be escaped in TOML.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.timedelta):
        return _toml_string(format_duration(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _toml_string(value.strftime("%H:%M"))
    if isinstance(value, list):
        items = [_toml_value(v) for v in value]
        inline = "[" + ", ".join(items) + "]"
        if len(inline) <= 80:
            return inline
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
