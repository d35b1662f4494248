"""Honest delivery (issue 11): a report is never silently late, missing, or unlinked.

Each test does what a determined person would (stop the mail server for two days, delete the
outbox's rows, uninstall without waiting, delete or alter the copy of the last report), with
real parts only (the loopback mail server, the real `candor` command on the simulated clock),
then reads what the partner receives.
"""

from __future__ import annotations

import email
import json
import sqlite3
import subprocess
from datetime import UTC, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from agent.config import Home
from agent.journal import Journal, canonical_json, clock
from agent.journal.partner import partner_id
from agent.journal.schema import MIGRATIONS, migrate
from reporter import consent, signing
from reporter.delivery import webhook
from reporter.delivery.loop import SenderLoop
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import PassResult
from reporter.document import document_hash
from reporter.signing import load_private_key
from tests.conftest import candor
from tests.mail_server import MailServer
from tests.test_delivery import SAM, W48_DUE, W49_DUE, at, make_home, sender
from tests.test_install_linux import install, root, uninstall  # noqa: F401 (`root`: a fixture)
from tests.test_report_trust import received_report, save_attachments, words


def send_due(home: Home) -> subprocess.CompletedProcess:
    """`candor report send-due`, the real command, on this test's simulated clock."""
    return candor(home.root, "report", "send-due", check=True)


def journal_bodies(home: Home, kind: str) -> list[dict[str, Any]]:
    with Journal(home.journal_file) as journal:
        return [e.body for e in journal.events(kinds=[kind])]


def delete_from_outbox(home: Home, where: str) -> int:
    """What a person with the file open in `sqlite3` would do: delete queued rows."""
    conn = sqlite3.connect(home.journal_file)
    with conn:
        deleted = conn.execute(f"DELETE FROM outbox WHERE {where}").rowcount
        conn.execute("DELETE FROM reports WHERE seq NOT IN (SELECT report_seq FROM outbox "
                     "WHERE report_seq IS NOT NULL)")  # fmt: skip
    conn.close()
    return deleted


# -- 1. late, and why, decided when it is sent ------------------------------------------------


@pytest.mark.usefixtures("simulated_clock")
def test_a_report_held_two_days_by_a_dead_mail_server_says_it_is_late_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.stop()
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        result = s.run_once()
        assert result.built == ["2026-12-06"] and result.sent == [] and result.failed
        at(W48_DUE + timedelta(hours=5))
        assert s.run_once().failed, "still down"
        [queued] = s.outbox.rows("pending")
    sent_at = W48_DUE + timedelta(days=2, minutes=3)
    at(sent_at)
    mail.start()
    send_due(home)

    [received] = mail.sink.wait_for(1)
    msg = received.message
    assert "(sent late)" in msg["Subject"]
    sent_date = parsedate_to_datetime(msg["Date"]).replace(tzinfo=UTC)  # "-0000": UTC
    assert sent_date == sent_at.replace(microsecond=0), "Date: when it was sent"
    assert msg["Message-ID"] == queued.message_id, "the same message, sent late"
    document, text, html, _ = received_report(received)
    said = words(text)
    assert "This report is late. Sent 2 days late: the mail server could not be reached" in said
    assert "Cannot reach the mail server" in said, "the recorded failure, as it was"
    assert "sent on time" not in said and "sent on time" not in html
    assert "the mail server could not be reached" in html
    assert document["integrity"]["late"] is False, "built on time: its signed part is unchanged"
    assert "This report was built on time." in said
    [sent] = journal_bodies(home, "report_sent")
    assert sent["late_seconds"] >= 2 * 86400 and sent["partner_id"] == partner_id(SAM["email"])


@pytest.mark.usefixtures("simulated_clock")
def test_a_webhook_report_held_two_days_says_in_its_envelope_that_it_is_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: Any
) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []
    up_at = W48_DUE + timedelta(days=2)

    def handler(request: Request) -> Response:
        seen.append((dict(request.headers), request.get_data()))
        return Response("ok") if clock.now() >= up_at else Response("busy", status=503)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    home = make_home(tmp_path, monkeypatch, webhook_url=httpserver.url_for("/hook"))
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().failed
        at(up_at + timedelta(minutes=1))
        assert len(s.run_once().sent) == 1
    first, last = (json.loads(body) for _, body in (seen[0], seen[-1]))
    assert first["data"]["delivery"]["late"] is False
    assert {h["Webhook-Id"] for h, _ in seen} == {"report:2026-12-06:1:webhook"}
    delivery = last["data"]["delivery"]
    assert delivery["late"] is True and delivery["sent_at"].startswith("2026-12-08T18:01")
    assert delivery["late_reason"].startswith("Sent 2 days late: the webhook did not accept it")
    assert "503" in delivery["late_reason"]
    assert webhook.verify(load_private_key(home).public_key(), seen[-1][0], seen[-1][1],
                          now=clock.now())  # fmt: skip


