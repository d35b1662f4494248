"""Immediate alerts to the partner, against real loopback receivers (aiosmtpd, pytest-httpserver).

Time is the harness's simulated clock; this computer's clocks (boot id, time awake) are handed
to the sender through the Python API, or are the real ones in a child `candor report send-due`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from agent.config import Config, Home
from agent.journal import Journal, clock
from agent.journal.events import (
    AgentStop,
    BypassSuspected,
    Decision,
    Heartbeat,
    RulesChanged,
)
from agent.journal.partner import partner_id
from reporter import alert_settings, consent, invitation
from reporter.alert_settings import AlertSettings
from reporter.delivery import alert_queue, webhook
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import Sender
from tests.conftest import candor
from tests.mail_server import MailServer
from tests.report_helpers import run_together, send_due
from tests.test_delivery import SAM, W48_DUE, at, make_home, public_key
from tests.test_notice import attachments

pytestmark = pytest.mark.usefixtures("simulated_clock")

T = datetime.fromisoformat("2026-12-02T12:00:00+00:00")
BOOT = "11111111-2222-3333-4444-555555555555"


def turn_on(home: Home, **changes: object) -> None:
    """The person turns alerts on (what `candor alerts on` journals)."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        settings = AlertSettings(on=True, **changes)  # type: ignore[arg-type]
        journal.append(settings.as_body(partner_id(SAM["email"]), "on", by="test"))


def alerting_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, level: str = "summary", **options: object
) -> Home:
    """A home whose person chose alerts before the partner confirmed (so no "alerts on" note)."""
    settings = {k: options.pop(k) for k in ("triggers", "quiet", "zone") if k in options}
    home = make_home(tmp_path, monkeypatch, level=level, confirmed=False, **options)  # type: ignore[arg-type]
    turn_on(home, **settings)
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(journal, "given", level=level, person="Robin", **SAM)
        consent.record(journal, "confirmed", level=level, **SAM)
    return home


def blocked(home: Home, host: str, request: str = "navigation", **extra: object) -> None:
    with Journal(home.journal_file, clock=clock.now) as journal:
        journal.append(
            Decision(
                decision="block",
                category="gambling",
                action="block",
                rule=host,
                source="gambling.txt:1",
                host=host,
                request=request,
                **extra,  # type: ignore[arg-type]
            )
        )


def record(home: Home, event: object) -> None:
    with Journal(home.journal_file, clock=clock.now) as journal:
        journal.append(event)  # type: ignore[arg-type]


def awake(seconds: float, boot: str = BOOT, wall: float = 0.0):
    return lambda: Heartbeat(wall=wall, monotonic=seconds, boottime=seconds, boot_id=boot)


def run_pass(home: Home, clocks=None):
    with Sender(home, clocks=clocks or awake(100.0)) as sender:
        return sender.run_once()


def alert_rows(home: Home) -> list[dict]:
    with Journal(home.journal_file) as journal:
        return [e.body for e in journal.events(kinds=["alert_queued"])]


def text_of(received) -> str:
    return " ".join(received.message.get_body(("plain",)).get_content().split())


