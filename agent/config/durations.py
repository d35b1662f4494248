"""Durations as people write them in config.toml and on the command line ("24h", "90m", "1d12h").

The one owner of duration text: parsing, the compact form written back to config.toml, and the
words a report or a message uses ("2 hours 5 minutes").
"""

from __future__ import annotations

import datetime as dt
import json
import re

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")


def parse_duration(text: str) -> dt.timedelta:
    """`"24h"`, `"90m"`, `"2d"`, `"1d12h"`, `"1w"` or `"0"` as a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    if compact == "0":
        return dt.timedelta(0)
    match = _DURATION.fullmatch(compact)
    if not compact or not match:
        raise ValueError(
            f'must be a duration like "24h", "90m", "2d" or "0" (found {_quoted(text)})'
        )
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    return dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


def format_duration(value: dt.timedelta) -> str:
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


def _quoted(text: str) -> str:
    """The text as config.toml would show it, clipped (as `agent.config.shown.show` quotes)."""
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."
