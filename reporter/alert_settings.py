"""The partner's immediate alerts as the person chose them: the journal is the source of truth.

Alerts are off until the person turns them on (`candor alerts on`). Every choice is journaled
(`alerts_chosen`), keyed by the partner (`agent.journal.partner.partner_id`), so a new partner
starts with alerts off and config.toml can neither widen nor narrow them. Narrowing or turning
them off takes effect at once (the weekly report says so in plain words); widening or turning
them on after the partner confirmed is told to the partner in the next signed alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.journal import Event, Journal, Kind
from agent.journal.events import AlertsChosen

TRIGGERS = ("weakened", "hard_moment")
"""`weakened`: protection was weakened; `hard_moment`: many blocked page visits in a short time."""
DEFAULT_HARD_COUNT = 5
DEFAULT_HARD_MINUTES = 10
BATCH_WINDOW = timedelta(minutes=15)
"""At most one alert message per partner in this long; what happens meanwhile waits for it."""
STOPPED_AFTER = timedelta(minutes=10)
"""The agent stopped while the computer was awake for this long: worth an alert."""


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """What the person chose for the partner's alerts (off unless journaled otherwise)."""

    on: bool = False
    triggers: tuple[str, ...] = TRIGGERS
    hard_count: int = DEFAULT_HARD_COUNT
    hard_minutes: int = DEFAULT_HARD_MINUTES
    quiet: str | None = None
    zone: str = "UTC"
    seq: int | None = None
    """The journal row that set them (None: never chosen)."""
    since: datetime | None = None

    def covers(self, trigger: str) -> bool:
        """Whether alerts are on for this trigger."""
        return self.on and trigger in self.triggers

    def as_body(self, partner: str, change: str, by: str | None = None) -> AlertsChosen:
        """These settings as the `alerts_chosen` row that records them."""
        return AlertsChosen(
            partner_id=partner,
            change=change,
            on=self.on,
            triggers=list(self.triggers),
            hard_count=self.hard_count,
            hard_minutes=self.hard_minutes,
            quiet=self.quiet,
            zone=self.zone,
            by=by,
        )

    def as_json(self) -> dict[str, Any]:
        """The settings for `candor alerts show --json` and the alert document."""
        return {
            "on": self.on,
            "triggers": list(self.triggers) if self.on else [],
            "hard_moment": {"count": self.hard_count, "minutes": self.hard_minutes},
            "quiet": self.quiet,
            "zone": self.zone,
        }


def from_event(event: Event) -> AlertSettings:
    """The settings an `alerts_chosen` row holds (damaged values fall back to the defaults)."""
    body = event.body
    triggers = tuple(t for t in body.get("triggers") or () if t in TRIGGERS)
    count, minutes = body.get("hard_count"), body.get("hard_minutes")
    quiet = body.get("quiet")
    return AlertSettings(
        on=body.get("on") is True and bool(triggers),
        triggers=triggers,
        hard_count=count if isinstance(count, int) and count > 0 else DEFAULT_HARD_COUNT,
        hard_minutes=minutes if isinstance(minutes, int) and minutes > 0 else DEFAULT_HARD_MINUTES,
        quiet=quiet if isinstance(quiet, str) and parse_quiet(quiet) else None,
        zone=str(body.get("zone") or "UTC"),
        seq=event.seq,
        since=event.time,
    )


def settings_for(journal: Journal, partner: str) -> AlertSettings:
    """The settings in force for `partner`: their newest `alerts_chosen` row, else off."""
    for event in journal.latest([Kind.ALERTS_CHOSEN]):
        if event.body.get("partner_id") == partner:
            return from_event(event)
    return AlertSettings()


def on_since(journal: Journal, partner: str) -> int | None:
    """The row that turned alerts on for `partner`, in the stretch they are on now (None: off).
    Triggers before it are not alerted; a later change of quiet hours or thresholds does not
    move it, so nothing waiting is dropped."""
    since: int | None = None
    for event in journal.latest([Kind.ALERTS_CHOSEN]):
        if event.body.get("partner_id") != partner:
            continue
        if not from_event(event).on:
            break
        since = event.seq
    return since