def test_off_by_default_and_a_hard_moment_sends_one_signed_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(T)
    for n in range(6):
        blocked(home, f"casino{n}.example")
    assert run_pass(home).alerts == [] and mail.messages == [], "alerts are off by default"

    home = alerting_home(tmp_path / "on", monkeypatch, mail=mail)
    at(T + timedelta(minutes=1))
    for n in range(4):  # four visits, plus what does not count: a page's image and a lookup
        blocked(home, f"poker{n}.example")
    blocked(home, "img.poker.example", request="subresource")
    blocked(home, "dns.poker.example", via="dns")
    assert run_pass(home).alerts == [], "four page visits are not yet a hard moment"
    at(T + timedelta(minutes=2))
    blocked(home, "poker9.example")
    assert len(run_pass(home).alerts) == 1
    assert run_pass(home).alerts == [], "the same moment is told once"
    [received] = mail.sink.wait_for(1)
    assert received.rcpt_tos == [SAM["email"]]
    assert received.message["Subject"] == "Candor: Robin had a hard few minutes"
    text = text_of(received)
    assert "in the last 15 minutes" in text and "A short message or call may help" in text
    assert "poker" not in text and "gambling" not in text, "summary names no category or site"
    assert "casino" not in text
    parts = attachments(received)
    [stem] = {name.split(".")[0] for name in parts}
    document = json.loads(parts[f"{stem}.json"])
    assert document["kind"] == "alert" and document["detail_level"] == "summary"
    assert document["items"] == [{"trigger": "hard_moment", "what": "blocked_visits", "count": 5}]
    for name, data in parts.items():
        (tmp_path / name).write_bytes(data)
    checked = candor(home.root, "verify", str(tmp_path / f"{stem}.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_triggers_within_the_window_make_one_message_on_the_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver
) -> None:
    seen: list[tuple[dict, bytes, datetime]] = []

    def handler(request: Request) -> Response:
        seen.append((dict(request.headers), request.get_data(), clock.now()))
        return Response("ok", status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    home = alerting_home(
        tmp_path, monkeypatch, webhook_url=httpserver.url_for("/hook"), level="domains"
    )
    at(T)
    record(
        home,
        RulesChanged(
            while_stopped=False,
            changes=[{"category": "gambling", "loosening": ["casino.example"], "tightening": []}],
        ),
    )
    assert len(run_pass(home).alerts) == 1
    at(T + timedelta(minutes=2))
    record(home, BypassSuspected(what="CA untrusted", source="self-check"))
    at(T + timedelta(minutes=5))
    for n in range(5):
        blocked(home, f"slots{n}.example")
    at(T + timedelta(minutes=6))
    assert run_pass(home).alerts == [], "within 15 minutes of the last alert: held"
    at(T + timedelta(minutes=15, seconds=1))
    assert len(run_pass(home).alerts) == 1
    run_pass(home)
    assert len(seen) == 2
    key = public_key(home)
    documents = []
    for headers, body, when in seen:
        assert webhook.verify(key, headers, body, now=when)
        payload = json.loads(body)
        assert payload["type"] == "candor.alert"
        documents.append(payload["data"]["document"])
    assert [i["what"] for i in documents[0]["items"]] == ["loosening"]
    assert documents[0]["items"][0]["categories"] == ["gambling"], "domains level names it"
    assert [i["what"] for i in documents[1]["items"]] == ["CA untrusted", "blocked_visits"]
    assert "slots0.example" in documents[1]["items"][1]["domains"]
    assert len(alert_rows(home)) == 2


def test_quiet_hours_hold_then_release_as_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, quiet="22:00-07:00", zone="UTC")
    night = datetime.fromisoformat("2026-12-02T23:00:00+00:00")
    at(night)
    record(home, BypassSuspected(what="proxy unset", source="self-check"))
    at(night + timedelta(hours=3))
    for n in range(5):
        blocked(home, f"late{n}.example")
    assert run_pass(home).alerts == []
    at(night + timedelta(hours=7, minutes=59))
    assert run_pass(home).alerts == [], "06:59: still quiet"
    assert mail.messages == []
    at(night + timedelta(hours=8, minutes=1))
    assert len(run_pass(home).alerts) == 1
    [received] = mail.sink.wait_for(1)
    text = text_of(received)
    assert "during your quiet hours" in text
    assert "hard few minutes" in text and "proxy setting" in text


def test_turning_alerts_off_takes_effect_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    turn_on(home)
    at(T)
    assert run_pass(home).alerts, "turning alerts on after confirmation tells the partner"
    [received] = mail.sink.wait_for(1)
    assert "turned on immediate alerts" in text_of(received)
    at(T + timedelta(minutes=1))
    done = candor(home.root, "alerts", "off")
    assert done.returncode == 0, done.stderr
    assert "next weekly report" in done.stdout
    for n in range(6):
        blocked(home, f"x{n}.example")
    at(T + timedelta(minutes=30))
    assert run_pass(home).alerts == []
    with Journal(home.journal_file) as journal:
        settings = alert_settings.settings_for(journal, partner_id(SAM["email"]))
        [off] = [e.body for e in journal.events(kinds=["alerts_chosen"])][1:]
    assert not settings.on and off["change"] == "off"


def test_alert_settings_compare_and_parse() -> None:
    base = AlertSettings(on=True)
    assert alert_settings.compare(AlertSettings(), base) == "on"
    assert alert_settings.compare(base, AlertSettings(on=True, triggers=("weakened",))) == (
        "narrowed"
    )
    assert alert_settings.compare(base, AlertSettings(on=True, hard_count=3)) == "widened"
    assert alert_settings.parse_hard("5/10m") == (5, 10)
    with pytest.raises(ValueError, match="COUNT/MINUTES"):
        alert_settings.parse_hard("five")
    quiet = AlertSettings(on=True, quiet="22:00-07:00", zone="Europe/Berlin")
    inside = datetime.fromisoformat("2026-12-02T22:30:00+00:00")  # 23:30 in Berlin
    assert alert_settings.quiet_until(quiet, inside) == datetime.fromisoformat(
        "2026-12-03T06:00:00+00:00"
    )
    assert alert_settings.quiet_until(quiet, inside - timedelta(hours=2)) is None


def test_a_stopped_agent_is_told_only_when_the_computer_was_awake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, triggers=("weakened",))
    at(T)
    record(home, Heartbeat(wall=1000.0, monotonic=500.0, boottime=500.0, boot_id=BOOT))
    assert run_pass(home).alerts == []
    at(T + timedelta(hours=2))
    slept = awake(500.0 + 9 * 60, wall=1000.0 + 7200)  # two hours later, nine minutes awake
    assert run_pass(home, slept).alerts == [], "asleep most of the time: no alert"
    at(T + timedelta(hours=2, minutes=20))
    assert len(run_pass(home, awake(500.0 + 11 * 60)).alerts) == 1
    assert run_pass(home, awake(500.0 + 30 * 60)).alerts == [], "one alert per stop"
    mail.sink.wait_for(1)
    assert "Candor stopped running while the computer was on" in text_of(mail.messages[-1])

    at(T + timedelta(hours=3))
    record(home, Heartbeat(wall=9000.0, monotonic=5000.0, boottime=5000.0, boot_id=BOOT))
    record(home, AgentStop(version="test", clean=True))
    at(T + timedelta(hours=4))
    rebooted = awake(5 * 60, boot="another-boot")
    assert run_pass(home, rebooted).alerts == [], "five minutes after a reboot"
    assert len(run_pass(home, awake(12 * 60, boot="another-boot")).alerts) == 1
    mail.sink.wait_for(2)
    assert "Candor was stopped and has not been started again" in text_of(mail.messages[-1])


