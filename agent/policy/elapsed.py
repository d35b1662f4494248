"""Time that really passed since a moment, measured on a clock a person cannot set.

A cooling-off wait ends only when both the wall clock and the computer's uptime (CLOCK_BOOTTIME,
sleep included) say its time has passed, and a temporary allow ends when either does. Uptime is
summed per boot from the journal's heartbeats; the time between two boots (the computer was off)
counts by the wall clock, the only clock there is then. So setting the clock forward, or running
Candor under a faked clock, ends no wait early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from agent.journal.clock import Uptime

WALK_LIMIT = 200_000
"""Heartbeats read back at most (about 140 days of them) when a wait spans a reboot."""
WALK_SLACK = 2 * 86400.0
"""Stop reading heartbeats this long (wall clock) before the anchor: none can be older."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a wait or an allow started: the boot, its uptime then, and the wall clock then."""

    boot_id: str | None
    uptime: float
    wall: float


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat's clocks (any may be missing in an old or damaged row)."""

    boot_id: str | None
    uptime: float | None
    wall: float | None


Beats = Callable[[], Iterable[Beat]]
"""The journal's heartbeats, newest first (read only when a wait spans a reboot)."""


@dataclass(slots=True)
class ElapsedClock:
    """Seconds of real time since anchors, as of one moment; kept by the agent between reloads,
    so a reboot in the middle of a wait is worked out from the heartbeats once, not every time."""

    beats: Beats | None = None
    _across_boots: dict[Anchor, tuple[Uptime, float]] = field(default_factory=dict)

    def since(self, anchor: Anchor, now: Uptime, wall_now: float) -> float:
        """Real seconds from `anchor` to now: uptime within a boot, the wall clock between.

        Where the OS names no boot (no boot id), an uptime that went backwards means a reboot."""
        same_boot = now.boot_id == anchor.boot_id
        if same_boot and (now.boot_id is not None or now.seconds >= anchor.uptime):
            return max(0.0, now.seconds - anchor.uptime)
        known = self._across_boots.get(anchor)
        if known is not None and known[0].boot_id == now.boot_id:
            then, seconds = known
            return seconds + max(0.0, now.seconds - then.seconds)
        seconds = self._walk(anchor, now, wall_now)
        self._across_boots[anchor] = (now, seconds)
        return seconds

    def _walk(self, anchor: Anchor, now: Uptime, wall_now: float) -> float:
        total = 0.0
        later = Beat(now.boot_id, now.seconds, wall_now)
        for count, beat in enumerate(self.beats() if self.beats else ()):
            if beat.uptime is None or beat.wall is None or count >= WALK_LIMIT:
                if count >= WALK_LIMIT:
                    break
                continue
            if beat.boot_id == anchor.boot_id and beat.uptime <= anchor.uptime:
                break
            if beat.wall < anchor.wall - WALK_SLACK:
                break
            total += _span(beat, later)
            later = beat
        return total + _span(Beat(anchor.boot_id, anchor.uptime, anchor.wall), later)


def _span(earlier: Beat, later: Beat) -> float:
    """Real seconds between two readings: uptime within one boot, the wall clock across boots."""
    if earlier.boot_id is not None and earlier.boot_id == later.boot_id:
        return max(0.0, (later.uptime or 0.0) - (earlier.uptime or 0.0))
    return max(0.0, (later.wall or 0.0) - (earlier.wall or 0.0))


def anchor_of(uptime: Uptime, wall: datetime) -> Anchor:
    """The anchor of something that starts now."""
    return Anchor(uptime.boot_id, uptime.seconds, wall.timestamp())
