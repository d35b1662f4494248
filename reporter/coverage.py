"""Coverage and gaps: how much of the week Candor saw, from the heartbeats alone.

Coverage comes from heartbeats (every minute, with three clocks and the boot id). Between two
consecutive heartbeats:
- a new boot id: the computer was off or restarting; if Candor started well after boot (the
  monotonic clock at its first heartbeat is large), that awake time is "agent not running";
- same boot, the wall clock and CLOCK_BOOTTIME disagree: the clock was changed;
- same boot, CLOCK_BOOTTIME advanced but the monotonic clock did not: asleep (not flagged);
- same boot, the monotonic clock advanced with no heartbeats: awake, Candor not running (flagged).
Awake minutes are monitored minutes plus awake minutes without heartbeats; time nobody can account
for (no heartbeat on either side) is reported as "no data", neutrally.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.config import rough_duration_words
from agent.journal import Event, Journal, Kind, format_ts
from agent.journal.events import Heartbeat
from reporter.document import Coverage, Gap
from reporter.summary import Window

HEARTBEAT = 60.0
"""Seconds between heartbeats (the agent's HEARTBEAT_SECONDS)."""
MAX_STEP = 150.0
"""Two heartbeats further apart than this leave a gap."""
CLOCK_TOLERANCE = 120.0
"""Wall clock and CLOCK_BOOTTIME may drift this much between heartbeats before it is a change."""
FLAG_AWAKE = 5 * 60.0
"""Awake time without heartbeats shorter than this lowers coverage but is not listed."""
START_GRACE = 10 * 60.0
"""Awake time after boot before Candor's first heartbeat that is still "starting up"."""
NO_DATA_FLAG = 60 * 60.0


@dataclass(frozen=True, slots=True)
class Clocks:
    """One heartbeat's clocks; `at` is the journal time (the wall clock when it was written)."""

    at: datetime
    wall: float
    mono: float | None
    boot: float | None
    boot_id: str | None

    @classmethod
    def of(cls, event: Event) -> Clocks:
        """The clocks of a heartbeat row; its journal time stands in for a missing wall clock."""
        return cls.read(event.time, Heartbeat.from_body(event.body))

    @classmethod
    def read(cls, at: datetime, beat: Heartbeat) -> Clocks:
        """The clocks of a heartbeat taken at `at`."""
        return cls(
            at=at,
            wall=beat.wall if beat.wall is not None else at.timestamp(),
            mono=beat.monotonic,
            boot=beat.boottime,
            boot_id=beat.boot_id,
        )


@dataclass(slots=True)
class _Tally:
    monitored: float = 0.0
    awake_missing: float = 0.0
    gaps: list[Gap] | None = None


def _minutes(seconds: float) -> int:
    return int(seconds // 60)


def _iso(moment: datetime) -> str:
    return format_ts(moment)


def _clip(start: datetime, end: datetime, window: Window) -> tuple[datetime, datetime, float]:
    """The part of [start, end] inside the window, and which fraction of the whole it is."""
    lo, hi = max(start, window.start), min(end, window.until)
    whole = (end - start).total_seconds()
    if hi <= lo or whole <= 0:
        return lo, lo, 0.0
    return lo, hi, (hi - lo).total_seconds() / whole


def coverage_and_gaps(
    journal: Journal, window: Window, current: Clocks | None = None
) -> tuple[Coverage, list[Gap]]:
    """Coverage and classified gaps for the window, from the heartbeats in and around it.

    `current` stands for a heartbeat taken now (the report builder's own clocks), which explains
    a trailing gap when the agent is not running at report time."""
    beats = _beats(journal, window, current)
    tally = _Tally(gaps=[])
    assert tally.gaps is not None
    if not beats or beats[0].at > window.start:
        head_end = beats[0].at if beats else window.until
        fresh = _journal_starts_in(journal, window)
        _no_data(tally, window.start, head_end, window, before_records=fresh)
    for a, b in itertools.pairwise(beats):
        if b.at <= window.start or a.at >= window.until:
            continue
        _pair(tally, a, b, window)
    if beats and beats[-1].at < window.until:
        _no_data(tally, beats[-1].at, window.until, window, before_records=False)
    awake = tally.monitored + tally.awake_missing
    percent = int(100 * tally.monitored // awake) if awake >= 60 else None
    coverage = Coverage(
        monitored_minutes=_minutes(tally.monitored),
        awake_minutes=_minutes(awake),
        percent=min(percent, 100) if percent is not None else None,
    )
    return coverage, tally.gaps


def _beats(journal: Journal, window: Window, current: Clocks | None) -> list[Clocks]:
    before = next(
        journal.events(kinds=[Kind.HEARTBEAT], until=window.start, newest_first=True, limit=1),
        None,
    )
    inside = journal.events(kinds=[Kind.HEARTBEAT], since=window.start, until=window.until)
    after = next(journal.events(kinds=[Kind.HEARTBEAT], since=window.until, limit=1), None)
    beats = [Clocks.of(e) for e in ([before] if before else [])]
    beats.extend(Clocks.of(e) for e in inside)
    if after is not None:
        beats.append(Clocks.of(after))
    elif current is not None and (not beats or current.at > beats[-1].at):
        beats.append(current)
    return beats


def _journal_starts_in(journal: Journal, window: Window) -> bool:
    first = next(journal.events(limit=1), None)
    return first is None or first.time > window.start


def _no_data(
    tally: _Tally, start: datetime, end: datetime, window: Window, *, before_records: bool
) -> None:
    lo, hi = max(start, window.start), min(end, window.until)
    seconds = (hi - lo).total_seconds()
    if seconds < FLAG_AWAKE:
        return
    note = (
        "before Candor's records begin"
        if before_records
        else "no record from Candor: the computer may have been off, or Candor stopped"
    )
    assert tally.gaps is not None
    tally.gaps.append(
        Gap(
            kind="no_data",
            start=_iso(lo),
            end=_iso(hi),
            minutes=_minutes(seconds),
            flagged=not before_records and seconds >= NO_DATA_FLAG,
            note=note,
        )
    )


def _pair(tally: _Tally, a: Clocks, b: Clocks, window: Window) -> None:
    assert tally.gaps is not None
    lo, hi, fraction = _clip(a.at, b.at, window)
    if fraction <= 0:
        return
    d_wall = b.wall - a.wall
    same_boot = a.boot_id is None or b.boot_id is None or a.boot_id == b.boot_id
    d_mono = b.mono - a.mono if a.mono is not None and b.mono is not None else None
    d_boot = b.boot - a.boot if a.boot is not None and b.boot is not None else None
    if same_boot and d_mono is not None and d_mono < 0:
        same_boot = False  # the monotonic clock went back: a new boot we have no id for
    if not same_boot:
        _after_boot(tally, a, b, window)
        return
    # Without CLOCK_BOOTTIME (macOS, Windows) a sleep and a clock moved forward look alike;
    # both are taken as sleep, and only a clock moved back is caught.
    elapsed = d_boot if d_boot is not None else d_wall
    jump = d_wall - elapsed if d_boot is not None else min(d_wall - (d_mono or d_wall), 0.0)
    awake = d_mono if d_mono is not None else d_wall
    asleep = max(elapsed - awake, 0.0)
    if abs(jump) <= CLOCK_TOLERANCE and d_wall <= MAX_STEP and awake <= MAX_STEP:
        tally.monitored += awake * fraction
        return
    running = min(awake, HEARTBEAT)
    missing = max(awake - running, 0.0)
    tally.monitored += running * fraction
    tally.awake_missing += missing * fraction
    if abs(jump) > CLOCK_TOLERANCE:
        direction = "forward" if jump > 0 else "back"
        kind, flagged = "clock_changed", True
        note = (
            f"the computer's clock was moved {direction} by about "
            f"{rough_duration_words(timedelta(seconds=abs(jump)))}"
        )
    elif missing >= FLAG_AWAKE:
        kind, flagged = "agent_not_running", True
        note = "the computer was on but Candor was not running"
    elif asleep >= 60:
        kind, flagged, note = "asleep", False, "the computer was asleep"
    else:
        return
    tally.gaps.append(
        Gap(
            kind=kind,  # type: ignore[arg-type]
            start=_iso(lo),
            end=_iso(hi),
            minutes=_minutes((hi - lo).total_seconds()),
            asleep_minutes=_minutes(asleep * fraction),
            awake_minutes=_minutes(missing * fraction),
            flagged=flagged,
            note=note,
        )
    )


def _after_boot(tally: _Tally, a: Clocks, b: Clocks, window: Window) -> None:
    """A restart between `a` and `b`: off until boot, then awake until Candor's first beat."""
    assert tally.gaps is not None
    awake_after = b.mono if b.mono is not None else 0.0
    awake_after = min(awake_after, max((b.at - a.at).total_seconds(), 0.0))
    started = b.at - timedelta(seconds=awake_after)
    lo, hi, _ = _clip(a.at, b.at, window)
    if hi <= lo:
        return
    slow_start = awake_after > START_GRACE
    off_end = started if slow_start else b.at
    o_lo, o_hi, _ = _clip(a.at, off_end, window)
    if o_hi > o_lo:
        tally.gaps.append(
            Gap(
                kind="off",
                start=_iso(o_lo),
                end=_iso(o_hi),
                minutes=_minutes((o_hi - o_lo).total_seconds()),
                flagged=False,
                note="the computer was off or restarting",
            )
        )
    if slow_start:
        s_lo, s_hi, _ = _clip(started, b.at, window)
        seconds = (s_hi - s_lo).total_seconds()
        if seconds > 0:
            tally.awake_missing += seconds
            tally.gaps.append(
                Gap(
                    kind="agent_not_running",
                    start=_iso(s_lo),
                    end=_iso(s_hi),
                    minutes=_minutes(seconds),
                    awake_minutes=_minutes(seconds),
                    flagged=seconds >= FLAG_AWAKE,
                    note="after the computer started, Candor was not running yet",
                )
            )