def test_the_os_timer_command_tells_of_a_stale_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, triggers=("weakened",))
    at(T)
    real = Heartbeat.now()
    stale = Heartbeat(
        wall=time.time() - 700,
        monotonic=(real.monotonic or 0) - 700,
        boottime=(real.boottime or 0) - 700,
        boot_id=real.boot_id,
    )
    record(home, stale)  # the agent's last heartbeat, eleven minutes of this computer ago
    done = send_due(home)
    assert done.returncode == 0, done.stderr
    assert "Queued an immediate alert" in done.stdout
    received = mail.sink.wait_for(1)
    assert "Candor stopped running while the computer was on" in text_of(received[-1])
    assert len(alert_rows(home)) == 1
    assert "Queued" not in send_due(home).stdout, "told once"


def test_kill_9_between_queue_and_send_loses_nothing_and_sends_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, triggers=("weakened",))
    at(T)
    record(home, BypassSuspected(what="capture_removed", source="capture-guard"))
    killed = send_due(home, "before_send")
    assert killed.returncode == -9, killed.stderr
    assert mail.messages == []
    at(T + timedelta(minutes=7))  # the dead process's claim has run out
    done = send_due(home)
    assert done.returncode == 0, done.stderr
    [received] = mail.sink.wait_for(1)
    assert "system capture" in text_of(received)
    assert len(alert_rows(home)) == 1
    at(T + timedelta(minutes=30))
    assert send_due(home).returncode == 0
    time.sleep(0.2)
    assert len(mail.messages) == 1, "sent once"

    # a queued alert whose outbox rows are deleted is rebuilt from the journal, same bytes
    at(T + timedelta(hours=1))
    record(home, BypassSuspected(what="CA untrusted", source="self-check"))
    assert send_due(home, "before_send").returncode == -9
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        [pending] = outbox.rows("pending")
    with sqlite3.connect(home.journal_file) as conn:
        conn.execute("DELETE FROM outbox WHERE id = ?", (pending.id,))
    at(T + timedelta(hours=1, minutes=7))
    done = send_due(home)
    assert done.returncode == 0, done.stderr
    received = mail.sink.wait_for(2)
    assert len(received) == 2 and "certificate" in text_of(received[1])
    assert len(alert_rows(home)) == 2


