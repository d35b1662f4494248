"""The signed notices (uninstalled, reporting ended), against a real loopback mail server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import Home
from agent.journal import Journal, clock
from reporter import consent, signing
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import send_notice
from tests.conftest import candor
from tests.mail_server import MailServer
from tests.test_delivery import SAM, make_home

pytestmark = pytest.mark.usefixtures("simulated_clock")


def attachments(received) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True)
        for part in received.message.iter_attachments()
    }


def notice_events(home: Home, kind: str) -> list[dict]:
    with Journal(home.journal_file) as journal:
        return [e.body for e in journal.events(kinds=[kind]) if e.body.get("kind") == "notice"]


def test_uninstall_notice_arrives_signed_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    assert send_notice(home, "uninstalled") is True
    [received] = mail.sink.wait_for(1)
    assert received.rcpt_tos == [SAM["email"]]
    msg = received.message
    assert msg["X-Candor-Notice"] == "uninstalled"
    assert "being removed" in msg["Subject"]
    text = " ".join(msg.get_body(("plain",)).get_content().split())
    assert "no more weekly reports will come" in text and "candor verify" in text
    parts = attachments(received)
    [stem] = {name.split(".")[0] for name in parts}
    assert stem.startswith("candor-notice-uninstalled-")
    assert set(parts) == {
        f"{stem}.json",
        f"{stem}.signed.json",
        f"{stem}.signed.json.sig",
        f"{stem}.signed.json.sshsig",
    }
    document = json.loads(parts[f"{stem}.json"])
    assert document["schema"] == "candor-notice/1" and document["kind"] == "uninstalled"
    assert document["device"] == "laptop" and document["partner"] == SAM
    with Journal(home.journal_file) as journal:
        hashes = {e.seq: e.hash for e in journal.events()}
    head = document["chain_head"]
    assert hashes[head["seq"]] == head["hash"], "the notice names the journal as it was"
    assert document["signature"]["key"] == signing.fingerprint(home)
    signing.public_key(home).verify(parts[f"{stem}.signed.json.sig"], parts[f"{stem}.signed.json"])

    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, data in parts.items():
        (folder / name).write_bytes(data)
    pub = folder / "candor-signing-key.pub"
    pub.write_text(signing.public_key_openssh(home) + "\n")
    stranger = tmp_path / "stranger"  # the partner's side: no key of its own
    for name in (f"{stem}.json", f"{stem}.signed.json"):
        checked = candor(stranger, "verify", str(folder / name), "--key", str(pub))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "signature is good" in checked.stdout
    assert "SSH signature is good" in checked.stdout
    assert "Notice verified." in checked.stdout

    document["kind"] = "reporting_ended"
    (folder / f"{stem}.json").write_text(json.dumps(document))
    forged = candor(stranger, "verify", str(folder / f"{stem}.json"), "--key", str(pub))
    assert forged.returncode == 1 and "does not match" in forged.stdout

    [sent] = notice_events(home, "report_sent")
    assert sent["channel"] == "email" and sent["notice"] == "uninstalled"


def test_no_confirmed_partner_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail, confirmed=False)
    assert send_notice(home, "uninstalled") is False
    assert send_notice(home, "reporting_ended") is False
    assert mail.messages == [] and notice_events(home, "report_failed") == []


def test_after_revoking_only_the_ended_notice_may_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(journal, "revoked", level="summary", **SAM)
    assert send_notice(home, "uninstalled") is False
    assert send_notice(home, "reporting_ended") is True
    [received] = mail.sink.wait_for(1)
    assert "have ended" in received.message["Subject"]
    assert any(name.endswith(".signed.json.sshsig") for name in attachments(received))


def test_a_failed_notice_is_journaled_and_can_wait_in_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.stop()
    assert send_notice(home, "uninstalled") is False
    [failed] = notice_events(home, "report_failed")
    assert failed["channel"] == "email" and "Cannot reach the mail server" in failed["reason"]
    assert send_notice(home, "reporting_ended", queue_failed=True) is False
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        [queued] = outbox.rows("pending")
    assert queued.kind == "notice" and queued.channel == "email"
    assert b"candor-notice-reporting-ended-" in queued.payload


def test_uninstall_uses_this_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    from agent.cli.install import default_notifier

    home = make_home(tmp_path, monkeypatch, mail=mail)
    notify = default_notifier()
    assert notify is not None and notify(home) is True
    [received] = mail.sink.wait_for(1)
    assert received.message["X-Candor-Notice"] == "uninstalled"
