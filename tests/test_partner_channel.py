"""The partner's channel is a consent fact (issue 11, finding 4): a hand edit of config.toml does
not redirect reports; `candor partner change` does, and tells the former channel.

Real parts: the `candor` command, aiosmtpd mail servers on loopback (STARTTLS + AUTH), the
pytest-httpserver receiver, and the simulated clock of tests/harness.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from werkzeug import Request, Response

from agent.config import Home, load_config, save_config
from agent.journal import Journal
from reporter import consent
from tests import harness
from tests.conftest import candor
from tests.local_tsa import NOWHERE
from tests.mail_server import PASSWORD, MailServer
from tests.proxy_fixtures import start_agent
from tests.test_partner_cli import INIT, NOW, code_from, in_process, ok, state, use_mail

pytestmark = pytest.mark.usefixtures("simulated_clock")

FRIDAY = NOW.replace(day=27)
"""Before the first report is due: a pass then journals a hand edit for that report."""
DUE = NOW.replace(day=29, hour=18, minute=5)
"""Just after the first report's due time (Sunday 29 November 18:00 UTC)."""
STEM = "candor-report-2026-11-29"


@pytest.fixture
def mail(mail: MailServer, simulated_clock: harness.ClockControl) -> MailServer:
    """The shared mail server, with the clock stopped at NOW."""
    simulated_clock.at(NOW)
    return mail


@pytest.fixture
def other_mail(mail: MailServer, tmp_path: Path) -> MailServer:
    """A second mail server with the first one's certificate (so Candor trusts it too): where
    a hand edit would send reports."""
    (tmp_path / "other").mkdir()
    server = MailServer(tmp_path / "other")
    server.cert, server.key = mail.cert, mail.key
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hooks(httpserver) -> dict[str, list[dict]]:
    """Two webhook receivers on one loopback server: the confirmed `/hook` and `/other`."""
    seen: dict[str, list] = {"/hook": [], "/other": [], "refuse": []}

    def handler(request: Request) -> Response:
        if request.path in seen["refuse"]:  # down this once
            seen["refuse"].remove(request.path)
            return Response("down", status=503)
        seen[request.path].append(json.loads(request.get_data()))
        return Response("ok", status=200)

    for path in ("/hook", "/other"):
        httpserver.expect_request(path, method="POST").respond_with_handler(handler)
    seen["url"] = [{"hook": httpserver.url_for("/hook"), "other": httpserver.url_for("/other")}]
    return seen


def confirmed(
    home: Path, mail: MailServer, webhook_url: str | None = None, hooks: dict | None = None
) -> None:
    """`candor init`, invite, confirm: the partner confirmed the channel in config.toml. The
    sheet of unlock codes the confirmation sends is taken out of the mail and the hooks
    (tests/test_unlock_codes.py reads it)."""
    Home.at(home).ensure()
    in_process(home, *INIT)
    use_mail(home, mail)
    edit(home, lambda c: setattr(c.anchors, "authorities", [NOWHERE]))
    if webhook_url:
        edit(home, lambda c: setattr(c.delivery.webhook, "url", webhook_url))
    in_process(home, "partner", "invite")
    invite = mail.sink.wait_for(1)[-1]
    in_process(
        home, "partner", "confirm", code_from(invite.message.get_body(("plain",)).get_content())
    )
    mail.sink.take_unlock_sheet()
    if hooks is not None:
        without_sheets(hooks)


def without_sheets(hooks: dict) -> None:
    """Take the sheets of unlock codes out of what the webhook receivers got."""
    for path in ("/hook", "/other"):
        hooks[path][:] = [b for b in hooks[path] if b["type"] != "candor.unlock.sheet"]


def edit(home: Path, change) -> None:
    """Change config.toml by hand (as a text editor would: no command involved)."""
    h = Home.at(home)
    config = load_config(h)
    change(config)
    save_config(h, config)


def rows(home: Path, kind: str) -> list[dict]:
    with Journal(Home.at(home).journal_file) as journal:
        return [e.body for e in journal.events(kinds=[kind])]


def edited_rows(home: Path) -> list[dict]:
    return [b for b in rows(home, "bypass_suspected") if b["what"] == "channel_edited"]


def report_parts(message: EmailMessage) -> tuple[dict, str]:
    """A report email's JSON document and its text (line wrapping undone)."""
    parts = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    text = " ".join(message.get_body(("plain",)).get_content().split())
    return json.loads(parts[f"{STEM}.json"]), text


def edit_then_report(home: Path, change) -> None:
    """Edit config.toml by hand, let a pass see it before the due time, then the report is due."""
    edit(home, change)
    harness.set_time(FRIDAY)
    assert ok(home, "report", "send-due").strip() == "Nothing is due."
    harness.set_time(FRIDAY.replace(hour=13))
    ok(home, "report", "send-due")  # a second pass journals nothing new
    harness.set_time(DUE)
    ok(home, "report", "send-due")