# -- 2. a deleted queued report is rebuilt from the journal -----------------------------------


@pytest.mark.usefixtures("simulated_clock")
def test_a_deleted_queued_report_is_rebuilt_with_its_number_and_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(minutes=1))
    send_due(home)
    [first] = mail.sink.wait_for(1)
    one, _, _, _ = received_report(first)
    mail.stop()
    at(W49_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == ["2026-12-13"]
    [lost] = [b for b in journal_bodies(home, "report_built") if b["seq"] == 2]
    assert lost["partner_id"] == partner_id(SAM["email"])
    assert delete_from_outbox(home, "report_seq = 2") == 1
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        assert [r.seq for r in outbox.reports()] == [1], "the week is gone from the outbox"

    mail.start()
    at(W49_DUE + timedelta(days=1))
    done = send_due(home)
    assert "Rebuilt report #2" in done.stdout

    received = mail.sink.wait_for(2)
    assert len(received) == 2
    document, text, _, _ = received_report(received[1])
    assert received[1].message["X-Candor-Report-Seq"] == "2"
    assert document["seq"] == 2 and document["prev_report_hash"] == document_hash(one)
    assert document["rows"]["after_seq"] == lost["after_seq"]
    assert document["rows"]["last_seq"] == lost["last_seq"]
    assert document["rebuilt"]["original_hash"] == lost["hash"]
    said = words(text)
    assert "queued copy was deleted and Candor rebuilt it" in said
    assert "the mail server could not be reached" in said, "and why it waited before that"
    assert "(sent late)" in received[1].message["Subject"]
    assert "It continues report #1." in said
    rebuilt = [b for b in journal_bodies(home, "report_built") if b.get("rebuilt")]
    assert [b["seq"] for b in rebuilt] == [2] and rebuilt[0]["hash"] == document_hash(document)
    assert rebuilt[0]["prev_hash"] == lost["prev_hash"]
    assert "Rebuilt" not in send_due(home).stdout, "rebuilt once"
    assert len(mail.messages) == 2


# -- 3. a deleted revoke notice is rebuilt and delivered --------------------------------------


@pytest.mark.usefixtures("simulated_clock")
@pytest.mark.parametrize("sender_pass", ["send-due", "agent"])
def test_a_deleted_revoke_notice_is_rebuilt_and_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer, sender_pass: str
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.stop()
    at(W48_DUE - timedelta(days=1))
    revoked = candor(home.root, "partner", "revoke", "--yes", check=True)
    assert "will be sent one short note" in revoked.stdout
    [queued] = journal_bodies(home, "notice_queued")
    assert queued["notice"] == "reporting_ended"
    assert delete_from_outbox(home, "kind = 'notice'") == 1

    mail.start()
    at(W48_DUE)
    if sender_pass == "send-due":
        assert "Rebuilt a reporting ended notice" in send_due(home).stdout
    else:  # the running agent's sender
        passes: list[PassResult] = []
        loop = SenderLoop(home, on_pass=passes.append)
        loop.start()
        try:
            mail.sink.wait_for(1, timeout=15)
        finally:
            loop.stop()
        assert loop.last_error is None
        assert passes[0].rebuilt == ["a reporting ended notice"]
    [received] = mail.sink.wait_for(1)
    msg = received.message
    assert msg["X-Candor-Notice"] == "reporting_ended"
    assert msg["Message-ID"].strip() == queued["message_id"], "the same notice, rebuilt"
    assert "rebuilt it from its journal" in words(msg.get_body(("plain",)).get_content())
    parts = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    [name] = [n for n in parts if n.endswith(".json") and ".signed." not in n]
    document = json.loads(parts[name])
    assert document["rebuilt"] is True and document["time"] == queued["time"]
    assert document["chain_head"] == queued["chain_head"]
    folder = tmp_path / "partner"
    folder.mkdir()
    for file, data in parts.items():
        (folder / file).write_bytes(data)
    pub = folder / "candor-signing-key.pub"
    pub.write_text(signing.public_key_openssh(home) + "\n")
    checked = candor(home.root, "verify", str(folder / name), "--key", str(pub))
    assert checked.returncode == 0, checked.stdout
    assert "Rebuilt" not in send_due(home).stdout, "sent once"


@pytest.mark.usefixtures("simulated_clock")
def test_a_deleted_note_to_a_former_partner_is_rebuilt_and_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    mail.stop()
    at(W48_DUE - timedelta(days=1))
    args = ("--partner-name", "Kim", "--partner-email", "kim@example.org", "--yes")
    changed = candor(home.root, "partner", "change", *args, check=True)
    assert "Sam will be told" in changed.stdout
    [queued] = journal_bodies(home, "notice_queued")
    assert queued["notice"] == "partner_changed" and queued["recipient"] == SAM["email"]
    assert delete_from_outbox(home, "kind = 'notice'") == 1

    mail.start()
    at(W48_DUE)
    send_due(home)
    [received] = mail.sink.wait_for(1)
    assert received.rcpt_tos == [SAM["email"]]
    assert received.message["Subject"].startswith("You are no longer ")
    assert received.message["Message-ID"].strip() == queued["message_id"]
    assert received.message["X-Candor-Notice"] == "partner_changed", "signed again"
    assert "rebuilt it from its journal" in words(
        received.message.get_body(("plain",)).get_content()
    )
    assert "Rebuilt" not in send_due(home).stdout, "sent once"


# -- 5. uninstall --without-notice still tells the partner, and how ----------------------------


def partner_home(home: Path, mail: MailServer) -> None:
    """A confirmed partner and the loopback mail server in an install's home."""
    settings = mail.smtp_settings()
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    with (home / "config.toml").open("a") as config:
        config.write('[partner]\nname = "Sam"\nemail = "sam@example.org"\n')
        config.write("[delivery.smtp]\n" + "\n".join(lines) + "\n")
    with Journal(Home.at(home).journal_file) as journal:
        for what in ("given", "confirmed"):
            consent.record(journal, what, level="summary", name="Sam", email="sam@example.org")


def installed_with_partner(
    request: pytest.FixtureRequest, tmp_path: Path, mail: MailServer
) -> tuple[Path, Path]:
    """A home with a confirmed partner, installed into a temporary system root (the `root`
    fixture of test_install_linux); returns the home and the root."""
    system = request.getfixturevalue("root")
    home = tmp_path / "candor-home"
    home.mkdir()
    partner_home(home, mail)
    assert install(home, system).returncode == 0
    return home, system


def test_uninstall_without_notice_still_sends_it_saying_they_did_not_wait(
    request: pytest.FixtureRequest, tmp_path: Path, mail: MailServer
) -> None:
    home, system = installed_with_partner(request, tmp_path, mail)
    gone = uninstall(home, system, "--without-notice")
    assert gone.returncode == 0, gone.stderr
    assert "chose not to wait" in gone.stdout
    [received] = mail.sink.wait_for(1)
    assert received.message["X-Candor-Notice"] == "uninstalled"
    text = words(received.message.get_body(("plain",)).get_content())
    assert "chose not to wait for this notice to be delivered" in text
    [queued] = journal_bodies(Home.at(home), "notice_queued")
    assert queued["waited"] is False
    with Journal(Home.at(home).journal_file) as journal, Outbox(journal) as outbox:
        assert [r.state for r in outbox.rows()] == ["sent"]


def test_uninstall_without_notice_queues_it_when_the_server_is_down(
    request: pytest.FixtureRequest, tmp_path: Path, mail: MailServer
) -> None:
    home, system = installed_with_partner(request, tmp_path, mail)
    mail.stop()
    gone = uninstall(home, system, "--without-notice")
    assert gone.returncode == 0, gone.stderr
    assert "could not be told now" in gone.stdout and "stays queued" in gone.stdout
    [failed] = journal_bodies(Home.at(home), "report_failed")
    assert failed["notice"] == "uninstalled", "it was tried"
    with Journal(Home.at(home).journal_file) as journal, Outbox(journal) as outbox:
        [row] = outbox.rows("pending")
    assert b"chose not to wait" in row.payload.replace(b"=\r\n", b"")


# -- 7. continuity: "continues report #N" only when it can be shown ----------------------------


def alter_stored_copy(home: Home, seq: int) -> None:
    """Change report `seq`'s kept copy (its JSON attachment) in place, as a person could."""
    conn = sqlite3.connect(home.journal_file)
    with conn:
        row_id, payload = conn.execute(
            "SELECT id, payload FROM outbox WHERE report_seq = ?", (seq,)
        ).fetchone()
        msg = email.message_from_bytes(payload, _class=EmailMessage, policy=SMTP)
        assert isinstance(msg, EmailMessage)
        for part in msg.iter_attachments():
            name = part.get_filename() or ""
            if name.endswith(".json") and ".signed." not in name:
                document = json.loads(part.get_payload(decode=True))
                document["device"] = "a quieter laptop"
                part.set_content(json.dumps(document).encode(), "application", "json",
                                 filename=name)  # fmt: skip
        conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (msg.as_bytes(), row_id))
    conn.close()


