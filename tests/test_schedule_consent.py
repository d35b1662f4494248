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


def test_a_week_is_due_at_the_first_report_time_after_it_ends() -> None:
    assert schedule.due_at("2026-W48", SUNDAY_18) == datetime(2026, 12, 6, 18, 0, tzinfo=LONDON)
    monday = ReportSettings(day="monday", time="09:30", timezone="Europe/London")
    assert schedule.due_at("2026-W48", monday) == datetime(2026, 11, 30, 9, 30, tzinfo=LONDON)
    assert schedule.due_at("2026-W53", monday).date().isoformat() == "2027-01-04"


def test_week_bounds_follow_wall_clock_midnight_across_dst() -> None:
    start, end = schedule.week_bounds("2026-W13", LONDON)  # clocks go forward on 29 March
    assert (start.hour, end.hour) == (0, 0)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=-1)
    assert schedule.week_of(datetime(2026, 3, 29, 23, 30, tzinfo=UTC), LONDON) == "2026-W14"


def test_due_weeks_catch_up_in_order_and_skip_what_was_built() -> None:
    since = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday in W48
    now = datetime(2026, 12, 20, 18, 1, tzinfo=LONDON)
    due = schedule.due_weeks(now, SUNDAY_18, since=since, done=set())
    assert [d.week for d in due] == ["2026-W48", "2026-W49", "2026-W50"]
    assert schedule.due_weeks(now, SUNDAY_18, since=since, done={"2026-W48"})[0].week == (
        "2026-W49"
    )
    before = datetime(2026, 12, 6, 17, 59, tzinfo=LONDON)
    assert schedule.due_weeks(before, SUNDAY_18, since=since, done=set()) == []
    assert schedule.next_due(before, SUNDAY_18, since=since) == datetime(
        2026, 12, 6, 18, tzinfo=LONDON
    )


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
