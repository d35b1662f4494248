"""Candor's one notion of "now", the journal's time format, and the one test-only override.

Weekly reports depend on the calendar: which ISO week is due, whether a report is late, when to
retry. Tests cannot wait a week, so everything in `reporter/` asks `now()` here, and tests set:

- `CANDOR_TEST_NOW`: an RFC 3339 time (`2026-11-29T18:00:00Z`) the clock starts from when the
  process first reads it (or when the variable changes);
- `CANDOR_TEST_CLOCK_SPEED` (optional, default 1): how many simulated seconds pass per real
  second, so a test can let a week of retries run in a few seconds; `0` stops the clock.

TEST ONLY. Nothing a person configures reads these variables; an agent started with them tells
the truth about nothing, so `candor status` should show that the test clock is on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

TEST_NOW_ENV = "CANDOR_TEST_NOW"
TEST_SPEED_ENV = "CANDOR_TEST_CLOCK_SPEED"

_lock = threading.Lock()
_anchor: tuple[str, float] | None = None
"""(the CANDOR_TEST_NOW text, time.monotonic() when it was first seen)."""


def test_clock_active() -> bool:
    """Whether the test clock (CANDOR_TEST_NOW) is set in this process."""
    return bool(os.environ.get(TEST_NOW_ENV))


def speed() -> float:
    """Simulated seconds per real second: 1 for the real clock."""
    if not test_clock_active():
        return 1.0
    text = os.environ.get(TEST_SPEED_ENV, "").strip()
    try:
        value = float(text) if text else 1.0
    except ValueError:
        raise ValueError(f"{TEST_SPEED_ENV} must be a number (found {text!r})") from None
    if value < 0:
        raise ValueError(f"{TEST_SPEED_ENV} must be zero or more (found {text!r})")
    return value


def now() -> datetime:
    """The current time, aware, in UTC."""
    text = os.environ.get(TEST_NOW_ENV, "").strip()
    if not text:
        return datetime.now(UTC)
    global _anchor
    with _lock:
        if _anchor is None or _anchor[0] != text:
            _anchor = (text, time.monotonic())
        started = _anchor[1]
    try:
        base = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{TEST_NOW_ENV} must be an RFC 3339 time (found {text!r})") from None
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    elapsed = (time.monotonic() - started) * speed()
    return base.astimezone(UTC) + timedelta(seconds=elapsed)


def real_seconds(simulated: float) -> float:
    """How long to really wait for `simulated` seconds of this clock to pass."""
    rate = speed()
    if rate == 0:
        return max(simulated, 0.0)
    return max(simulated, 0.0) / rate


# --- the journal's time format ------------------------------------------------------------

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime; tests inject a fixed or stepping one."""


def utc_now() -> datetime:
    """The real time, aware, in UTC: the journal's default clock."""
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. `2026-11-26T16:24:58.123456Z`.

    Fixed width, so comparing the strings orders the moments, which lets SQLite filter by time.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"journal times must be timezone-aware, got {moment!r}")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """A journal timestamp read back as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)
