"""A week of decisions, counted: what the partner sees at every detail level, and what only
some levels add (domains; event times and search terms).

Counts come from `decision` events whose outcome is block, warn or log; an allowed page is not
the partner's business and is never counted. Days and hours are in the person's time zone, so
"late evenings are hard" reads as the person lives it. Searches reach the report only when they
touched a watched category, and only at the detailed level, never the rest of someone's searching.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from agent.config import Config
from agent.journal import Event, Journal, Kind
from reporter.document import (
    CategoryCounts,
    Counts,
    DayCounts,
    DomainEntry,
    SearchEntry,
    Summary,
)

DECISIONS = ("block", "warn", "log")
STREAK_LOOKBACK = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Window:
    """The report's week: [start, end) in the person's zone, and `until` = min(end, now)."""

    start: datetime
    end: datetime
    zone: tzinfo
    now: datetime

    @property
    def until(self) -> datetime:
        """Where counting stops: the week's end, or now for a week still running."""
        return min(self.end, self.now)


@dataclass(frozen=True, slots=True)
class WeekFacts:
    """The counted week: the summary, and the lists only some levels share."""

    summary: Summary
    domains: list[DomainEntry] | None
    searches: list[SearchEntry] | None


def _decision(event: Event) -> str | None:
    value = event.body.get("decision")
    return value if value in DECISIONS else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {name: counter.get(name, 0) for name in DECISIONS}


def week_facts(journal: Journal, config: Config, window: Window, level: str) -> WeekFacts:
    """Count the week's decisions and searches at the level consented to."""
    zone = window.zone
    totals: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_day: dict[date, Counter[str]] = defaultdict(Counter)
    by_hour: dict[int, Counter[str]] = defaultdict(Counter)
    by_host: dict[tuple[str, str | None], Counter[str]] = defaultdict(Counter)
    host_times: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    other: Counter[str] = Counter()
    searches: list[SearchEntry] = []

    kinds = [Kind.DECISION, Kind.SEARCH, Kind.WARN_CONTINUE, Kind.UNBLOCK_REQUEST,
             Kind.ALLOW_GRANTED]  # fmt: skip
    for event in journal.events(since=window.start, until=window.end, kinds=kinds):
        if event.kind == Kind.DECISION:
            decision = _decision(event)
            if decision is None:
                continue
            local = event.time.astimezone(zone)
            category = _text(event.body.get("category"))
            totals[decision] += 1
            by_category[category or "uncategorised"][decision] += 1
            by_day[local.date()][decision] += 1
            by_hour[local.hour][decision] += 1
            host = _text(event.body.get("host"))
            if host:
                by_host[(host, category)][decision] += 1
                host_times[(host, category)].append(event.ts)
        elif event.kind == Kind.SEARCH:
            category = _text(event.body.get("category"))
            decision = _text(event.body.get("decision"))
            if category is None or decision == "allow":
                continue
            other["searches"] += 1
            searches.append(
                SearchEntry(
                    time=event.ts,
                    engine=_text(event.body.get("engine")),
                    category=category,
                    decision=decision,
                    terms=_text(event.body.get("terms")),
                )
            )
        else:
            other[event.kind] += 1

    start_day = window.start.astimezone(zone).date()
    days = [
        DayCounts(
            date=(day := start_day + timedelta(days=i)).isoformat(),
            weekday=f"{day:%a}",
            **_counts(by_day[day]),
        )
        for i in range(7)
    ]
    actions = {name: settings.action for name, settings in config.categories.items()}
    categories = [
        CategoryCounts(category=name, action=actions.get(name), **_counts(by_category[name]))
        for name in sorted(set(by_category) | {n for n, a in actions.items() if a != "off"})
    ]
    summary = Summary(
        totals=Counts(**_counts(totals)),
        categories=categories,
        days=days,
        hours=[Counts(**_counts(by_hour[h])) for h in range(24)],
        streak_days=streak_days(journal, window),
        previous_week=_previous_week(journal, window),
        unblock_requests=other[Kind.UNBLOCK_REQUEST],
        warn_continues=other[Kind.WARN_CONTINUE],
        searches_flagged=other["searches"],
        temporary_allows=other[Kind.ALLOW_GRANTED],
    )
    domains = None
    if level in ("domains", "detailed"):
        ordered = sorted(by_host.items(), key=lambda item: (-item[1].total(), item[0][0]))
        domains = [
            DomainEntry(
                host=host,
                category=category,
                times=host_times[(host, category)] if level == "detailed" else None,
                **_counts(counter),
            )
            for (host, category), counter in ordered
        ]
    return WeekFacts(summary, domains, searches if level == "detailed" else None)


def _previous_week(journal: Journal, window: Window) -> Counts | None:
    start = (window.start.astimezone(window.zone) - timedelta(days=7)).replace(tzinfo=None)
    end = window.start.astimezone(window.zone).replace(tzinfo=None)
    start_at = start.replace(tzinfo=window.zone)
    end_at = end.replace(tzinfo=window.zone)
    first = next(journal.events(limit=1), None)
    if first is None or first.time >= end_at:
        return None
    counts: Counter[str] = Counter()
    for event in journal.events(since=start_at, until=end_at, kinds=[Kind.DECISION]):
        if (decision := _decision(event)) is not None:
            counts[decision] += 1
    return Counts(**_counts(counts))


def streak_days(journal: Journal, window: Window) -> int:
    """Whole days without a block up to the last day the report covers (today, mid-week).

    The day of the last block does not count, nor do days before Candor's first record."""
    zone = window.zone
    last_day = (window.until - timedelta(microseconds=1)).astimezone(zone).date()
    first = next(journal.events(limit=1), None)
    if first is None:
        return 0
    since = window.until - STREAK_LOOKBACK
    last_block: Event | None = None
    for event in journal.events(
        since=since, until=window.until, kinds=[Kind.DECISION], newest_first=True
    ):
        if event.body.get("decision") == "block":
            last_block = event
            break
    if last_block is not None:
        clean_from = last_block.time.astimezone(zone).date() + timedelta(days=1)
    else:
        clean_from = max(first.time, since).astimezone(zone).date()
    return max((last_day - clean_from).days + 1, 0)
