"""Reading config.toml, and saying what is wrong with it in one sentence: file, key and line.

The TOML reader is imported when there is a file to read, and the key finder and the spelling
suggestions when there is an error to explain: a home with no config.toml loads neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from agent.config.errors import ConfigError
from agent.config.home import Home
from agent.config.model import Config
from agent.config.shown import clip, show

if TYPE_CHECKING:
    import tomllib

    from agent.config.key_lines import Loc


MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Far more than any settings file needs (an allowlist of 100,000 hosts fits)."""

INT_DIGITS = 4300
"""Python's limit on the digits of a whole number read from text."""


def load_config(home: Home) -> Config:
    """The settings in `home`'s config.toml; defaults when there is no file."""
    from rules.own_files import LINK_WORDS, LinkRefused, read_own_file

    path = home.config_file
    try:
        raw = read_own_file(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return Config()
    except LinkRefused:
        raise ConfigError(f"{path}: {LINK_WORDS}", file=path) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(f"{path}: cannot read the settings file ({reason}).", file=path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: the settings file is over {MAX_CONFIG_BYTES // (1024 * 1024)} MB; no "
            "settings need that much (long lists of sites belong in rules files).",
            file=path,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}, line {line}: the file is not UTF-8 text; save it as UTF-8.",
            file=path,
            line=line,
        ) from None
    return parse_config(text, path)


def parse_config(text: str, file: Path | str = "config.toml") -> Config:
    """Validate TOML text as settings; `file` only names the source in error messages."""
    import tomllib

    from agent.config.toml_shape import shape_problem

    file = Path(file)
    shape = shape_problem(text)
    if shape is not None:
        raise ConfigError(
            f"{file}, line {shape.line}: not valid for Candor ({shape.reason}; no setting "
            "needs more than three).",
            file=file,
            line=shape.line,
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, text, file) from None
    except ValueError:  # Python's limit on the digits of a number read from text
        raise _long_number_error(text, file) from None
    except RecursionError:
        raise ConfigError(f"{file}: lists or tables are nested too deeply.", file=file) from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, text, file) from None
    except RecursionError:
        raise ConfigError(f"{file}: lists or tables are nested too deeply.", file=file) from None


def _long_number_error(text: str, file: Path) -> ConfigError:
    """A number too long for Python to read: no setting is anywhere near that long."""
    found = re.search(rf"[0-9_]{{{INT_DIGITS + 1},}}", text)
    if found is None:
        return ConfigError(
            f"{file}: a number has more than {INT_DIGITS} digits; no setting needs one.", file=file
        )
    line = text.count("\n", 0, found.start()) + 1
    return ConfigError(
        f"{file}, line {line}: a number has {len(found[0])} digits; no setting needs more than "
        "a few.",
        file=file,
        line=line,
    )


def _toml_error(exc: tomllib.TOMLDecodeError, text: str, file: Path) -> ConfigError:
    message = str(exc)
    where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    lines = text.splitlines()
    if where:
        line, column = int(where[1]), int(where[2])
        message = message[: where.start()]
    else:
        line, column = max(len(lines), 1), 0
        message = re.sub(r"\s*\(at end of document\)$", "", message)
    # tomllib names tables as Python tuples: ('a', 'b') reads better as [a.b].
    message = re.sub(
        r"\(((?:'[^']*'(?:, )?)+),?\)",
        lambda m: "[" + ".".join(re.findall(r"'([^']*)'", m[1])) + "]",
        message,
    )
    reason = message[:1].lower() + message[1:]
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    at = shown[column - 1 : column] if column else ""
    hint = ""
    if reason.startswith("invalid value") and at.isalpha() and "=" in shown[: column - 1]:
        hint = '; text needs double quotes, like "summary"; true and false do not'
    elif reason.startswith("invalid value") and shown.lstrip().startswith("["):
        hint = "; a list above may be missing its closing ]"
    elif reason.startswith("illegal character '\\n'"):
        hint = "; a closing quote is missing"
    elif reason.startswith(("cannot overwrite", "cannot declare")):
        hint = "; a key or [section] appears twice"
    elif reason.startswith("expected '=' after a key"):
        hint = '; write key = value, like detail_level = "summary"'
    where_text = f", column {column}" if column else ""
    message = f"{file}, line {line}: not valid TOML ({reason}{where_text}{hint})"
    if shown.strip():
        message += f": {clip(shown.strip(), 60)}"
    return ConfigError(message, file=file, line=line)


