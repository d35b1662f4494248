"""How a value from config.toml is quoted in a message, so every message quotes it the same way."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from agent.config.durations import format_duration

LONG_NUMBER_BITS = 64
"""A number longer than this is named, not written out (Python will not write very long ones)."""


def show(value: Any) -> str:
    """The value as the person wrote it, clipped: text in quotes, true/false, a duration."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return clip(json.dumps(value, ensure_ascii=False), 60)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, int) and value.bit_length() > LONG_NUMBER_BITS:
        return "a number far too large"
    return clip(str(value), 60)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with "..." when it was longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
