"""Delivery against real loopback servers: aiosmtpd (STARTTLS + AUTH) and pytest-httpserver.

Time is the harness's simulated clock (tests/harness.py), so weeks pass in seconds.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from agent.config import Config, Home, load_config, save_config
from agent.journal import Journal, clock
from reporter import consent
from reporter.delivery import smtp, webhook
from reporter.delivery.loop import SenderLoop
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import PassResult, Sender, status_notes
from reporter.signing import load_private_key
from tests import harness
from tests.conftest import candor, require_tool
from tests.local_tsa import NOWHERE
from tests.mail_server import PASSWORD, PASSWORD_ENV, USER, MailServer
from tests.origins import free_port
from tests.report_helpers import run_together, send_due

pytestmark = pytest.mark.usefixtures("simulated_clock")

SAM = {"name": "Sam", "email": "sam@example.org"}
T0 = "2026-12-02T12:00:00Z"  # a Wednesday: the first report is due on Sunday 6 December
W48_DUE = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
"""The first report's due time: it covers Sunday 29 November 18:00 to 6 December 18:00."""
W49_DUE = W48_DUE + timedelta(days=7)


def at(moment: datetime | str, speed: float = 0) -> None:
    """This test's simulated clock reads `moment` (the `simulated_clock` fixture is on)."""
    harness.set_time(moment, speed)


def make_home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    mail: MailServer | None = None,
    webhook_url: str | None = None,
    level: str = "summary",
    confirmed: bool = True,
    device: str = "laptop",
) -> Home:
    home = Home.at(tmp_path / "home")
    home.ensure()
    delivery: dict = {}
    if mail is not None:
        delivery["smtp"] = mail.smtp_settings()
    if webhook_url:
        delivery["webhook"] = {"url": webhook_url}
    config = Config.model_validate(
        {
            "partner": SAM,
            "detail_level": level,
            "device": {"name": device},
            "report": {"day": "sunday", "time": "18:00", "timezone": "UTC"},
            "delivery": delivery,
            "anchors": {"authorities": [NOWHERE]},
        }
    )
    save_config(home, config)
    at(T0)
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(journal, "given", level=level, **SAM)
        if confirmed:
            consent.record(journal, "confirmed", level=level, **SAM)
    return home


def sender(home: Home) -> Sender:
    return Sender(home)


def public_key(home: Home):
    return load_private_key(home).public_key()


# -- email ----------------------------------------------------------------------------------