def _validation_error(exc: ValidationError, text: str, file: Path) -> ConfigError:
    from agent.config.key_lines import find_line, key_lines

    lines = key_lines(text)
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "[key]")
        problems.append((find_line(lines, loc), _dotted(loc), _explain(error, loc)))
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0))
    line, key, explanation = problems[0]
    where = f"{file}, line {line}" if line else str(file)
    message = f"{where}: {explanation}"
    if len(problems) > 1:
        more = len(problems) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''} in this file)"
    return ConfigError(message, file=file, line=line, key=key)


def _explain(error: Mapping[str, Any], loc: Loc) -> str:
    kind = error["type"]
    key = _dotted(loc)
    found = show(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", '"')
        return f"{key} must be one of {allowed} (found {found})"
    if kind in ("value_error", "assertion_error"):
        return f"{key} {ctx.get('error', error['msg'])}".rstrip(".")
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size", "finite_number"):
        return f"{key} must be a whole number (found {found})"
    if kind in ("bool_parsing", "bool_type"):
        return f"{key} must be true or false (found {found})"
    if kind == "string_type":
        return f"{key} must be text in double quotes (found {found})"
    if kind == "list_type":
        return f'{key} must be a list, like ["example.com"] (found {found})'
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if len(loc) == 2 and loc[0] == "categories":
            return (
                f"{key} must be a table: write [{key}] on its own line and "
                f'action = "block" (or "warn", "log", "off") below it (found {found})'
            )
        return f"{key} must be a table: write [{key}] on its own line, settings below it"
    if kind == "greater_than_equal":
        return f"{key} must be at least {ctx.get('ge')} (found {found})"
    if kind == "less_than_equal":
        return f"{key} must be at most {ctx.get('le')} (found {found})"
    if kind == "string_too_short":
        return f"{key} must not be empty"
    if kind == "string_too_long":
        return f"{key} must be at most {ctx.get('max_length')} characters long"
    if kind.startswith("datetime"):
        return f"{key} must be a date and time like 2026-03-01T18:00:00Z (found {found})"
    return f"{key}: {error['msg']} (found {found})"


def _unknown_key(loc: Loc) -> str:
    import difflib

    name = str(loc[-1])
    key = _dotted(loc)
    if "password" in name.lower() and name != "password_source":
        return (
            f"{key}: Candor never keeps a password in config.toml. Remove it and set "
            'password_source instead: "keyring" (your system keyring), "env:VARIABLE" '
            '(an environment variable) or "file:/path/to/file" (a file only you can read)'
        )
    model = _model_at(loc[:-1])
    known = list(model.model_fields) if model else []
    guess = difflib.get_close_matches(name, known, n=1)
    message = f'unknown setting "{key}"'
    if guess:
        message += f' (did you mean "{_dotted((*loc[:-1], guess[0]))}"?)'
    if known:
        where = f"in [{_dotted(loc[:-1])}]" if len(loc) > 1 else "at the top level"
        message += f"; allowed {where}: " + ", ".join(known)
    return message


def _model_at(path: Loc) -> type[BaseModel] | None:
    """The settings model that a [table] path in config.toml stands for."""
    annotation: Any = Config
    for part in path:
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        else:
            return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _dotted(loc: Loc) -> str:
    from agent.config.key_lines import BARE_KEY

    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f" entry {part + 1}"
        else:
            piece = part if BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{piece}" if out else piece
    return out