def assert_reported(document: dict, text: str, words: str) -> None:
    """The report's JSON and text say the hand edit was ignored, and never blame the agent."""
    [found] = [b for b in document["integrity"]["bypass"] if b["what"] == "channel_edited"]
    assert words in found["detail"]
    assert "changed by hand in config.toml; Candor ignored it and kept sending" in text
    assert words in text
    assert "not running" not in text and document["integrity"]["late"] is False


def test_a_hand_edited_partner_address_is_ignored_and_reported(
    home_dir: Path, mail: MailServer
) -> None:
    confirmed(home_dir, mail)
    [journaled] = [b for b in rows(home_dir, "consent_changed") if b["change"] == "confirmed"]
    assert journaled["channel"]["email"] == "sam@example.org"
    assert journaled["channel"]["smtp"]["port"] == mail.port

    edit_then_report(home_dir, lambda c: setattr(c.partner, "email", "eve@example.org"))

    received = mail.sink.wait_for(2)
    assert [m.rcpt_tos for m in received] == [["sam@example.org"], ["sam@example.org"]]
    assert all("eve@example.org" not in m.rcpt_tos for m in mail.messages)
    document, text = report_parts(received[1].message)
    assert_reported(document, text, "the partner's address to eve@example.org")
    assert len(edited_rows(home_dir)) == 1, "journaled once"

    shown = json.loads(ok(home_dir, "partner", "show", "--json"))
    assert shown["reports_on"] is True and shown["channel"]["email"] == "sam@example.org"
    assert "eve@example.org" in shown["channel_ignored"]
    assert "`candor partner change`" in shown["channel_ignored"]
    status = " ".join(ok(home_dir, "status").split())
    assert "eve@example.org" in status and "candor partner change" in status
    refused = candor(home_dir, "partner", "invite")
    assert refused.returncode == 1 and "candor partner change" in refused.stderr


def test_a_hand_edited_mail_server_is_ignored_and_reported(
    home_dir: Path, mail: MailServer, other_mail: MailServer
) -> None:
    confirmed(home_dir, mail)

    def elsewhere(config) -> None:
        config.delivery.smtp.host, config.delivery.smtp.port = "localhost", other_mail.port

    edit_then_report(home_dir, elsewhere)

    received = mail.sink.wait_for(2)
    assert received[1].rcpt_tos == ["sam@example.org"]
    assert other_mail.messages == [], "the server named by hand gets nothing"
    document, text = report_parts(received[1].message)
    assert_reported(document, text, f"the mail server's port to {other_mail.port}")
    assert "the mail server to localhost" in text
    assert len(edited_rows(home_dir)) == 1


def test_a_hand_edited_webhook_url_is_ignored_and_reported(
    home_dir: Path, mail: MailServer, hooks: dict
) -> None:
    urls = hooks["url"][0]
    confirmed(home_dir, mail, webhook_url=urls["hook"], hooks=hooks)
    edit_then_report(home_dir, lambda c: setattr(c.delivery.webhook, "url", urls["other"]))

    assert hooks["/other"] == [], "the URL named by hand gets nothing"
    [posted] = hooks["/hook"]
    document = posted["data"]["document"]
    [found] = [b for b in document["integrity"]["bypass"] if b["what"] == "channel_edited"]
    assert f"the webhook address to {urls['other']}" in found["detail"]
    [email] = mail.sink.wait_for(2)[1:]
    assert_reported(*report_parts(email.message), f"the webhook address to {urls['other']}")