def test_ehlo_offers_auth_only_after_starttls(mail: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", mail.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        client.starttls(context=smtp.tls_context())
        client.ehlo()
        assert client.has_extn("auth")


def test_weekly_report_email(tmp_path, monkeypatch, mail: MailServer) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE - timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == []
        at(W48_DUE + timedelta(minutes=1))
        result = s.run_once()
        assert result.built == ["2026-12-06"] and len(result.sent) == 1
        assert s.run_once().sent == [], "a sent report is not sent again"
        row = s.outbox.rows("sent")[0]
    [received] = mail.sink.wait_for(1)
    assert received.rcpt_tos == ["sam@example.org"] and received.mail_from == USER
    msg = received.message
    assert msg["Message-ID"] == row.message_id
    assert msg["X-Candor-Report-Seq"] == "1" and msg["X-Candor-Period"] == "2026-12-06"
    assert "29 Nov 18:00 – 6 Dec 18:00" in msg["Subject"] and "laptop" in msg["Subject"]
    assert "all steady" in msg["Subject"] or "needs your attention" in msg["Subject"]
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None and html is not None
    parts = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    stem = "candor-report-2026-12-06"
    assert set(parts) == {
        f"{stem}.json",
        f"{stem}.signed.json",
        f"{stem}.signed.json.sig",
        f"{stem}.signed.json.sshsig",
    }
    document = json.loads(parts[f"{stem}.json"])
    assert document["seq"] == 1 and document["prev_report_hash"] is None
    signed = parts[f"{stem}.signed.json"]
    signed = signed if isinstance(signed, bytes) else signed.encode()
    public_key(home).verify(parts[f"{stem}.signed.json.sig"], signed)
    assert "BEGIN SSH SIGNATURE" in str(parts[f"{stem}.signed.json.sshsig"])
    check_with_openssl_and_ssh_keygen(home, tmp_path, parts, stem)
    with Journal(home.journal_file) as journal:
        [sent] = list(journal.events(kinds=["report_sent"]))
    assert sent.body["seq"] == 1 and sent.body["channel"] == "email"


def check_with_openssl_and_ssh_keygen(home: Home, folder: Path, parts: dict, stem: str) -> None:
    from reporter import signing

    for name, content in parts.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    signed = folder / f"{stem}.signed.json"
    (folder / "key.pem").write_text(signing.public_key_pem(home))
    openssl = subprocess.run(
        [
            require_tool("openssl"),
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            folder / "key.pem",
            "-rawin",
            "-in",
            signed,
            "-sigfile",
            folder / f"{stem}.signed.json.sig",
        ],
        capture_output=True,
        text=True,
    )
    assert openssl.returncode == 0, openssl.stdout + openssl.stderr
    allowed = folder / "allowed_signers"
    allowed.write_text(
        f'{signing.PRINCIPAL} namespaces="{signing.NAMESPACE}" {signing.public_key_openssh(home)}\n'
    )
    with signed.open("rb") as data:
        ssh = subprocess.run(
            [
                require_tool("ssh-keygen"),
                "-Y",
                "verify",
                "-f",
                allowed,
                "-I",
                signing.PRINCIPAL,
                "-n",
                signing.NAMESPACE,
                "-s",
                folder / f"{stem}.signed.json.sshsig",
            ],
            stdin=data,
            capture_output=True,
            text=True,
        )
    assert ssh.returncode == 0 and "Good" in ssh.stdout, ssh.stdout + ssh.stderr


def test_wrong_password_stops_and_is_surfaced(tmp_path, monkeypatch, mail: MailServer) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        result = s.run_once()
        [(_, reason, permanent)] = result.failed
        assert permanent and "refused the login" in reason
        at(W48_DUE + timedelta(days=1))
        assert s.run_once().failed == [], "a permanent failure is not retried on its own"
        assert any("stopped" in p for p in s.outbox.problems())
        assert any("stopped" in note for note in status_notes(home))
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        assert s.outbox.retry_failed() == 1
        assert len(s.run_once().sent) == 1
    assert len(mail.messages) == 1


def test_refused_recipient_is_permanent(tmp_path, monkeypatch, mail: MailServer) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.sink.refuse.add("sam@example.org")
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        [(_, reason, permanent)] = s.run_once().failed
    assert permanent and "sam@example.org" in reason


# -- consent --------------------------------------------------------------------------------


def test_nothing_is_sent_before_confirmation_or_after_revocation(
    tmp_path, monkeypatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail, confirmed=False)
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        result = s.run_once()
        assert result.built == [] and result.sent == []
        assert s.outbox.reports() == []
        at(W48_DUE + timedelta(minutes=2))  # Sunday, just after the report time
        consent.record(s.journal, "confirmed", level="summary", **SAM)
        # the first report covers the seven days ending at the next report time, a week later
        at(W49_DUE + timedelta(minutes=1))
        assert s.run_once().built == ["2026-12-13"]
        assert len(mail.sink.wait_for(1)) == 1
        mail.stop()
        at(W49_DUE + timedelta(days=7, minutes=1))
        assert s.run_once().built == ["2026-12-20"]  # queued, the server being down
        consent.record(s.journal, "revoked", level="summary", **SAM)
        mail.start()
        at(W49_DUE + timedelta(days=21))
        result = s.run_once()
        assert result.built == [] and result.sent == []
        assert {r.state for r in s.outbox.rows() if r.report_seq == 2} == {"cancelled"}
    assert len(mail.messages) == 1


def test_a_revocation_between_queueing_and_sending_wins(
    tmp_path, monkeypatch, mail: MailServer
) -> None:
    """A pass reads consent once; `candor partner revoke` run by another process after the
    report was queued, before it is sent, still stops it: revoking cancels the pending report
    rows, and only a pending row can be claimed for sending."""
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        config = load_config(home)
        state = s.settle_consent(config)
        result = PassResult()
        assert s.enqueue_due(config, state, result) == ["2026-12-06"]
        revoked = candor(home.root, "partner", "revoke", "--yes")
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        assert state.status == "confirmed", "the pass still holds the consent it read"
        s.deliver(config, state, result)
        assert result.sent == [] and result.failed == []
        assert {r.state for r in s.outbox.rows() if r.kind == "report"} == {"cancelled"}
    received = mail.sink.wait_for(1)
    assert [r.message["X-Candor-Notice"] for r in received] == ["reporting_ended"]
    assert not any(r.message["X-Candor-Report-Seq"] for r in received), "no report left"


def test_lowering_the_level_takes_effect_at_once(tmp_path, monkeypatch, mail: MailServer) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail, level="detailed")
    mail.stop()
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == ["2026-12-06"]
        assert s.outbox.reports()[0].detail_level == "detailed"
        # the person lowers the level by editing config.toml while the report waits
        config = load_config(home).model_copy(update={"detail_level": "summary"})
        save_config(home, config)
        mail.start()
        at(W48_DUE + timedelta(hours=1))
        result = s.run_once()
        assert result.built == ["2026-12-06"] and len(result.sent) == 1
        [report] = s.outbox.reports()
        assert report.detail_level == "summary" and report.seq == 1
        state = consent.consent_state(s.journal)
        assert state.level == "summary"
    [received] = mail.messages
    attachment = next(
        p
        for p in received.message.iter_attachments()
        if p.get_filename().endswith("2026-12-06.json")
    )
    assert json.loads(attachment.get_content())["detail_level"] == "summary"


