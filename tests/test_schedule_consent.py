"""Schedule arithmetic, consent replay, backoff, invitation codes and webhook signatures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import Config, Home, ReportSettings
from agent.journal import Journal, clock
from reporter import consent, invitation, schedule
from reporter.delivery import webhook
from reporter.delivery.sender import Backoff
from tests.harness import ClockControl

LONDON = ZoneInfo("Europe/London")
SUNDAY_18 = ReportSettings(day="sunday", time="18:00", timezone="Europe/London")


def test_a_period_is_the_seven_days_ending_at_the_report_time() -> None:
    wednesday = datetime(2026, 12, 2, 12, tzinfo=UTC)
    first = schedule.first_period(wednesday, SUNDAY_18, LONDON)
    assert first.end == datetime(2026, 12, 6, 18, 0, tzinfo=LONDON)
    assert first.start == datetime(2026, 11, 29, 18, 0, tzinfo=LONDON)
    monday = ReportSettings(day="monday", time="09:30", timezone="Europe/London")
    assert schedule.first_period(wednesday, monday, LONDON).end == datetime(
        2026, 12, 7, 9, 30, tzinfo=LONDON
    )
    # exactly at the report time: that report is already due, so the next one
    at_six = datetime(2026, 12, 6, 18, 0, tzinfo=LONDON)
    assert schedule.report_time_after(at_six, SUNDAY_18, LONDON) == at_six + timedelta(days=7)
    assert schedule.period_ending_in_week("2026-W53", monday, LONDON).end.date().isoformat() == (
        "2026-12-28"
    )


def test_periods_follow_wall_clock_time_across_dst() -> None:
    spring = schedule.first_period(datetime(2026, 3, 25, tzinfo=UTC), SUNDAY_18, LONDON)
    assert (spring.start.hour, spring.end.hour) == (18, 18)  # clocks go forward on 29 March
    assert spring.end.astimezone(UTC) - spring.start.astimezone(UTC) == timedelta(days=7, hours=-1)
    start, end = schedule.week_bounds("2026-W13", LONDON)  # what older reports covered
    assert (start.hour, end.hour) == (0, 0)


def test_periods_chain_end_to_start_and_catch_up_in_order() -> None:
    since = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
    now = datetime(2026, 12, 20, 18, 1, tzinfo=LONDON)
    ends, previous = [], None
    while (
        period := schedule.next_period(SUNDAY_18, LONDON, since=since, previous=previous)
    ).end <= now:
        assert previous is None or period.start == previous.end
        ends.append(period.id)
        previous = schedule.PreviousPeriod(period.end, period.end)
    assert ends == ["2026-11-29", "2026-12-06", "2026-12-13", "2026-12-20"]
    before = datetime(2026, 11, 29, 17, 59, tzinfo=LONDON)
    assert schedule.next_due(SUNDAY_18, since=since) == datetime(2026, 11, 29, 18, tzinfo=LONDON)
    assert schedule.first_period(since, SUNDAY_18, LONDON).end > before


def test_a_changed_report_day_or_zone_makes_one_period_longer_never_a_gap() -> None:
    end = datetime(2026, 12, 6, 18, tzinfo=LONDON)
    previous = schedule.PreviousPeriod(end, end)
    since = end - timedelta(days=30)
    monday = ReportSettings(day="monday", time="18:00", timezone="Europe/London")
    longer = schedule.next_period(monday, LONDON, since=since, previous=previous)
    assert longer.start == end and longer.end - end == timedelta(days=8)
    tokyo = ZoneInfo("Asia/Tokyo")
    shorter = schedule.next_period(SUNDAY_18, tokyo, since=since, previous=previous)
    assert shorter.start == end and shorter.end - end == timedelta(days=6, hours=15)
    # an older report (ISO week, sent at its due time): the next period starts where that
    # week ended and ends at the next report time after it was due
    old_end, old_due = schedule.week_bounds("2026-W48", LONDON)[1], end
    after_old = schedule.next_period(
        SUNDAY_18, LONDON, since=since, previous=schedule.PreviousPeriod(old_end, old_due)
    )
    assert after_old.start == old_end and after_old.end == end + timedelta(days=7)


def test_late_reason_reads_the_heartbeats(tmp_path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        due = datetime(2026, 12, 6, 18, tzinfo=UTC)
        assert schedule.late_reason(journal, due, due + timedelta(minutes=5)) is None
        assert "not running" in schedule.late_reason(journal, due, due + timedelta(days=1))
        journal.append_raw("heartbeat", {"boot_id": "a"}, due - timedelta(hours=2))
        journal.append_raw("heartbeat", {"boot_id": "a"}, due + timedelta(hours=20))
        reason = schedule.late_reason(journal, due, due + timedelta(hours=21))
        assert reason.startswith("Sent 21 hours late: the computer was asleep")
        journal.append_raw("heartbeat", {"boot_id": "b"}, due + timedelta(hours=30))


def _events(journal: Journal, *changes: tuple[str, dict]) -> consent.ConsentState:
    for change, extra in changes:
        consent.record(journal, change, **extra)  # type: ignore[arg-type]
    return consent.consent_state(journal)


def test_consent_replay(tmp_path) -> None:
    sam = {"name": "Sam", "email": "sam@example.org"}
    config = Config.model_validate({"partner": sam, "detail_level": "detailed"})
    with Journal(tmp_path / "j.sqlite") as journal:
        state = consent.consent_state(journal)
        assert state.status == "none" and not consent.may_report(state, config)
        state = _events(journal, ("given", {**sam, "level": "detailed"}))
        assert state.status == "given" and not consent.may_report(state, config)
        # a confirmation for someone else does not count
        state = _events(
            journal, ("confirmed", {"name": "X", "email": "x@example.org", "level": "detailed"})
        )
        assert state.status == "given"
        state = _events(journal, ("confirmed", {**sam, "level": "detailed"}))
        assert consent.may_report(state, config)
        assert not consent.may_report(
            state,
            config.model_copy(
                update={"partner": config.partner.model_copy(update={"email": "other@example.org"})}
            ),
        )
        # the config can lower the level at once, never raise it
        lower = config.model_copy(update={"detail_level": "summary"})
        assert consent.effective_level(state, lower) == "summary"
        state = _events(journal, ("lowered", {**sam, "level": "domains"}))
        assert consent.effective_level(state, config) == "domains"
        state = _events(journal, ("revoked", {**sam, "level": "domains"}))
        assert state.status == "revoked" and not consent.may_report(state, config)
        state = _events(journal, ("confirmed", {**sam, "level": "domains"}))
        assert state.status == "revoked", "a revoked consent needs a new one, not a code"


def test_renewal_is_due_after_90_days(tmp_path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        consent.record(journal, "given", name="Sam", email="sam@example.org", level="summary")
        state = consent.consent_state(journal)
        assert state.renewed_at is not None
        assert not state.renewal_due(state.renewed_at + timedelta(days=89))
        assert state.renewal_due(state.renewed_at + timedelta(days=90))


def test_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    plain = Backoff(base=60, cap=3600, jitter=False)
    assert [plain.delay(n) for n in range(8)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    jittered = Backoff(base=60, cap=3600)
    rng = random.Random(4)
    for attempts in range(12):
        span = plain.delay(attempts)
        assert span / 2 <= jittered.delay(attempts, rng) <= span


def test_invitation_codes_are_short_readable_and_stored_hashed(tmp_path) -> None:
    home = Home.at(tmp_path / "home")
    code = invitation.new_code()
    assert len(code) == 8 and set(code) <= set(invitation.ALPHABET)
    assert not set("01ILO") & set(invitation.ALPHABET)
    now = datetime(2026, 11, 26, tzinfo=UTC)
    invitation.remember_code(home, "sam@example.org", code, now)
    stored = (home.state_dir / invitation.INVITATION_STATE).read_text()
    assert code not in stored
    assert invitation.code_matches(home, "SAM@example.org", invitation.show_code(code).lower())
    assert not invitation.code_matches(home, "other@example.org", code)
    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    assert not invitation.code_matches(home, "sam@example.org", wrong)


def test_webhook_signature_v1a_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    now = datetime(2026, 12, 6, 18, tzinfo=UTC)
    body = b'{"type":"candor.report.weekly"}'
    signature = webhook.sign(key, "report:2026-W48:1:webhook", int(now.timestamp()), body)
    assert signature.startswith("v1a,")
    headers = {
        "webhook-id": "report:2026-W48:1:webhook",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": "v1,bm90LXRoaXM= " + signature,
    }
    public = key.public_key()
    assert webhook.verify(public, headers, body, now=now)
    assert not webhook.verify(public, headers, body + b" ", now=now)
    assert not webhook.verify(public, headers, body, now=now + timedelta(minutes=6))
    assert webhook.public_key_text(public).startswith("whpk_")


def test_retry_after_accepts_seconds_and_dates() -> None:
    now = datetime(2026, 12, 6, 18, tzinfo=UTC)
    assert webhook.retry_after("120", now) == 120
    assert webhook.retry_after("Sun, 06 Dec 2026 18:05:00 GMT", now) == 300
    assert webhook.retry_after("soon", now) is None


def test_the_simulated_clock_starts_at_the_given_time_and_runs_at_its_speed(
    simulated_clock: ClockControl,
) -> None:
    simulated_clock.at("2026-12-06T18:00:00+00:00")
    assert clock.now() == datetime(2026, 12, 6, 18, tzinfo=UTC)
    simulated_clock.at("2026-12-06T18:00:00+00:00", speed=3600)
    assert clock.real_seconds(7200) == pytest.approx(2)
    simulated_clock.real()
    assert clock.is_real()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