def test_partner_change_moves_the_channel_honestly(
    home_dir: Path, mail: MailServer, other_mail: MailServer, hooks: dict
) -> None:
    urls = hooks["url"][0]
    confirmed(home_dir, mail, webhook_url=urls["hook"], hooks=hooks)
    before = state(home_dir).channel
    assert before is not None and before.smtp_port == mail.port

    out = ok(
        home_dir, "partner", "change", "--smtp-port", str(other_mail.port),
        "--webhook-url", urls["other"], "--yes",
    )  # fmt: skip
    assert "will be told" not in out and "has been told" in out
    # the former channel is told: the old address through the old server, and the old URL
    told = mail.sink.wait_for(2)[1]
    assert told.rcpt_tos == ["sam@example.org"]
    assert told.message["Subject"] == "Alex's Candor reports are moving"
    assert str(other_mail.port) in told.message.get_body(("plain",)).get_content()
    [note] = hooks["/hook"]
    assert note["type"] == "candor.notice.channel_changed"
    assert note["data"]["document"]["kind"] == "channel_changed", "signed like every notice"
    # journaled, and the new channel must confirm before any report goes there
    [changed] = [b for b in rows(home_dir, "consent_changed") if b["change"] == "partner_changed"]
    assert changed["channel"]["smtp"]["port"] == other_mail.port
    assert changed["channel"]["webhook"]["url"] == urls["other"]
    assert changed["previous"]["channel"]["smtp"]["port"] == mail.port
    assert state(home_dir).status == "given"
    harness.set_time(DUE)
    ok(home_dir, "report", "send-due")
    assert other_mail.messages == [] and hooks["/other"] == [], "nothing before confirmation"

    ok(home_dir, "partner", "invite")
    [invite] = other_mail.sink.wait_for(1)
    where = " ".join(invite.message.get_body(("plain",)).get_content().split())
    assert "Where reports go (what your code confirms): email to sam@example.org via " in where
    assert f"127.0.0.1:{other_mail.port}" in where and urls["other"] in where
    ok(home_dir, "partner", "confirm", code_from(invite.message.get_body(("plain",)).get_content()))
    other_mail.sink.take_unlock_sheet()
    without_sheets(hooks)
    assert state(home_dir).status == "confirmed"
    assert state(home_dir).channel.smtp_port == other_mail.port
    harness.set_time(DUE.replace(day=6, month=12))
    ok(home_dir, "report", "send-due")
    assert [m.rcpt_tos for m in other_mail.sink.wait_for(2)][1] == ["sam@example.org"]
    assert len(hooks["/other"]) == 1 and len(mail.messages) == 2
    assert edited_rows(home_dir) == [], "a change made the honest way is not a finding"


def test_a_note_to_the_former_webhook_is_retried_there_not_at_the_new_one(
    home_dir: Path, mail: MailServer, hooks: dict
) -> None:
    urls = hooks["url"][0]
    confirmed(home_dir, mail, webhook_url=urls["hook"], hooks=hooks)
    hooks["refuse"].append("/hook")  # the former webhook is down when the channel moves
    ok(home_dir, "partner", "change", "--webhook-url", urls["other"], "--yes")
    assert hooks["/hook"] == [] and hooks["/other"] == []
    harness.set_time(NOW + timedelta(hours=2))
    ok(home_dir, "report", "send-due")
    [note] = hooks["/hook"]
    assert note["type"] == "candor.notice.channel_changed"
    assert note["data"]["document"]["kind"] == "channel_changed", "signed like every notice"
    assert hooks["/other"] == [], "the new webhook is not the one to tell"


def test_secrets_are_journaled_only_as_hashes(home_dir: Path, mail: MailServer) -> None:
    confirmed(home_dir, mail)
    journal = ok(home_dir, "journal", "show", "--json")
    assert PASSWORD not in journal
    assert hashlib.sha256(PASSWORD.encode()).hexdigest() in journal
    [row] = [b for b in rows(home_dir, "consent_changed") if b["change"] == "confirmed"]
    assert set(row["channel"]["smtp"]) == {"host", "port", "username", "password_sha256"}


def test_an_older_home_adopts_its_channel_once(home_dir: Path, mail: MailServer) -> None:
    Home.at(home_dir).ensure()
    in_process(home_dir, *INIT)
    use_mail(home_dir, mail)
    h = Home.at(home_dir)
    with Journal(h.journal_file) as journal:  # consent journaled before channels were
        consent.record(journal, "confirmed", name="Sam", email="sam@example.org", level="summary")
    assert state(home_dir).channel is None
    ok(home_dir, "report", "send-due")
    ok(home_dir, "report", "send-due")
    adopted = [b for b in rows(home_dir, "consent_changed") if b["change"] == "channel_adopted"]
    assert len(adopted) == 1 and adopted[0]["channel"]["smtp"]["port"] == mail.port
    assert adopted[0]["by"] == "config.toml"
    assert state(home_dir).channel.email == "sam@example.org"


def test_the_running_agent_keeps_to_the_confirmed_address(home_dir: Path, mail: MailServer) -> None:
    confirmed(home_dir, mail)
    edit(home_dir, lambda c: setattr(c.partner, "email", "eve@example.org"))
    harness.set_time(DUE)
    agent = start_agent(home_dir, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1")
    try:
        sent = agent.wait_for_event("report_sent", timeout=60)
        found = agent.wait_for_event("bypass_suspected", lambda e: e["what"] == "channel_edited")
    finally:
        assert agent.stop() == 0
    assert sent["channel"] == "email" and "eve@example.org" in found["detail"]
    assert [m.rcpt_tos for m in mail.sink.wait_for(2)][1] == ["sam@example.org"]
    assert all("eve@example.org" not in m.rcpt_tos for m in mail.messages)
    assert len(edited_rows(home_dir)) == 1