# -- webhook --------------------------------------------------------------------------------


def test_webhook_retries_then_delivers_once_then_stops_on_401(
    tmp_path, monkeypatch, httpserver
) -> None:
    answers = [
        Response("busy", status=503, headers={"Retry-After": "120"}),
        Response("busy", status=503),
        Response("ok", status=200),
        Response("who are you", status=401),
    ]
    seen: list[tuple[dict, bytes, datetime]] = []

    def handler(request: Request) -> Response:
        seen.append((dict(request.headers), request.get_data(), clock.now()))
        return answers[min(len(seen), len(answers)) - 1]

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    home = make_home(tmp_path, monkeypatch, webhook_url=httpserver.url_for("/hook"))
    key = public_key(home)
    moment = W48_DUE + timedelta(minutes=1)
    at(moment)
    with sender(home) as s:
        first = s.run_once()
        assert first.built == ["2026-12-06"] and first.failed and not first.failed[0][2]
        assert first.next_attempt_at >= moment + timedelta(seconds=120), "Retry-After honoured"
        assert s.run_once().failed == [], "not retried before its time"
        for _ in range(5):
            moment += timedelta(hours=7)
            at(moment)
            s.run_once()
        assert len(seen) == 3, "503, 503, 200: delivered once"
        assert [r.state for r in s.outbox.rows()] == ["sent"]
        ids = {headers["Webhook-Id"] for headers, _, _ in seen}
        assert ids == {"report:2026-12-06:1:webhook"}
        for headers, body, when in seen:
            assert webhook.verify(key, headers, body, now=when)
            assert json.loads(body)["data"]["document"]["seq"] == 1
        # next week the receiver answers 401: stop, record, do not hammer
        at(W49_DUE + timedelta(minutes=1))
        result = s.run_once()
        assert result.failed and result.failed[0][2] is True
        at(W49_DUE + timedelta(days=2))
        s.run_once()
        assert len(seen) == 4
        failed = list(s.journal.events(kinds=["report_failed"]))
        assert [e.body["permanent"] for e in failed] == [False, False, True]
        assert s.outbox.problems()


# -- time passes ----------------------------------------------------------------------------


def test_smtp_down_for_a_week_then_up(tmp_path, monkeypatch, mail: MailServer) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.stop()
    speed = 200_000.0  # a week in about three seconds
    at(W48_DUE - timedelta(minutes=5), speed=speed)
    loop = SenderLoop(home)
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while clock.now() < W49_DUE + timedelta(hours=1):
            assert time.monotonic() < deadline, "the test clock did not advance"
            time.sleep(0.02)
        mail.start()
        received = mail.sink.wait_for(2, timeout=15)
    finally:
        loop.stop()
    assert loop.last_error is None
    assert [r.message["X-Candor-Period"] for r in received] == ["2026-12-06", "2026-12-13"]
    assert len({r.message["Message-ID"] for r in received}) == 2
    with Journal(home.journal_file) as journal:
        sent = {e.body["seq"]: e.body for e in journal.events(kinds=["report_sent"])}
        failures = list(journal.events(kinds=["report_failed"]))
    assert sent[1]["late_seconds"] > 6 * 86400, "the first report arrived a week late"
    assert failures and not any(f.body["permanent"] for f in failures)


