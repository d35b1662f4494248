"""A period of decisions, counted: what the partner sees at every detail level, and what only
some levels add (domains; event times and search terms).

Counts come from the rows the report covers (`reporter.scope`), whatever time they carry: a row
stamped outside the period is counted too, on the day it carries, and that day is marked. Only
`decision` events whose outcome is block, warn or log are counted; an allowed page is not the
partner's business. Days and hours are in the person's time zone, so "late evenings are hard"
reads as the person lives it. Searches reach the report only when they touched a watched
category, and only at the detailed level, never the rest of someone's searching; searches for
help or recovery are a count at every level, without their terms.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from agent.config import Config
from agent.journal import Event, Journal, Kind
from agent.journal.events import decisions_in, is_lookup
from reporter.document import (
    CategoryCounts,
    Counts,
    DayCounts,
    DomainEntry,
    MoreHosts,
    SearchEntry,
    Summary,
)
from reporter.scope import DECISIONS, Scope
from reporter.sites import Origin, SiteTallies, origin, origins

STREAK_LOOKBACK = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class WeekFacts:
    """The counted week: the summary, and the lists only some levels share."""

    summary: Summary
    domains: list[DomainEntry] | None
    searches: list[SearchEntry] | None
    more_domains: list[MoreHosts] | None = None
    """With `domains`: the hosts not listed one by one, grouped by site."""


def _decision(event: Event) -> str | None:
    value = event.body.get("decision")
    return value if value in DECISIONS else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {name: counter.get(name, 0) for name in DECISIONS}


def week_facts(
    journal: Journal,
    config: Config,
    scope: Scope,
    level: str,
    previous_totals: Mapping[str, Any] | None = None,
) -> WeekFacts:
    """Count the covered decisions and searches at the level consented to."""
    zone = scope.zone
    totals: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_day: dict[date, Counter[str]] = defaultdict(Counter)
    by_hour: dict[int, Counter[str]] = defaultdict(Counter)
    by_origin: dict[Origin, Counter[str]] = defaultdict(Counter)
    sites = SiteTallies()
    other: Counter[str] = Counter()
    searches: list[SearchEntry] = []
    looked_up = 0

    kinds = [Kind.DECISION, Kind.SEARCH, Kind.WARN_CONTINUE, Kind.UNBLOCK_REQUEST,
             Kind.ALLOW_GRANTED]  # fmt: skip
    for event in scope.rows(journal, kinds):
        if event.kind == Kind.DECISION:
            decision = _decision(event)
            if decision is None:
                continue
            if is_lookup(event.body):  # a name a program looked up, not a page: apart
                looked_up += decisions_in(event.body) if decision == "block" else 0
                continue
            local = event.time.astimezone(zone)
            category = _text(event.body.get("category"))
            n = decisions_in(event.body)  # a grouped row stands for its hosts
            totals[decision] += n
            by_category[category or "uncategorised"][decision] += n
            by_day[local.date()][decision] += n
            by_hour[local.hour][decision] += n
            by_origin[origin(event.body)][decision] += n
            host = _text(event.body.get("host"))
            if host:
                sites.add(host, category, decision, event.body, event.ts)
        elif event.kind == Kind.SEARCH:
            if event.body.get("help") is True:
                other["help"] += 1  # a count only: never its terms, at any level
                continue
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

    days = _days(scope, by_day)
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
        streak_days=streak_days(journal, scope),
        previous_week=_previous_totals(previous_totals) or _previous_week(journal, scope),
        unblock_requests=other[Kind.UNBLOCK_REQUEST],
        warn_continues=other[Kind.WARN_CONTINUE],
        searches_flagged=other["searches"],
        temporary_allows=other[Kind.ALLOW_GRANTED],
        origins=origins(by_origin),
        looked_up=looked_up or None,
        help_searches=other["help"] or None,
    )
    domains = more = None
    if level in ("domains", "detailed"):
        domains, more = sites.entries(detailed=level == "detailed")
    return WeekFacts(summary, domains, searches if level == "detailed" else None, more)


def _days(scope: Scope, by_day: Mapping[date, Counter[str]]) -> list[DayCounts]:
    """Each day the period touches, then the days outside it that hold covered rows."""
    first = scope.start.astimezone(scope.zone).date()
    last = (scope.end - timedelta(microseconds=1)).astimezone(scope.zone).date()
    inside = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    outside = sorted(d for d, c in by_day.items() if (d < first or d > last) and c.total())
    return [
        DayCounts(
            date=day.isoformat(), weekday=f"{day:%a}", outside_period=day in outside,
            **_counts(by_day.get(day, Counter())),
        )
        for day in inside + outside
    ]  # fmt: skip


def _previous_totals(totals: Mapping[str, Any] | None) -> Counts | None:
    """The previous report's totals as it gave them, when its document is at hand."""
    try:
        return Counts.model_validate(totals) if totals else None
    except ValueError:
        return None


def _previous_week(journal: Journal, scope: Scope) -> Counts | None:
    """The seven days before the period, counted by time (when no earlier report is at hand)."""
    start = (scope.start.astimezone(scope.zone) - timedelta(days=7)).replace(tzinfo=None)
    end = scope.start.astimezone(scope.zone).replace(tzinfo=None)
    start_at = start.replace(tzinfo=scope.zone)
    end_at = end.replace(tzinfo=scope.zone)
    first = next(journal.events(limit=1), None)
    if first is None or first.time >= end_at:
        return None
    counts: Counter[str] = Counter()
    for event in journal.events(since=start_at, until=end_at, kinds=[Kind.DECISION]):
        if (decision := _decision(event)) is not None and not is_lookup(event.body):
            counts[decision] += decisions_in(event.body)
    return Counts(**_counts(counts))


def streak_days(journal: Journal, scope: Scope) -> int:
    """Whole days without a block up to the last day the report covers (today, mid-period).

    The day of the last block does not count, nor do days before Candor's first record."""
    zone = scope.zone
    last_day = (scope.until - timedelta(microseconds=1)).astimezone(zone).date()
    first = next(journal.events(limit=1), None)
    if first is None:
        return 0
    since = scope.until - STREAK_LOOKBACK
    last_block: Event | None = None
    for event in journal.events(
        since=since, until=scope.until, kinds=[Kind.DECISION], newest_first=True
    ):
        if event.body.get("decision") == "block" and not is_lookup(event.body):
            last_block = event
            break
    if last_block is not None:
        clean_from = last_block.time.astimezone(zone).date() + timedelta(days=1)
    else:
        clean_from = max(first.time, since).astimezone(zone).date()
    return max((last_day - clean_from).days + 1, 0)