@pytest.mark.usefixtures("simulated_clock")
@pytest.mark.parametrize("bypass", ["deleted", "altered"])
def test_a_report_whose_previous_copy_is_gone_or_altered_cannot_show_it_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer, bypass: str
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=mail)
    at(W48_DUE + timedelta(minutes=1))
    send_due(home)
    [first] = mail.sink.wait_for(1)
    if bypass == "deleted":  # its queued copy and its row in `reports`
        assert delete_from_outbox(home, "report_seq = 1") == 1
        why = "its signed copy is no longer on this computer"
    else:
        alter_stored_copy(home, 1)
        why = "the copy kept on this computer does not match the hash the journal recorded"
    at(W49_DUE + timedelta(minutes=1))
    send_due(home)
    received = mail.sink.wait_for(2)
    document, text, html, parts = received_report(received[1])
    assert document["seq"] == 2, "the numbering goes on"
    said = words(text)
    assert f"Candor cannot show that this continues report #1: {why}." in said
    assert "It continues report #1." not in said
    assert document["continuity"]["shown"] is False
    assert document["continuity"]["previous"]["seq"] == 1
    assert "cannot show that this continues report #1" in words(html)

    one, _, _, one_parts = received_report(first)
    assert document["continuity"]["previous"]["hash"] == document_hash(one)
    # The partner's own proof still works from the copy in their mailbox.
    folder = tmp_path / "partner"
    previous = save_attachments(one_parts, folder / "earlier")
    report = save_attachments(parts, folder)
    assert previous.exists()
    pub = folder / "candor-signing-key.pub"
    pub.write_text(signing.public_key_openssh(home) + "\n")
    checked = candor(home.root, "verify", str(report), "--key", str(pub), "--previous",
                     str(folder / "earlier"))  # fmt: skip
    assert checked.returncode == 0, checked.stdout