def test_asleep_on_report_day_sends_late_and_says_why(
    tmp_path, monkeypatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    with Journal(home.journal_file, clock=clock.now) as journal:
        boot = {"boot_id": "one"}
        journal.append_raw("heartbeat", boot, W48_DUE - timedelta(hours=3))
        journal.append_raw("heartbeat", boot, W49_DUE + timedelta(days=2))
    at(W49_DUE + timedelta(days=2, minutes=1))
    with sender(home) as s:
        result = s.run_once()
        reports = s.outbox.reports()
    assert result.built == ["2026-12-06", "2026-12-13"]
    assert [r.seq for r in reports] == [1, 2] and reports[1].prev_hash == reports[0].hash
    assert all("asleep" in (r.late_reason or "") for r in reports)
    received = mail.sink.wait_for(2)
    assert [r.message["X-Candor-Period"] for r in received] == ["2026-12-06", "2026-12-13"]
    assert "(sent late)" in received[0].message["Subject"]


# -- kill -9 --------------------------------------------------------------------------------


def counts(done: subprocess.CompletedProcess) -> tuple[int, int]:
    """(reports built, reports sent) as `report send-due` told them."""
    lines = done.stdout.splitlines()
    built = sum(line.startswith("Built the report") for line in lines)
    return built, sum(" sent by " in line for line in lines)


def test_kill_9_loses_nothing_and_resends_with_the_same_message_id(
    tmp_path, monkeypatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(minutes=1))

    killed = send_due(home, "before_send")
    assert killed.returncode == -9, killed.stderr
    assert mail.messages == []
    assert counts(send_due(home)) == (0, 0), "claimed by the dead process for now"
    at(W48_DUE + timedelta(minutes=7))  # its claim (5 minutes) has run out
    done = send_due(home)
    assert counts(done) == (0, 1), done.stderr  # built before the crash; sent now
    assert len(mail.sink.wait_for(1)) == 1

    at(W49_DUE + timedelta(minutes=1))
    killed = send_due(home, "after_send_before_mark")
    assert killed.returncode == -9
    assert len(mail.sink.wait_for(2)) == 2
    at(W49_DUE + timedelta(minutes=7))
    assert counts(send_due(home)) == (0, 1)
    received = mail.sink.wait_for(3)
    assert len(received) == 3
    assert received[1].message["Message-ID"] == received[2].message["Message-ID"]
    # the very same bytes, but for the Date header: it is the time of each attempt (issue 11)
    first, again = (re.sub(rb"\r\nDate: [^\r]*", b"", r.data) for r in received[1:3])
    assert first == again, "the very same bytes"
    assert received[1].message["Date"] != received[2].message["Date"]

    at(W49_DUE + timedelta(days=7, minutes=1))
    assert send_due(home, "after_build_before_enqueue").returncode == -9
    assert counts(send_due(home)) == (1, 1)
    received = mail.sink.wait_for(4)
    assert [r.message["X-Candor-Report-Seq"] for r in received] == ["1", "2", "2", "3"]
    with Journal(home.journal_file) as journal:
        outbox = Outbox(journal)
        assert [r.seq for r in outbox.reports()] == [1, 2, 3]
        assert {r.state for r in outbox.rows()} == {"sent"}
        outbox.close()


def test_agent_and_os_timer_at_the_same_moment_send_once(
    tmp_path, monkeypatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(seconds=1))
    senders = [sender(home) for _ in range(4)]
    run_together(senders)
    assert len(mail.messages) == 1
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        assert [r.period for r in outbox.reports()] == ["2026-12-06"]


def test_implicit_tls_and_where_the_password_comes_from(tmp_path, monkeypatch) -> None:
    server = MailServer(tmp_path, implicit_tls=True)
    server.start()
    monkeypatch.setenv(smtp.CA_FILE_ENV, str(server.cert))
    try:
        secret = tmp_path / "password"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o644)
        settings = Config.model_validate(
            {"delivery": {"smtp": {**server.smtp_settings(), "password_source": f"file:{secret}"}}}
        ).delivery.smtp
        message = smtp.new_message(
            sender=USER,
            to="sam@example.org",
            subject="hello",
            message_id="<t@candor.invalid>",
            text="hi",
        )
        with pytest.raises(smtp.DeliveryError, match="chmod 600") as refused:
            smtp.send(settings, message.as_bytes(), ["sam@example.org"])
        assert refused.value.permanent
        secret.chmod(0o600)
        smtp.send(settings, message.as_bytes(), ["sam@example.org"])
        assert server.sink.wait_for(1)[0].message["Subject"] == "hello"
        missing = settings.model_copy(update={"password_source": "env:CANDOR_NOT_SET_ANYWHERE"})
        with pytest.raises(smtp.DeliveryError, match="CANDOR_NOT_SET_ANYWHERE"):
            smtp.send(missing, message.as_bytes(), ["sam@example.org"])
        down = settings.model_copy(update={"port": free_port()})
        with pytest.raises(smtp.DeliveryError) as unreachable:
            smtp.send(down, message.as_bytes(), ["sam@example.org"])
        assert not unreachable.value.permanent
    finally:
        server.stop()


def test_keyring_source_explains_itself(tmp_path) -> None:
    settings = Config.model_validate(
        {
            "delivery": {
                "smtp": {
                    "host": "127.0.0.1",
                    "username": USER,
                    "sender": USER,
                    "password_source": "keyring",
                }
            }
        }
    ).delivery.smtp
    try:
        import keyring  # noqa: F401
    except ImportError:
        with pytest.raises(smtp.DeliveryError, match="keyring package is not installed"):
            smtp.read_password(settings)
    else:
        with pytest.raises(smtp.DeliveryError):
            smtp.read_password(settings)
