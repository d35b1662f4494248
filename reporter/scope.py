"""What one report covers: its period, and the journal rows after the previous report's.

A report covers journal rows, not wall-clock times. Every row after the row the previous report
ended at (its `chain_head`) belongs to this report, whatever time it carries. The report ends at
the last row stamped before its period's end: what was written after the period ended waits for
the next report, while a row stamped in the future and followed by ordinary rows (the clock set
forward, then back) stays in this one. Rows whose time falls outside the period are counted all
the same, and listed as clock anomalies.

The first report (and the first after a new confirmation) starts at whichever comes first: the
partner's confirmation, or the first row stamped inside its period. So the whole first period is
counted, as the sample the person saw when agreeing showed, and nothing written after the
confirmation can be left out by the time it carries.

A report built before periods existed counted the rows stamped in its ISO week; the first report
after one starts at the first row stamped after that week (never after the old report's head).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from agent.journal import Event, Journal, Kind, parse_ts
from reporter.document import ClockAnomaly, ZoneChange
from reporter.schedule import PreviousPeriod, ReportPeriod

ANOMALY_SLACK = timedelta(minutes=5)
"""Rows stamped this close outside the period are not anomalies: the writer stamps a row when it
is queued, a moment before it is stored."""

DECISIONS = ("block", "warn", "log")


@dataclass(frozen=True, slots=True)
class PreviousReport:
    """What the next report needs from the one before it: where its period and rows ended."""

    seq: int
    period: PreviousPeriod
    chain_head: Mapping[str, Any] | None
    key: str | None
    """The fingerprint that signed it."""
    totals: Mapping[str, Any] | None
    """Its summary's totals, for "this week against last week"."""
    before_periods: bool = False
    """Built before periods existed (`candor.report/1`): it counted rows by their time."""

    @property
    def head_seq(self) -> int | None:
        """The last row it covered, when its document is at hand."""
        seq = self.chain_head.get("seq") if self.chain_head else None
        return seq if isinstance(seq, int) else None


@dataclass(frozen=True, slots=True)
class Scope:
    """One report's period and its rows: `after_seq < seq <= last_seq`."""

    start: datetime
    end: datetime
    zone: tzinfo
    now: datetime
    after_seq: int
    last_seq: int

    @property
    def until(self) -> datetime:
        """Where the period's time stops: its end, or now for a period still running."""
        return min(self.end, self.now)

    @property
    def count(self) -> int:
        """How many rows the report covers."""
        return self.last_seq - self.after_seq

    def rows(self, journal: Journal, kinds: Iterable[str] | None = None) -> Iterator[Event]:
        """The covered rows (of these kinds), in journal order, whatever time they carry."""
        for event in journal.events(kinds=kinds, after_seq=self.after_seq):
            if event.seq > self.last_seq:
                return
            yield event

    def outside(self, event: Event) -> str | None:
        """ "before" or "after" for a row stamped clearly outside the period, else None."""
        moment = event.time
        if moment < self.start - ANOMALY_SLACK:
            return "before"
        if moment >= self.end + ANOMALY_SLACK:
            return "after"
        return None


def first_row_from(journal: Journal, moment: datetime) -> int | None:
    """The seq of the first row (in journal order) stamped at or after `moment`."""
    found = next(journal.events(since=moment, limit=1), None)
    return None if found is None else found.seq


def last_row_before(journal: Journal, moment: datetime, head_seq: int) -> int:
    """The seq of the newest row up to `head_seq` stamped before `moment` (0: none)."""
    # Reading newest first, `after_seq` is where the walk starts: rows below it.
    found = next(
        journal.events(until=moment, after_seq=head_seq + 1, newest_first=True, limit=1), None
    )
    return 0 if found is None else found.seq


def start_after(
    journal: Journal,
    period: ReportPeriod,
    previous: PreviousReport | None,
    *,
    confirmed_seq: int | None,
    head_seq: int,
) -> int:
    """The row a report starts after: where the report it continues ended, else the first's."""
    known = previous.head_seq if previous is not None else None
    if known is not None and known > head_seq:
        known = None  # the journal is shorter than the one last report saw: it was replaced
    if previous is not None and previous.period.end == period.start:
        if known is not None and not previous.before_periods:
            return known
        # It counted by time (or its document is gone): from the first row after its period.
        first = first_row_from(journal, previous.period.end)
        cut = head_seq if first is None else first - 1
        return min(known, cut) if known is not None else cut
    first = first_row_from(journal, period.start)
    after = head_seq if first is None else first - 1
    if confirmed_seq is not None:
        after = min(after, confirmed_seq - 1)
    return max(after, known or 0, 0)


def scope_for(
    journal: Journal,
    period: ReportPeriod,
    now: datetime,
    *,
    previous: PreviousReport | None = None,
    confirmed_seq: int | None = None,
) -> Scope:
    """The rows a report for `period` covers, built `now`."""
    head = journal.head()
    head_seq = head.seq if head is not None else 0
    after = start_after(journal, period, previous, confirmed_seq=confirmed_seq, head_seq=head_seq)
    last = max(last_row_before(journal, period.end, head_seq), after)
    return Scope(period.start, period.end, period.zone, now, after, last)


def clock_anomalies(journal: Journal, scope: Scope) -> list[ClockAnomaly]:
    """Covered rows stamped outside the period, grouped by side: counted, and shown."""
    found: dict[str, list[Event]] = {"before": [], "after": []}
    for event in scope.rows(journal):
        side = scope.outside(event)
        if side is not None:
            found[side].append(event)
    out: list[ClockAnomaly] = []
    for side, events in found.items():
        if not events:
            continue
        times = sorted(e.ts for e in events)
        out.append(
            ClockAnomaly(
                side=side,  # type: ignore[arg-type]
                count=len(events),
                decisions=sum(
                    1
                    for e in events
                    if e.kind == Kind.DECISION and e.body.get("decision") in DECISIONS
                ),
                earliest=times[0],
                latest=times[-1],
            )
        )
    return out


def zone_changes(journal: Journal, scope: Scope) -> list[ZoneChange]:
    """Changes of the report's time zone among the covered rows (`config_changed`)."""
    out: list[ZoneChange] = []
    for event in scope.rows(journal, [Kind.CONFIG_CHANGED]):
        items = event.body.get("changes")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("what") == "report.timezone":
                out.append(
                    ZoneChange(time=event.ts, previous=_text(item.get("from")),
                               current=_text(item.get("to")))
                )  # fmt: skip
    return out


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from a document, or None."""
    try:
        return parse_ts(str(value)) if value else None
    except ValueError:
        return None