def test_the_weekly_report_lists_the_alerts_and_says_when_they_were_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail)
    at(T)
    record(home, BypassSuspected(what="CA untrusted", source="self-check"))
    assert len(run_pass(home).alerts) == 1
    at(T + timedelta(hours=1))
    done = candor(home.root, "alerts", "off")
    assert done.returncode == 0, done.stderr
    at(W48_DUE + timedelta(minutes=1))
    result = run_pass(home)
    assert result.built == ["2026-12-06"]
    received = mail.sink.wait_for(2)
    report = received[-1]
    document = json.loads(attachments(report)["candor-report-2026-12-06.json"])
    part = document["alerts"]
    assert part["on"] is False and part["sent"] == 1 and part["kinds"] == {"weakened": 1}
    assert "times" not in part or part["times"] is None, "summary: no times"
    assert [c["change"] for c in part["changes"]] == ["on", "off"]
    text = report.message.get_body(("plain",)).get_content()
    assert "IMMEDIATE ALERTS" in text
    assert "1 immediate alert was sent this period (protection weakened: 1)" in " ".join(
        text.split()
    )
    assert "turned off (this took effect at once)" in " ".join(text.split())
    html = report.message.get_body(("html",)).get_content()
    assert "Immediate alerts" in html


def test_a_report_without_alerts_has_no_alerts_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(minutes=1))
    run_pass(home)
    [report] = mail.sink.wait_for(1)
    document = json.loads(attachments(report)["candor-report-2026-12-06.json"])
    assert "alerts" not in document


def test_alerts_preview_prints_the_exact_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail)
    at(T)
    shown = candor(home.root, "alerts", "preview")
    assert shown.returncode == 0, shown.stderr
    assert "Nothing is waiting" in shown.stdout and "hard few minutes" in shown.stdout
    for n in range(5):
        blocked(home, f"spin{n}.example")
    shown = candor(home.root, "alerts", "preview")
    assert "This alert would be sent now" in shown.stdout
    assert "Subject: Candor: Robin had a hard few minutes" in shown.stdout
    assert "spin0" not in shown.stdout
    assert run_pass(home).alerts, "previewing queued nothing; the pass does"
    [received] = mail.sink.wait_for(1)
    assert text_of(received).startswith(" ".join(shown.stdout.split("\n\n", 2)[-1].split())[:60])


def test_the_invitation_says_whether_alerts_are_on_and_what_they_name() -> None:
    config = Config.model_validate({"partner": SAM, "detail_level": "summary"})

    def words(alerts: str) -> str:
        return invitation.invitation(
            config,
            now=T,
            person="Robin",
            code="ABCD2345",
            fingerprint="SHA256:x",
            public_key="ssh-ed25519 AAAA",
            categories=["adult"],
            alerts=alerts,
        ).text

    on = " ".join(
        words(alert_settings.describe(AlertSettings(on=True, quiet="22:00-07:00"))).split()
    )
    assert "IMMEDIATE ALERTS" in on and "5 or more blocked pages within 10 minutes" in on
    assert 'beyond "in the last 15 minutes"' in on and "quiet hours 22:00-07:00" in on
    off = " ".join(words(alert_settings.describe(AlertSettings())).split())
    assert "Robin has not turned on immediate alerts" in off


