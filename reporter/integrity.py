"""The integrity section: how much of the week Candor saw, and anything that weakens trust in
the counts. No setting removes it; the detail level only hides host names and rule texts.

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
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.config import Home, duration_words, rough_duration_words
from agent.journal import Event, Journal, Kind, format_ts
from agent.journal.events import Heartbeat
from agent.journal.loosening import loosening_words
from reporter import consent, signing
from reporter.document import (
    AgentInfo,
    BypassEntry,
    ChangeEntry,
    ConsentInfo,
    Coverage,
    Gap,
    Integrity,
    JournalCheck,
    KeyInfo,
    Passthroughs,
)
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


# -- changes --------------------------------------------------------------------------------

_SETTING_WORDS = {
    "allowlist": "a site was added to the allowlist",
    "never_inspect": "a site was added to the never-inspect list",
    "safesearch.enabled": "SafeSearch was turned off",
    "search_capture.enabled": "checking search terms was turned off",
    "cooling_off": "the cooling-off delay was shortened",
}


def _setting_words(change: Mapping[str, Any]) -> str:
    what = str(change.get("what", "a setting"))
    if what.startswith("categories.") and what.endswith(".action"):
        name = what[len("categories.") : -len(".action")]
        return f"{name}: changed from {change.get('from')} to {change.get('to')}"
    return _SETTING_WORDS.get(what, f"{what} changed")


def _earliest(values: Iterable[Any]) -> str | None:
    found = sorted(str(v) for v in values if isinstance(v, str) and v)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Changes:
    loosening: list[ChangeEntry]
    tightening: int


def changes(journal: Journal, window: Window, level: str) -> Changes:
    share = level in ("domains", "detailed")
    loosening: list[ChangeEntry] = []
    tightening = 0
    kinds = [Kind.RULES_CHANGED, Kind.CONFIG_CHANGED, Kind.ALLOW_GRANTED, Kind.CONSENT_CHANGED]
    for event in journal.events(since=window.start, until=window.until, kinds=kinds):
        body = event.body
        stopped = bool(body.get("while_stopped"))
        items = body.get("changes") if isinstance(body.get("changes"), list) else []
        if event.kind == Kind.RULES_CHANGED:
            for c in (c for c in items if isinstance(c, dict)):
                tightening += len(c.get("tightening") or [])
                removed = [str(r) for r in c.get("loosening") or []]
                category = c.get("category")
                if c.get("disappeared"):
                    words = f"the {category} rules file was removed"
                elif removed:
                    count = len(removed)
                    words = f"{count} rule{'s' if count != 1 else ''} removed from {category}"
                else:
                    continue
                until = c.get("pending_until")
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="rules", category=category, description=words,
                        detail=removed if share else None, while_stopped=stopped,
                        pending_until=_earliest(until.values()) if isinstance(until, dict)
                        else None,
                    )
                )  # fmt: skip
        elif event.kind == Kind.CONFIG_CHANGED:
            for c in (c for c in items if isinstance(c, dict)):
                if not c.get("loosening"):
                    tightening += 1
                    continue
                host = c.get("to") if c.get("what") in ("allowlist", "never_inspect") else None
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="setting", description=_setting_words(c),
                        detail=[str(host)] if share and host else None,
                        pending_until=c.get("pending_until") or None, while_stopped=stopped,
                    )
                )  # fmt: skip
        elif event.kind == Kind.ALLOW_GRANTED:
            duration = body.get("duration") or "a short time"
            host = body.get("host")
            loosening.append(
                ChangeEntry(
                    time=event.ts, kind="temporary_allow",
                    description=f"a blocked site was let through for {duration} (candor allow)",
                    detail=[str(host)] if share and host else None,
                )
            )  # fmt: skip
        elif body.get("change") in ("lowered", "revoked"):
            words = (
                f"the report's detail level was lowered to {body.get('level')}"
                if body.get("change") == "lowered"
                else "reporting to the partner was turned off"
            )
            loosening.append(ChangeEntry(time=event.ts, kind="sharing", description=words))
        for item in body.get("took_effect") or []:
            if isinstance(item, dict):
                what = str(item.get("what", ""))
                value = item.get("value")
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="took_effect", category=item.get("category"),
                        description="after the cooling-off delay, "
                        + loosening_words(what, done=True),
                        detail=[str(value)] if share and value else None,
                    )
                )  # fmt: skip
    return Changes(loosening, tightening)


def pending_now(home: Home, now: datetime, level: str) -> list[ChangeEntry]:
    """Loosenings waiting for the cooling-off delay at report time (`state/pending.json`)."""
    try:
        raw = json.loads((home.state_dir / "pending.json").read_text("utf-8"))
        items = raw.get("pending", [])
    except (OSError, ValueError, AttributeError):
        return []
    share = level in ("domains", "detailed")
    out: list[ChangeEntry] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            until = datetime.fromisoformat(str(item["until"]))
            since = datetime.fromisoformat(str(item.get("since", item["until"])))
        except (KeyError, ValueError):
            continue
        if until.tzinfo is None or until <= now:
            continue
        what = str(item.get("what", ""))
        value = item.get("value")
        out.append(
            ChangeEntry(
                time=_iso(since), kind="pending", category=item.get("category"),
                description=loosening_words(what),
                detail=[str(value)] if share and value else None, pending_until=_iso(until),
            )
        )  # fmt: skip
    return out


# -- the journal, the key, consent ----------------------------------------------------------


def journal_check(journal: Journal, previous_head: Mapping[str, Any] | None) -> JournalCheck:
    result = journal.verify()
    first = next(journal.events(limit=1), None)
    extends: bool | None = None
    if previous_head and isinstance(previous_head.get("seq"), int):
        extends = _extends(journal, int(previous_head["seq"]), str(previous_head.get("hash")))
    return JournalCheck(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        detail=result.detail,
        extends_previous=extends,
        previous_chain_head=dict(previous_head) if previous_head else None,
        started_at=first.ts if first else None,
    )


def _extends(journal: Journal, seq: int, digest: str) -> bool | None:
    """Is the row the previous report quoted still there, unchanged? None if pruned since."""
    row = next(journal.events(after_seq=seq - 1, limit=1), None)
    if row is not None and row.seq == seq:
        return row.hash == digest
    head = journal.head()
    if head is None or head.seq < seq:
        return False
    for event in journal.events(kinds=[Kind.CHECKPOINT], newest_first=True):
        if event.body.get("seq") == seq:
            return event.body.get("hash") == digest
    return None


def key_info(home: Home, window: Window, previous_key: str | None) -> KeyInfo:
    current = signing.fingerprint(home)
    history = signing.key_history(home)
    created = next((h["created_at"] for h in history if h["fingerprint"] == current), None)
    new = False
    if created:
        try:
            born = datetime.fromisoformat(created)
            new = window.start <= born < window.end
        except ValueError:
            pass
    return KeyInfo(
        fingerprint=current,
        created_at=created,
        new_this_period=new,
        previous_fingerprints=[h["fingerprint"] for h in history if h["fingerprint"] != current],
        changed_since_previous_report=None if previous_key is None else previous_key != current,
    )


def consent_info(journal: Journal, now: datetime) -> ConsentInfo:
    state = consent.consent_state(journal)
    last = state.renewed_at
    return ConsentInfo(last_given=_iso(last) if last else None, renewal_due=state.renewal_due(now))


# -- the whole section ----------------------------------------------------------------------


def build_integrity(
    home: Home,
    journal: Journal,
    window: Window,
    level: str,
    *,
    previous_head: Mapping[str, Any] | None = None,
    previous_key: str | None = None,
    late_reason: str | None = None,
    current: Clocks | None = None,
) -> Integrity:
    share = level in ("domains", "detailed")
    coverage, gaps = coverage_and_gaps(journal, window, current)
    found = changes(journal, window, level)
    pending = pending_now(home, window.now, level)
    bypass: list[BypassEntry] = []
    pinned: list[str] = []
    starts = unclean = lost = 0
    kinds = [Kind.BYPASS_SUSPECTED, Kind.PINNED_PASSTHROUGH, Kind.AGENT_START, Kind.EVENTS_LOST]
    for event in journal.events(since=window.start, until=window.until, kinds=kinds):
        body = event.body
        if event.kind == Kind.BYPASS_SUSPECTED:
            detail = body.get("host") or body.get("detail")
            bypass.append(
                BypassEntry(
                    time=event.ts,
                    what=str(body.get("what", "unknown")),
                    detail=str(detail) if share and detail else None,
                )
            )
        elif event.kind == Kind.PINNED_PASSTHROUGH:
            pinned.append(str(body.get("host", "")))
        elif event.kind == Kind.AGENT_START:
            starts += 1
            unclean += body.get("previous_stop_clean") is False
        else:
            lost += int(body.get("count", 0)) if isinstance(body.get("count"), int) else 1
    failures = sum(
        1 for _ in journal.events(since=window.start, until=window.now, kinds=[Kind.REPORT_FAILED])
    )
    check = journal_check(journal, previous_head)
    key = key_info(home, window, previous_key)
    integrity = Integrity(
        coverage=coverage,
        gaps=gaps,
        loosening=found.loosening,
        pending=pending,
        tightening=found.tightening,
        bypass=bypass,
        pinned_passthroughs=Passthroughs(
            count=len(pinned), hosts=sorted(set(pinned)) if share else None
        ),
        journal=check,
        consent=consent_info(journal, window.now),
        signing_key=key,
        agent=AgentInfo(starts=starts, unclean_stops=unclean),
        delivery_failures=failures,
        events_lost=lost,
        late=late_reason is not None,
        late_reason=late_reason,
        attention=[],
    )
    return integrity.model_copy(update={"attention": attention(integrity)})


def attention(integrity: Integrity) -> list[str]:
    """What the partner may want to ask about, in plain words; never the blocks themselves
    (a block is the filter doing its job)."""
    out: list[str] = []
    flagged = [g for g in integrity.gaps if g.flagged]
    awake = sum(g.awake_minutes or g.minutes for g in flagged if g.kind != "clock_changed")
    if any(g.kind in ("agent_not_running", "no_data") for g in flagged):
        out.append(
            "Candor was not watching for about "
            f"{duration_words(timedelta(minutes=awake))} of this week."
        )
    if any(g.kind == "clock_changed" for g in flagged):
        out.append("The computer's clock was changed.")
    real = [c for c in integrity.loosening if c.kind != "sharing"]
    if real:
        out.append(f"{len(real)} change{'s' if len(real) != 1 else ''} made filtering less strict.")
    if integrity.pending:
        out.append("A change that makes filtering less strict is waiting to take effect.")
    if integrity.bypass:
        out.append("Candor noticed something that can get around the filter.")
    if not integrity.journal.ok:
        out.append("Candor's record was changed after it was written.")
    if integrity.journal.extends_previous is False:
        out.append("Candor's record no longer matches the one last week's report described.")
    key = integrity.signing_key
    if key.changed_since_previous_report or (key.new_this_period and key.previous_fingerprints):
        out.append("This report is signed with a new key (Candor was reinstalled or reset).")
    if integrity.events_lost:
        out.append("Candor could not record some events.")
    if integrity.late_reason:
        out.append(integrity.late_reason)
    return out
