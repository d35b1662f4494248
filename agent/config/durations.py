"""Durations as people write them in config.toml and on the command line ("24h", "90m", "1d12h").

The one owner of duration text: parsing, the compact form written back to config.toml, and the
words a report or a message uses ("2 hours 5 minutes").
"""

from __future__ import annotations

import datetime as dt
import json
import re

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")

LONGEST = dt.timedelta(days=3650)
"""The longest duration read from text unless the caller says less: ten years."""


def parse_duration(text: str, longest: dt.timedelta = LONGEST) -> dt.timedelta:
    """`"24h"`, `"90m"`, `"2d"`, `"1d12h"`, `"1w"` or `"0"` as a timedelta, at most `longest`."""
    compact = text.strip().lower().replace(" ", "")
    if compact == "0":
        return dt.timedelta(0)
    match = _DURATION.fullmatch(compact)
    if not compact or not match:
        raise ValueError(
            f'must be a duration like "24h", "90m", "2d" or "0" (found {_quoted(text)})'
        )
    too_long = ValueError(f"must be at most {format_duration(longest)} (found {_quoted(text)})")
    if any(len(g or "") > 9 for g in match.groups()):  # counted below without a huge number
        raise too_long
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    total = (((weeks * 7 + days) * 24) + hours) * 60 + minutes
    if total > longest // dt.timedelta(minutes=1):
        raise too_long
    return dt.timedelta(minutes=total)


def format_duration(value: dt.timedelta) -> str:
    """The compact form config.toml and the command line use: "1d12h", "90m" is "1h30m"."""
    minutes = int(value.total_seconds()) // 60
    if minutes == 0:
        return "0h"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts)


def duration_words(value: dt.timedelta) -> str:
    """A span to the minute, for people: "1 minute", "2 hours 5 minutes", "3 days 4 hours".

    Two days and more drop the minutes: nobody reads a week's coverage to the minute.
    """
    minutes = max(int(value.total_seconds()) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days >= 2:
        return _join(_unit(days, "day"), _unit(hours, "hour"))
    hours += days * 24
    if hours:
        return _join(_unit(hours, "hour"), _unit(minutes, "minute"))
    return _unit(minutes, "minute") or "0 minutes"


def rough_duration_words(value: dt.timedelta) -> str:
    """A span rounded down to one unit, for "about": "40 minutes", "5 hours", "3 days"."""
    minutes = max(int(value.total_seconds()) // 60, 0)
    if minutes < 90:
        minutes = max(minutes, 1)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def _unit(n: int, name: str) -> str:
    return f"{n} {name}{'s' if n != 1 else ''}" if n else ""


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _quoted(text: str) -> str:
    """The text as config.toml would show it, clipped (as `agent.config.shown.show` quotes)."""
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."