def changes_for(journal: Journal, partner: str, after_seq: int, last_seq: int) -> list[Event]:
    """The `alerts_chosen` rows of `partner` in a report's rows, for its plain-words line."""
    return [
        event
        for event in journal.events(kinds=[Kind.ALERTS_CHOSEN], after_seq=after_seq)
        if event.seq <= last_seq and event.body.get("partner_id") == partner
    ]


def compare(before: AlertSettings, after: AlertSettings) -> str:
    """`on`, `off`, `widened`, `narrowed`, `changed` or `same`: how a choice moves sharing."""
    if before.on != after.on:
        return "on" if after.on else "off"
    if not after.on:
        return "same"
    wider = _wider(before, after)
    narrower = _wider(after, before)
    if wider and not narrower:
        return "widened"
    if narrower and not wider:
        return "narrowed"
    if before.quiet != after.quiet or before.zone != after.zone or wider:
        return "changed"
    return "same"


def _wider(a: AlertSettings, b: AlertSettings) -> bool:
    """Whether `b` alerts on something `a` does not (a new trigger, or a lower threshold)."""
    if set(b.triggers) - set(a.triggers):
        return True
    if "hard_moment" in b.triggers and "hard_moment" in a.triggers:
        rate_a = a.hard_count / a.hard_minutes
        rate_b = b.hard_count / b.hard_minutes
        return b.hard_count < a.hard_count or (b.hard_count == a.hard_count and rate_b < rate_a)
    return False


def is_widening(change: str) -> bool:
    """Whether the partner is told at once (in the next alert) rather than in the report."""
    return change in ("on", "widened", "changed")


_HARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*(m|min|minutes?)?\s*$")
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hard(text: str) -> tuple[int, int]:
    """`5/10m` → (5, 10): at least 5 blocked page visits within 10 minutes."""
    found = _HARD.match(text)
    if not found or int(found[1]) < 2 or not 1 <= int(found[2]) <= 240:
        raise ValueError(
            f"“{text}” is not a hard-moment rule: write COUNT/MINUTES, e.g. 5/10m "
            "(2 visits or more, within 1 to 240 minutes)"
        )
    return int(found[1]), int(found[2])


def parse_quiet(text: str) -> tuple[time, time] | None:
    """`22:00-07:00` → (22:00, 07:00); None when it is not such a span."""
    found = _QUIET.match(text)
    if not found:
        return None
    h1, m1, h2, m2 = (int(x) for x in found.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        return None
    return time(h1, m1), time(h2, m2)


def zone_of(name: str) -> ZoneInfo:
    """The quiet hours' time zone (UTC when the name is unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(settings: AlertSettings, now: datetime) -> datetime | None:
    """When the quiet hours around `now` end, or None when `now` is not in them."""
    span = parse_quiet(settings.quiet) if settings.quiet else None
    if span is None:
        return None
    start, end = span
    local = now.astimezone(zone_of(settings.zone))
    here = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= here < end
        end_day = local.date()
    else:  # across midnight
        inside = here >= start or here < end
        end_day = local.date() + timedelta(days=1) if here >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=local.tzinfo)


def describe(settings: AlertSettings) -> str:
    """What the alerts cover, in one plain sentence (the CLI, the invitation, the report)."""
    if not settings.on:
        return "Immediate alerts are off: only the weekly report is sent."
    parts = []
    if "weakened" in settings.triggers:
        parts.append("when protection is weakened (Candor stopped, removed or loosened)")
    if "hard_moment" in settings.triggers:
        parts.append(
            f"after a hard moment ({settings.hard_count} or more blocked pages within "
            f"{settings.hard_minutes} minutes)"
        )
    quiet = f"; quiet hours {settings.quiet} ({settings.zone})" if settings.quiet else ""
    return f"Immediate alerts are on: {' and '.join(parts)}, at most one every 15 minutes{quiet}."


def as_of(journal: Journal, partner: str, last_seq: int) -> AlertSettings:
    """The settings that were in force at row `last_seq` (the end of a report)."""
    for event in journal.latest([Kind.ALERTS_CHOSEN]):
        if event.seq <= last_seq and event.body.get("partner_id") == partner:
            return from_event(event)
    return AlertSettings()
