"""Which weekly reports are due, computed from the calendar and what was already built.

A report covers one ISO week (Monday 00:00 to Monday 00:00 in the person's time zone) and is
due at the first report day and time after that week has ended: with the default Sunday 18:00,
the report for 23–29 November goes out on Sunday 6 December at 18:00. So a report never covers
a week still in progress, and no hour falls between two reports.

Nothing here trusts a timer to have fired: every week from the one in which the partner
confirmed up to now whose due time has passed, and which has no report yet, is due. A laptop
asleep on report day therefore sends on waking, week by week in order, and each late report says
why from the heartbeats around its due time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from agent.config import WEEKDAYS, ReportSettings, rough_duration_words
from agent.journal import Journal, Kind
from agent.journal.events import Heartbeat

LATE_AFTER = timedelta(minutes=30)
"""A report built later than this after its due time says it is late, and why."""

_HEARTBEAT_SLACK = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class DueWeek:
    """A week whose report is due, and when it was due (lateness is measured from it)."""

    week: str
    due_at: datetime


def week_of(moment: datetime, zone: tzinfo) -> str:
    """The ISO week a moment falls in, in the person's time zone."""
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(week: str) -> date:
    """The Monday an ISO week name starts on."""
    year, _, number = week.partition("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def week_bounds(week: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of an ISO week in `zone`, as aware datetimes (DST-safe: wall-clock midnight)."""
    monday = week_monday(week)
    start = datetime.combine(monday, time(0), zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    return start, end


def next_week(week: str) -> str:
    """The ISO week after `week`."""
    year, number, _ = (week_monday(week) + timedelta(days=7)).isocalendar()
    return f"{year}-W{number:02d}"


def due_at(week: str, settings: ReportSettings, zone: tzinfo | None = None) -> datetime:
    """The first report day and time at or after the end of `week`."""
    zone = zone or settings.zone()
    following_monday = week_monday(week) + timedelta(days=7)
    day = following_monday + timedelta(days=WEEKDAYS.index(settings.day))
    return datetime.combine(day, settings.time, zone)


def due_weeks(
    now: datetime,
    settings: ReportSettings,
    *,
    since: datetime,
    done: set[str],
    zone: tzinfo | None = None,
) -> list[DueWeek]:
    """Weeks from the one containing `since` whose due time has passed and that have no report,
    oldest first."""
    zone = zone or settings.zone()
    out: list[DueWeek] = []
    week = week_of(since, zone)
    while True:
        when = due_at(week, settings, zone)
        if when > now:
            return out
        if week not in done:
            out.append(DueWeek(week, when))
        week = next_week(week)


def next_due(
    now: datetime, settings: ReportSettings, *, since: datetime, zone: tzinfo | None = None
) -> datetime:
    """When the next report will be due, for `candor partner show` and status."""
    zone = zone or settings.zone()
    week = week_of(max(since, now - timedelta(days=14)), zone)
    while (when := due_at(week, settings, zone)) <= now:
        week = next_week(week)
    return when


def late_reason(journal: Journal, due: datetime, now: datetime) -> str | None:
    """Why a report is built after its due time, in plain words, or None if it is on time."""
    if now - due <= LATE_AFTER:
        return None
    before = next(
        journal.events(
            kinds=[Kind.HEARTBEAT], until=due + _HEARTBEAT_SLACK, newest_first=True, limit=1
        ),
        None,
    )
    after = next(journal.events(kinds=[Kind.HEARTBEAT], since=due, limit=1), None)
    days = rough_duration_words(now - due)
    if before is not None and due - before.time <= _HEARTBEAT_SLACK:
        return f"Sent {days} late: Candor was running at report time but could not send then."
    if before is None or after is None:
        return f"Sent {days} late: Candor was not running at report time."
    boot = Heartbeat.from_body(before.body).boot_id
    same_boot = boot is not None and boot == Heartbeat.from_body(after.body).boot_id
    where = (
        "the computer was asleep"
        if same_boot
        else "the computer was off or restarting, or Candor was stopped"
    )
    return (
        f"Sent {days} late: {where} from {before.time:%a %d %b %H:%M} "
        f"to {after.time:%a %d %b %H:%M} (UTC)."
    )
