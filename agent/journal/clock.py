"""Candor's one notion of "now", and the journal's time format.

Weekly reports depend on the calendar: which week is due, whether a report is late, when to
retry; cooling-off waits and temporary allows end at a time. Everything asks `now()` here. Tests
cannot wait a week, so a test replaces this process's clock through the Python API (`use`); the
harness in tests/ does so for the real agent and the real command in a child process. Nothing a
person can set (no environment variable, no option, no file) changes it: a shipped agent always
runs on the real clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class Uptime:
    """How long this computer has been up (sleep included), and which boot that is.

    A wall clock can be set to any time; this cannot, so a cooling-off wait or a temporary allow
    is measured on it as well (`agent.policy.elapsed`)."""

    boot_id: str | None
    seconds: float


def read_uptime() -> Uptime:
    """This computer's boot id and `CLOCK_BOOTTIME` (monotonic where there is none)."""
    boot_id: str | None = None
    with contextlib.suppress(OSError):
        boot_id = BOOT_ID.read_text().strip() or None
    which = getattr(time, "CLOCK_BOOTTIME", None)
    seconds = time.clock_gettime(which) if which is not None else time.monotonic()
    return Uptime(boot_id, seconds)


class TimeSource(Protocol):
    """A clock: what time it is, and how long to really wait for some of its seconds to pass."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def real_seconds(self, simulated: float) -> float:
        """How many real seconds `simulated` seconds of this clock take."""
        ...

    def uptime(self) -> Uptime:
        """The time since boot on this clock, and the boot's id."""
        ...


class RealTime:
    """The computer's own clock: what every shipped process uses."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)

    def real_seconds(self, simulated: float) -> float:
        """A real second is a second."""
        return max(simulated, 0.0)

    def uptime(self) -> Uptime:
        """The computer's own time since boot."""
        return read_uptime()


REAL_TIME = RealTime()
_source: TimeSource = REAL_TIME


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _source.now()


def real_seconds(simulated: float) -> float:
    """How long to really wait for `simulated` seconds of this process's clock to pass."""
    return _source.real_seconds(simulated)


def uptime() -> Uptime:
    """This computer's time since boot (sleep included) and boot id, on this process's clock."""
    return _source.uptime()


def use(source: TimeSource | None) -> None:
    """Replace this process's clock (None: the real one again). For tests, through the Python
    API only."""
    global _source
    _source = REAL_TIME if source is None else source


def is_real() -> bool:
    """Whether this process runs on the real clock (a test harness may have replaced it)."""
    return _source is REAL_TIME


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