# -- 6. report chains and outbox rows are keyed by partner -------------------------------------


def test_an_existing_home_gets_its_partner_id_when_the_journal_is_upgraded(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "journal.sqlite3", isolation_level=None)
    migrate(conn, MIGRATIONS[:3])  # the file as the Candor before this one left it
    given = canonical_json({"change": "given", "level": "summary", "partner": SAM}).decode()
    conn.execute(
        "INSERT INTO events VALUES (1, '2026-12-01T10:00:00.000000Z', 'consent_changed', ?, ?, ?)",
        (given, "0" * 64, "1" * 64),
    )
    conn.execute(
        "INSERT INTO reports VALUES (1, '2026-12-06', 'h1', NULL, 'summary', 0, NULL, "
        "'2026-12-06T18:00:00Z', '2026-12-06T18:01:00Z')"
    )
    conn.execute(
        "INSERT INTO outbox (id, kind, report_seq, channel, recipient, message_id, subject, "
        "payload, created_at, state, next_attempt_at) VALUES ('report:2026-12-06:1:email', "
        "'report', 1, 'email', 'sam@example.org', '<m>', 's', x'00', "
        "'2026-12-06T18:01:00Z', 'sent', '2026-12-06T18:01:00Z')"
    )
    assert migrate(conn) == 3
    expected = partner_id("Sam@Example.org")
    assert expected == partner_id(SAM["email"]) and expected.startswith("p-")
    assert conn.execute("SELECT partner_id FROM reports").fetchall() == [(expected,)]
    assert conn.execute("SELECT partner_id FROM outbox").fetchall() == [(expected,)]
    # A second partner can have their own report #1 for the same period: no migration needed.
    conn.execute(
        "INSERT INTO reports VALUES ('p-other', 1, '2026-12-06', 'h2', NULL, 'summary', 0, "
        "NULL, '2026-12-06T18:00:00Z', '2026-12-06T18:01:00Z')"
    )
    conn.close()
