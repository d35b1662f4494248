"""Coverage and gaps: how much of the period Candor saw, from the heartbeats among its rows.

Heartbeats (every minute, with three clocks and the boot id) are read in journal order from the
rows the report covers, with the last one before them and the first one after, so a clock moved
back or forward cannot hide a stretch: the time between two heartbeats is measured with the
clocks they carry, not with their time stamps. Between two consecutive heartbeats:
- a new boot id: the computer was off or restarting; if Candor started well after boot (the
  monotonic clock at its first heartbeat is large), that awake time is "agent not running";
- an `agent_start` row in between, same boot: Candor was stopped while the computer was on, and
  that is listed with its length, however short;
- same boot, the wall clock and CLOCK_BOOTTIME disagree: the clock was changed;
- same boot, CLOCK_BOOTTIME advanced but the monotonic clock did not: asleep (not flagged);
- same boot, the monotonic clock advanced with no heartbeats: awake, Candor not running (flagged).
Coverage is over the whole period: watched minutes out of the awake minutes plus the time nobody
can account for (no heartbeat on either side), which counts as not watched. Only the time before
Candor's records begin is left out, and said.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agent.config import rough_duration_words
from agent.journal import Event, Journal, Kind, format_ts
from agent.journal.events import Heartbeat
from reporter.document import Coverage, Gap
from reporter.scope import Scope

HEARTBEAT = 60.0
"""Seconds between heartbeats (the agent's HEARTBEAT_SECONDS)."""
MAX_STEP = 150.0
"""Two heartbeats further apart than this leave a gap."""
CLOCK_TOLERANCE = 120.0
"""Wall clock and CLOCK_BOOTTIME may drift this much between heartbeats before it is a change."""
FLAG_AWAKE = 5 * 60.0
"""Awake time without heartbeats (and without a restart) shorter than this lowers coverage but
is not listed: a busy computer can delay a heartbeat. A restart is always listed."""
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
    seq: int | None = None
    """Its row (None for the report builder's own clocks, read now)."""

    @classmethod
    def of(cls, event: Event) -> Clocks:
        """The clocks of a heartbeat row; its journal time stands in for a missing wall clock."""
        return cls.read(event.time, Heartbeat.from_body(event.body), event.seq)

    @classmethod
    def read(cls, at: datetime, beat: Heartbeat, seq: int | None = None) -> Clocks:
        """The clocks of a heartbeat taken at `at`."""
        return cls(
            at=at,
            wall=beat.wall if beat.wall is not None else at.timestamp(),
            mono=beat.monotonic,
            boot=beat.boottime,
            boot_id=beat.boot_id,
            seq=seq,
        )


@dataclass(frozen=True, slots=True)
class Restart:
    """Candor started again: when, when it had stopped (if it said so), and whether cleanly."""

    seq: int
    started: datetime
    stopped: datetime | None
    clean: bool


@dataclass(frozen=True, slots=True)
class _Step:
    """Two consecutive heartbeats: the share of their stretch inside the period, by time
    stamp (1 between two covered heartbeats), and the restarts between them."""

    a: Clocks
    b: Clocks
    lo: datetime
    hi: datetime
    share: float
    restarts: list[Restart]


@dataclass(slots=True)
class _Tally:
    monitored: float = 0.0
    awake_missing: float = 0.0
    no_record: float = 0.0
    gaps: list[Gap] = field(default_factory=list)


def _minutes(seconds: float) -> int:
    return int(seconds // 60)


def _clamp(value: float, top: float) -> float:
    return min(max(value, 0.0), max(top, 0.0))


def coverage_and_gaps(
    journal: Journal, scope: Scope, current: Clocks | None = None
) -> tuple[Coverage, list[Gap]]:
    """Coverage and classified gaps for the report's rows and period.

    `current` stands for a heartbeat taken now (the report builder's own clocks), which explains
    a trailing gap when the agent is not running at report time."""
    before, inside, after = _beats(journal, scope, current)
    beats = [*([before] if before else []), *inside, *([after] if after else [])]
    restarts = _restarts(journal, scope, before.seq if before and before.seq else scope.after_seq)
    tally = _Tally()
    if before is None:
        fresh = _journal_starts_in(journal, scope)
        _no_data(tally, scope.start, beats[0].at if beats else scope.until, scope, fresh)
    for a, b in itertools.pairwise(beats):
        _pair(tally, _step(a, b, scope, lead=a is before, trail=b is after, restarts=restarts))
    if after is None and beats:
        _no_data(tally, beats[-1].at, scope.until, scope, before_records=False)
    awake = tally.monitored + tally.awake_missing
    seen = awake + tally.no_record
    percent = int(100 * tally.monitored // seen) if seen >= 60 else None
    coverage = Coverage(
        monitored_minutes=_minutes(tally.monitored),
        awake_minutes=_minutes(awake),
        no_record_minutes=_minutes(tally.no_record),
        percent=min(percent, 100) if percent is not None else None,
    )
    return coverage, tally.gaps


def _beats(
    journal: Journal, scope: Scope, current: Clocks | None
) -> tuple[Clocks | None, list[Clocks], Clocks | None]:
    """The heartbeat before the covered rows, those among them, and the one after (or now)."""
    before = next(
        journal.events(
            kinds=[Kind.HEARTBEAT], after_seq=scope.after_seq + 1, newest_first=True, limit=1
        ),
        None,
    )
    inside = [Clocks.of(e) for e in scope.rows(journal, [Kind.HEARTBEAT])]
    after = next(journal.events(kinds=[Kind.HEARTBEAT], after_seq=scope.last_seq, limit=1), None)
    following = Clocks.of(after) if after is not None else None
    if following is None and current is not None:
        newest = inside[-1].at if inside else (before.time if before else None)
        if newest is None or current.at > newest:
            following = current
    return (Clocks.of(before) if before else None), inside, following


def _restarts(journal: Journal, scope: Scope, since_seq: int) -> list[Restart]:
    """Every agent start among the covered rows, with the stop just before it (read from the
    heartbeat before them, so a stop the previous report covered is found too)."""
    out: list[Restart] = []
    stopped: datetime | None = None
    kinds = [Kind.AGENT_START, Kind.AGENT_STOP]
    for event in journal.events(kinds=kinds, after_seq=min(since_seq, scope.after_seq)):
        if event.seq > scope.last_seq:
            break
        if event.kind == Kind.AGENT_STOP:
            stopped = event.time
            continue
        if event.seq > scope.after_seq:
            clean = event.body.get("previous_stop_clean") is not False
            out.append(Restart(event.seq, event.time, stopped, clean))
        stopped = None
    return out


def _journal_starts_in(journal: Journal, scope: Scope) -> bool:
    first = next(journal.events(limit=1), None)
    return first is None or first.time > scope.start


def _step(
    a: Clocks, b: Clocks, scope: Scope, *, lead: bool, trail: bool, restarts: list[Restart]
) -> _Step:
    """The pair, clipped by time to the period where it crosses the report's first or last row."""
    lo = max(a.at, scope.start) if lead else a.at
    hi = min(b.at, scope.until) if trail else b.at
    whole = (b.at - a.at).total_seconds()
    if not (lead or trail):
        share = 1.0
    elif whole <= 0 or hi <= lo:
        share = 0.0
    else:
        share = min((hi - lo).total_seconds() / whole, 1.0)
    low = a.seq if a.seq is not None else -1
    high = b.seq if b.seq is not None else float("inf")
    between = [r for r in restarts if low < r.seq < high]
    return _Step(a, b, lo, hi, share, between)


def _no_data(
    tally: _Tally, start: datetime, end: datetime, scope: Scope, before_records: bool
) -> None:
    lo, hi = max(start, scope.start), min(end, scope.until)
    seconds = (hi - lo).total_seconds()
    if seconds <= MAX_STEP:
        tally.monitored += max(seconds, 0.0) if not before_records else 0.0
        return
    if not before_records:
        tally.no_record += seconds
    if seconds < FLAG_AWAKE:
        return
    note = (
        "before Candor's records begin"
        if before_records
        else "no record from Candor: the computer may have been off, or Candor stopped"
    )
    tally.gaps.append(
        Gap(
            kind="no_data",
            start=format_ts(lo),
            end=format_ts(hi),
            minutes=_minutes(seconds),
            flagged=not before_records and seconds >= NO_DATA_FLAG,
            note=note,
        )
    )


def _pair(tally: _Tally, step: _Step) -> None:
    """Account for the time between two heartbeats and list what it was, if worth listing."""
    a, b = step.a, step.b
    same_boot = a.boot_id is None or b.boot_id is None or a.boot_id == b.boot_id
    d_mono = b.mono - a.mono if a.mono is not None and b.mono is not None else None
    d_boot = b.boot - a.boot if a.boot is not None and b.boot is not None else None
    d_wall = b.wall - a.wall
    if same_boot and d_mono is not None and d_mono < 0:
        same_boot = False  # the monotonic clock went back: a new boot we have no id for
    if not same_boot:
        _after_boot(tally, step)
        return
    # Without CLOCK_BOOTTIME (macOS, Windows) a sleep and a clock moved forward look alike;
    # both are taken as sleep, and only a clock moved back is caught.
    elapsed = max(d_boot if d_boot is not None else d_wall, 0.0)
    jump = d_wall - elapsed if d_boot is not None else min(d_wall - (d_mono or d_wall), 0.0)
    awake = max(d_mono if d_mono is not None else d_wall, 0.0)
    asleep = max(elapsed - awake, 0.0)
    if abs(jump) > CLOCK_TOLERANCE:
        _clock_changed(tally, step, jump, elapsed)
    if step.restarts:
        _stopped(tally, step, elapsed, awake)
        return
    if abs(jump) <= CLOCK_TOLERANCE and elapsed <= MAX_STEP and awake <= MAX_STEP:
        tally.monitored += awake * step.share
        return
    running = min(awake, HEARTBEAT)
    missing = max(awake - running, 0.0)
    tally.monitored += running * step.share
    tally.awake_missing += missing * step.share
    if abs(jump) > CLOCK_TOLERANCE:
        return
    if missing >= FLAG_AWAKE:
        kind, flagged = "agent_not_running", True
        note = "the computer was on but Candor was not running"
    elif asleep >= 60:
        kind, flagged, note = "asleep", False, "the computer was asleep"
    else:
        return
    tally.gaps.append(
        Gap(
            kind=kind,  # type: ignore[arg-type]
            start=format_ts(step.lo),
            end=format_ts(step.hi),
            minutes=_minutes(elapsed * step.share),
            asleep_minutes=_minutes(asleep * step.share),
            awake_minutes=_minutes(missing * step.share),
            flagged=flagged,
            note=note,
        )
    )


def _clock_changed(tally: _Tally, step: _Step, jump: float, elapsed: float) -> None:
    """The wall clock moved against the boot clock: when, which way, by how much."""
    direction = "forward" if jump > 0 else "back"
    tally.gaps.append(
        Gap(
            kind="clock_changed",
            start=format_ts(step.a.at),
            end=format_ts(step.b.at),
            minutes=_minutes(elapsed),
            flagged=True,
            note=(
                f"the computer's clock was moved {direction} by about "
                f"{rough_duration_words(timedelta(seconds=abs(jump)))}"
            ),
        )
    )


def _stopped(tally: _Tally, step: _Step, elapsed: float, awake: float) -> None:
    """Candor stopped and started again between two heartbeats of one boot: list it, always.

    The stop lasted from the clean stop (or, after a crash, the last heartbeat) to the start;
    measured with the clocks when there is one restart, so a clock moved meanwhile does not
    change its length. At most a heartbeat's worth of awake time on either side was Candor's."""
    a, b, restarts = step.a, step.b, step.restarts
    stop_at = restarts[0].stopped or a.at
    start_at = restarts[-1].started
    pre = _clamp((stop_at - a.at).total_seconds(), elapsed)
    post = _clamp((b.at - start_at).total_seconds(), elapsed)
    if len(restarts) == 1:
        length = max(elapsed - pre - post, 0.0)
    else:
        length = _clamp((start_at - stop_at).total_seconds(), elapsed)
    awake_stopped = _clamp(awake - min(pre, HEARTBEAT) - min(post, HEARTBEAT), length)
    tally.monitored += (awake - awake_stopped) * step.share
    tally.awake_missing += awake_stopped * step.share
    clean = all(r.clean for r in restarts)
    times = f" ({len(restarts)} times)" if len(restarts) > 1 else ""
    tally.gaps.append(
        Gap(
            kind="agent_stopped",
            start=format_ts(stop_at),
            end=format_ts(start_at),
            minutes=_minutes(length),
            asleep_minutes=_minutes(length - awake_stopped),
            awake_minutes=_minutes(awake_stopped),
            flagged=True,
            note=(
                "Candor was stopped" if clean else "Candor stopped unexpectedly and was not running"
            )
            + times,
        )
    )


def _after_boot(tally: _Tally, step: _Step) -> None:
    """A restart between `a` and `b`: off until boot, then awake until Candor's first beat."""
    a, b = step.a, step.b
    awake_after = b.mono if b.mono is not None else 0.0
    awake_after = min(awake_after, max((b.at - a.at).total_seconds(), 0.0))
    started = b.at - timedelta(seconds=awake_after)
    lo, hi = step.lo, step.hi
    if hi <= lo:
        return
    slow_start = awake_after > START_GRACE
    off_end = min(started if slow_start else b.at, hi)
    if off_end > lo:
        tally.gaps.append(
            Gap(
                kind="off",
                start=format_ts(lo),
                end=format_ts(off_end),
                minutes=_minutes((off_end - lo).total_seconds()),
                flagged=False,
                note="the computer was off or restarting",
            )
        )
    if slow_start:
        s_lo = max(started, lo)
        seconds = (hi - s_lo).total_seconds()
        if seconds > 0:
            tally.awake_missing += seconds
            tally.gaps.append(
                Gap(
                    kind="agent_not_running",
                    start=format_ts(s_lo),
                    end=format_ts(hi),
                    minutes=_minutes(seconds),
                    awake_minutes=_minutes(seconds),
                    flagged=seconds >= FLAG_AWAKE,
                    note="after the computer started, Candor was not running yet",
                )
            )