def test_lowering_the_level_remakes_a_waiting_alert_at_the_lower_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, level="domains")
    mail.stop()
    at(T)
    for n in range(5):
        blocked(home, f"wheel{n}.example")
    result = run_pass(home)
    assert len(result.alerts) == 1 and result.failed, "queued; the mail server is down"
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(journal, "lowered", level="summary", **SAM)
    mail.start()
    at(T + timedelta(minutes=1))
    result = run_pass(home)
    assert len(result.alerts) == 1 and len(result.sent) == 1
    [received] = mail.sink.wait_for(1)
    text = text_of(received)
    assert "wheel" not in text and "gambling" not in text, "sent at the lower level"
    document = json.loads(attachments(received)[f"{received_stem(received)}.json"])
    assert document["detail_level"] == "summary" and "domains" not in document["items"][0]
    run_pass(home)
    time.sleep(0.2)
    assert len(mail.messages) == 1, "the higher-level copy never leaves"


def received_stem(received) -> str:
    [stem] = {name.split(".")[0] for name in attachments(received)}
    return stem


def test_time_awake_tells_sleep_and_reboots_apart() -> None:
    then = Heartbeat(wall=1000.0, monotonic=500.0, boottime=500.0, boot_id="a")
    slept = Heartbeat(wall=9000.0, monotonic=560.0, boottime=8500.0, boot_id="a")
    assert alert_queue.awake_between(then, slept) == timedelta(seconds=60)
    rebooted = Heartbeat(wall=9000.0, monotonic=700.0, boottime=700.0, boot_id="b")
    assert alert_queue.awake_between(then, rebooted) == timedelta(seconds=700)
    no_boot_id = Heartbeat(wall=1000.0, monotonic=5000.0)
    restarted = Heartbeat(wall=9000.0, monotonic=30.0)
    assert alert_queue.awake_between(no_boot_id, restarted) == timedelta(seconds=30)


def test_the_running_agent_sends_a_hard_moment_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    """The real agent: five blocked page visits through its proxy become one alert, sent by the
    agent's own sender (its clock runs fast, so its minute-long waits pass quickly)."""
    import httpx

    from tests.proxy_fixtures import start_agent

    home = alerting_home(tmp_path, monkeypatch, mail=mail)
    (home.root / "rules").mkdir(exist_ok=True)
    (home.root / "rules" / "gambling.txt").write_text(
        "".join(f"casino{n}.test\n" for n in range(5))
    )
    at(T, speed=100.0)
    agent = start_agent(home.root)
    try:
        with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
            for n in range(5):
                page = client.get(f"http://casino{n}.test/", headers={"Accept": "text/html"})
                assert page.status_code == 403
            client.get("http://casino0.test/pic.png", headers={"Accept": "image/png"})
        received = mail.sink.wait_for(1, timeout=30)
    finally:
        assert agent.stop() == 0
    assert len(received) == 1 and "hard few minutes" in text_of(received[0])
    assert "casino" not in text_of(received[0])
    [queued] = alert_rows(home)
    assert queued["items"] == [{"trigger": "hard_moment", "what": "blocked_visits", "count": 5}]


def test_the_agent_and_the_timer_at_the_same_moment_make_one_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, triggers=("weakened",))
    at(T)
    record(home, BypassSuspected(what="policy missing", source="self-check"))
    senders = [Sender(home, clocks=awake(100.0)) for _ in range(4)]
    run_together(senders)
    assert len(mail.messages) == 1
    assert len(alert_rows(home)) == 1


def test_changing_quiet_hours_keeps_what_is_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = alerting_home(tmp_path, monkeypatch, mail=mail, quiet="22:00-07:00", zone="UTC")
    at(datetime.fromisoformat("2026-12-02T23:00:00+00:00"))
    record(home, BypassSuspected(what="proxy unset", source="self-check"))
    assert run_pass(home).alerts == []
    done = candor(home.root, "alerts", "on", "--quiet", "23:30-07:00")
    assert done.returncode == 0, done.stderr
    at(datetime.fromisoformat("2026-12-03T07:05:00+00:00"))
    assert len(run_pass(home).alerts) == 1
    [received] = mail.sink.wait_for(1)
    text = text_of(received)
    assert "proxy setting" in text and "widened your immediate alerts" in text
