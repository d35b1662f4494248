"""Which weekly reports are due: each covers the seven days ending at its report day and time.

A report's period ends at the person's report day and time (Sunday 18:00 by default) in their
time zone and starts exactly where the previous report's period ended, in absolute time: the
report due on Sunday 6 December at 18:00 covers Sunday 29 November 18:00 to Sunday 6 December
18:00. So no hour falls between two reports, even when the report day, time or time zone
changes: that makes one period shorter or longer (never shorter than a day), never leaves a gap.
The first report after the partner confirmed covers the seven days ending at the first report
time after the confirmation.

Nothing here trusts a timer to have fired: every period whose end has passed and that has no
report yet is due, oldest first. A laptop asleep on report day therefore sends on waking, period
by period in order, and each late report says why from the heartbeats around its due time.

Reports built before periods existed covered an ISO week (Monday to Monday); `week_bounds` reads
those, and the first period after one starts where that week ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from agent.config import WEEKDAYS, ReportSettings, rough_duration_words
from agent.journal import Journal, Kind
from agent.journal.events import Heartbeat

LATE_AFTER = timedelta(minutes=30)
"""A report built later than this after its due time says it is late, and why."""

SHORTEST = timedelta(days=1)
"""A changed report day, time or zone never makes a period shorter than this: the next report
time after it is used instead, so that period is longer."""

PERIOD_DAYS = 7

_HEARTBEAT_SLACK = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """What one report covers in time: [start, end), `end` being its report day and time."""

    start: datetime
    end: datetime
    zone: tzinfo

    @property
    def id(self) -> str:
        """The period's name in the outbox and in file names: its last day, `2026-12-06`."""
        return self.end.astimezone(self.zone).date().isoformat()


@dataclass(frozen=True, slots=True)
class PreviousPeriod:
    """Where the previous report's period ended (`end`) and when it was due (`due`)."""

    # For a report built before periods, `end` is its ISO week's end and `due` the report time
    # it was sent at; for any other, both are its period's end.

    end: datetime
    due: datetime


def report_time_after(moment: datetime, settings: ReportSettings, zone: tzinfo) -> datetime:
    """The first report day and time strictly after `moment`, in `zone`."""
    local = moment.astimezone(zone)
    ahead = (WEEKDAYS.index(settings.day) - local.weekday()) % PERIOD_DAYS
    day = local.date() + timedelta(days=ahead)
    when = datetime.combine(day, settings.time, zone)
    while when <= moment:
        day += timedelta(days=PERIOD_DAYS)
        when = datetime.combine(day, settings.time, zone)
    return when


def seven_days_before(end: datetime, zone: tzinfo) -> datetime:
    """The same wall-clock time seven days earlier, in `zone` (so DST does not shift it)."""
    local = end.astimezone(zone)
    return datetime.combine(local.date() - timedelta(days=PERIOD_DAYS), local.time(), zone)


def first_period(since: datetime, settings: ReportSettings, zone: tzinfo) -> ReportPeriod:
    """The seven days ending at the first report time after `since` (the partner's confirmation)."""
    end = report_time_after(since, settings, zone)
    return ReportPeriod(seven_days_before(end, zone), end, zone)


def period_after(previous: PreviousPeriod, settings: ReportSettings, zone: tzinfo) -> ReportPeriod:
    """The period from where `previous` ended to the first report time a day after it was due."""
    end = report_time_after(previous.due + SHORTEST, settings, zone)
    return ReportPeriod(previous.end, end, zone)


def next_period(
    settings: ReportSettings,
    zone: tzinfo,
    *,
    since: datetime,
    previous: PreviousPeriod | None,
) -> ReportPeriod:
    """The next report's period: after the previous one's, or the first one after `since`."""
    # A confirmation after the previous report was due (a new partner) starts afresh.
    if previous is None or since > previous.due:
        return first_period(since, settings, zone)
    return period_after(previous, settings, zone)


def next_due(
    settings: ReportSettings,
    *,
    since: datetime,
    previous: PreviousPeriod | None = None,
    zone: tzinfo | None = None,
) -> datetime:
    """When the next report is due (or was, if it has not gone yet), for `candor partner`."""
    zone = zone or settings.zone()
    return next_period(settings, zone, since=since, previous=previous).end


def week_monday(week: str) -> date:
    """The Monday an ISO week name (`2026-W48`) starts on; ValueError if it is not one."""
    year, _, number = week.partition("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def week_bounds(week: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of an ISO week in `zone`: what a report built before periods covered."""
    monday = week_monday(week)
    start = datetime.combine(monday, time(0), zone)
    end = datetime.combine(monday + timedelta(days=PERIOD_DAYS), time(0), zone)
    return start, end


def period_ending_in_week(week: str, settings: ReportSettings, zone: tzinfo) -> ReportPeriod:
    """The seven days ending at the report day and time that falls in ISO week `week`."""
    day = week_monday(week) + timedelta(days=WEEKDAYS.index(settings.day))
    end = datetime.combine(day, settings.time, zone)
    return ReportPeriod(seven_days_before(end, zone), end, zone)


def period_ending_on(day: date, settings: ReportSettings, zone: tzinfo) -> ReportPeriod:
    """The seven days ending at the report time on `day`."""
    end = datetime.combine(day, settings.time, zone)
    return ReportPeriod(seven_days_before(end, zone), end, zone)


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
