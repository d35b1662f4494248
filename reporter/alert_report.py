"""The weekly report's part on immediate alerts: whether they were on, what was sent, changes.

Alerts are always also in the weekly report. It counts the alerts made over the report's rows
(`alert_queued`) by kind, never naming a category or site (those the report's own sections
show at the levels that allow them), gives their times only at the `detailed` level, and says
in plain words when the person narrowed or turned off the alerts, which takes effect at once.
A report of a home where alerts were never chosen has no such part.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from agent.journal import Journal, Kind, parse_ts
from reporter import alert_settings, alerts
from reporter.document import AlertChange, AlertsSection
from reporter.scope import Scope


def section(journal: Journal, scope: Scope, level: str, partner: str) -> AlertsSection | None:
    """The alerts part of the report over `scope`'s rows for `partner` (None: never chosen)."""
    settings = alert_settings.as_of(journal, partner, scope.last_seq)
    queued = [
        event
        for event in scope.rows(journal, [Kind.ALERT_QUEUED])
        if event.body.get("partner_id") == partner
    ]
    if settings.seq is None and not queued:
        return None
    changes = [
        AlertChange(
            time=event.ts,
            change=str(event.body.get("change")),
            words=alert_settings.describe(alert_settings.from_event(event)),
        )
        for event in scope.rows(journal, [Kind.ALERTS_CHOSEN])
        if event.body.get("partner_id") == partner
    ]
    items: list[Mapping[str, Any]] = [
        item
        for event in queued
        for item in event.body.get("items") or ()
        if isinstance(item, Mapping)
    ]
    return AlertsSection(
        on=settings.on,
        words=alert_settings.describe(settings),
        sent=len(queued),
        kinds=alerts.item_summary(items),
        times=[event.ts for event in queued] if level == "detailed" else None,
        changes=changes,
    )


KIND_WORDS = {
    "weakened": "protection weakened",
    "hard_moment": "a hard moment",
    "alerts_on": "alerts turned on or widened",
}
CHANGE_WORDS = {
    "on": "immediate alerts were turned on",
    "off": "immediate alerts were turned off (this took effect at once)",
    "widened": "immediate alerts were widened",
    "narrowed": "immediate alerts were narrowed (this took effect at once)",
    "changed": "immediate alerts were changed",
}


def lines(part: AlertsSection | None, zone: tzinfo) -> list[str]:
    """The part in plain words, one line each (the text and HTML renderings share them)."""
    if part is None:
        return []

    def when(ts: str) -> str:
        return f"{parse_ts(ts).astimezone(zone):%a %d %b %H:%M}"

    out = [part.words]
    if part.sent:
        kinds = ", ".join(f"{KIND_WORDS.get(k, k)}: {n}" for k, n in sorted(part.kinds.items()))
        noun = "alert was" if part.sent == 1 else "alerts were"
        out.append(f"{part.sent} immediate {noun} sent this period ({kinds}).")
    else:
        out.append("No immediate alert was sent this period.")
    if part.times:
        out.append("Sent: " + ", ".join(when(t) for t in part.times) + ".")
    for change in part.changes:
        out.append(f"On {when(change.time)}, {CHANGE_WORDS.get(change.change, change.change)}.")
    return out
