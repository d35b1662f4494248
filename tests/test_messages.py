"""The one composer, on every channel, with a device name that is not ASCII (`Zoë's laptop`).

Every message goes to the real loopback servers (aiosmtpd with STARTTLS and AUTH,
pytest-httpserver) and is parsed back: headers that must be ASCII are, the name reads the
same in every body, and each signed attachment or webhook still verifies.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from agent.cli.main import main
from agent.config import Home, load_config, save_config
from agent.journal import Journal, clock
from reporter import consent, signing
from reporter.delivery import messages, webhook
from reporter.delivery.sender import Sender, send_notice
from reporter.verify import verify
from tests.mail_server import MailServer, Received
from tests.test_delivery import SAM, W48_DUE, at, make_home

ZOE = "Zoë's laptop"


pytestmark = pytest.mark.usefixtures("simulated_clock")


def test_one_slug_ascii_only() -> None:
    assert messages.slug(ZOE) == "zo-s-laptop"
    assert messages.slug("Sam's  PC (home)") == "sam-s-pc-home"
    assert messages.slug("ünïcødé") == "n-c-d"
    assert messages.slug("日本語") == "device"
    assert messages.slug("x" * 60) == "x" * 40


class Hook:
    """What the webhook receiver got: headers and bodies, in order."""

    def __init__(self, httpserver) -> None:
        self.seen: list[tuple[dict[str, str], bytes]] = []
        httpserver.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.url = httpserver.url_for("/hook")

    def handle(self, request: Request) -> Response:
        self.seen.append((dict(request.headers), request.get_data()))
        return Response("ok", status=200)


def ascii_headers(received: Received) -> None:
    """Every header line of the message as sent is ASCII (non-ASCII words are encoded)."""
    head = received.data.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")
    assert received.message["Message-ID"].isascii()


def check_webhook(home: Home, headers: dict[str, str], body: bytes) -> dict:
    assert headers["Webhook-Id"].isascii()
    key = signing.public_key(home)
    assert webhook.verify(key, headers, body, now=clock.now())
    envelope = json.loads(body)
    assert set(envelope) == {"type", "timestamp", "data"}
    assert envelope["data"]["device"] == ZOE
    return envelope


def attachments(received: Received) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True)
        for part in received.message.iter_attachments()
    }


def check_signed_email(home: Home, received: Received) -> dict:
    """The signed document attached to a report or notice email verifies and names Zoë."""
    parts = attachments(received)
    [stem] = {name.split(".")[0] for name in parts}
    assert set(parts) == {
        f"{stem}.json",
        f"{stem}.signed.json",
        f"{stem}.signed.json.sig",
        f"{stem}.signed.json.sshsig",
    }
    signing.public_key(home).verify(parts[f"{stem}.signed.json.sig"], parts[f"{stem}.signed.json"])
    document = json.loads(parts[f"{stem}.json"])
    assert document["device"] == ZOE
    return document


def test_report_and_notices_on_every_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer, httpserver
) -> None:
    hook = Hook(httpserver)
    home = make_home(tmp_path, monkeypatch, mail=mail, webhook_url=hook.url, device=ZOE)
    at(W48_DUE + timedelta(minutes=1))
    with Sender(home) as sender:
        result = sender.run_once()
    assert result.built == ["2026-12-06"] and {r.channel for r in result.sent} == {
        "email",
        "webhook",
    }

    # the weekly report, by email and by webhook
    [report] = mail.sink.wait_for(1)
    ascii_headers(report)
    assert "zo-s-laptop" in report.message["Message-ID"]
    assert ZOE in report.message["Subject"]
    assert ZOE in report.message.get_body(("plain",)).get_content()
    assert check_signed_email(home, report)["seq"] == 1
    [(headers, body)] = hook.seen
    envelope = check_webhook(home, headers, body)
    assert envelope["type"] == "candor.report.weekly" and envelope["data"]["seq"] == 1

    # each notice, by email and by webhook
    assert send_notice(home, "uninstalled") is True
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(journal, "revoked", level="summary", **SAM)
    assert send_notice(home, "reporting_ended") is True
    received = mail.sink.wait_for(3)
    assert len(received) == 3 and len(hook.seen) == 3
    for kind, mail_copy, (headers, body) in zip(
        ("uninstalled", "reporting_ended"), received[1:], hook.seen[1:], strict=True
    ):
        ascii_headers(mail_copy)
        assert mail_copy.message["X-Candor-Notice"] == kind
        assert ZOE in mail_copy.message.get_body(("plain",)).get_content()
        assert check_signed_email(home, mail_copy)["kind"] == kind
        assert headers["Webhook-Id"].endswith("-zo-s-laptop:webhook")
        envelope = check_webhook(home, headers, body)
        assert envelope["type"] == f"candor.notice.{kind}"
        assert envelope["data"]["document"]["device"] == ZOE
    with Journal(home.journal_file) as journal:
        sent = [e.body for e in journal.events(kinds=["report_sent"])]
        failed = list(journal.events(kinds=["report_failed"]))
    notices = {(b["notice"], b["channel"]) for b in sent if b.get("kind") == "notice"}
    assert notices == {
        (kind, channel)
        for kind in ("uninstalled", "reporting_ended")
        for channel in ("email", "webhook")
    }
    assert failed == []


INIT = (
    "init", "--yes", "--your-name", "Zoë", "--partner-name", "Sam", "--partner-email",
    "sam@example.org", "--device-name", ZOE, "--report-day", "sunday", "--report-time", "18:00",
    "--categories", "adult",
)  # fmt: skip


def test_invitation_and_the_note_to_a_former_partner(
    home_dir: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    at("2026-11-25T12:00:00+00:00")
    monkeypatch.setattr("reporter.invitation.new_code", lambda: "ABCD2345")
    run = ["--home", str(home_dir)]
    Home.at(home_dir).ensure()
    assert main([*run, *INIT]) == 0
    home = Home.at(home_dir)
    config = load_config(home)
    config.delivery.smtp = config.delivery.smtp.model_validate(mail.smtp_settings())
    save_config(home, config)

    assert main([*run, "partner", "invite"]) == 0
    [invite] = mail.sink.wait_for(1)
    ascii_headers(invite)
    text = invite.message.get_body(("plain",)).get_content()
    assert f'"{ZOE}"' in " ".join(text.split()) and "ABCD-2345" in text
    parts = attachments(invite)
    assert parts["candor-signing-key.pub"].decode().strip() == signing.public_key_openssh(home)
    assert signing.parse_public_key(parts["candor-signing-key.pem"].decode()) == (
        signing.public_key(home)
    )

    assert main([*run, "partner", "confirm", "ABCD-2345"]) == 0
    ascii_headers(mail.sink.take_unlock_sheet())
    change = ("--partner-name", "Kim", "--partner-email", "kim@example.org", "--yes")
    assert main([*run, "partner", "change", *change]) == 0
    [_, note] = mail.sink.wait_for(2)
    ascii_headers(note)
    assert note.rcpt_tos == ["sam@example.org"]
    assert "zo-s-laptop" in note.message["Message-ID"]
    assert note.message["Subject"] == "You are no longer Zoë's Candor partner"
    assert f'"{ZOE}"' in " ".join(note.message.get_body(("plain",)).get_content().split())

    # the note is signed like every notice, and checks with the key the invitation carried
    document = check_signed_email(home, note)
    assert document["kind"] == "partner_changed"
    assert document["partner"] == {"name": "Sam", "email": "sam@example.org"}
    assert note.message["X-Candor-Notice"] == "partner_changed"
    folder = home_dir / "inbox"
    folder.mkdir()
    for name, data in attachments(note).items():
        (folder / name).write_bytes(data)
    [stem] = {name.split(".")[0] for name in attachments(note)}
    key = signing.parse_public_key(parts["candor-signing-key.pub"].decode())
    outcome = verify(folder / f"{stem}.json", key)
    assert outcome.ok and outcome.what == "notice", outcome.checks
