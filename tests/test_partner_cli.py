"""`candor init`, `candor partner …`, `candor report …` and `candor delivery test`, end to end:
the real command in a subprocess, a real SMTP server with STARTTLS and AUTH on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.config import Home, load_config, save_config
from agent.journal import Journal
from reporter import consent, signing
from tests import harness
from tests.conftest import REPO, candor
from tests.mail_server import USER, MailServer

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday

INIT = (
    "init",
    "--yes",
    "--your-name",
    "Alex",
    "--partner-name",
    "Sam",
    "--partner-email",
    "sam@example.org",
    "--device-name",
    "laptop",
    "--report-day",
    "sunday",
    "--report-time",
    "18:00",
    "--cooling-off",
    "24h",
    "--categories",
    "adult",
    "gambling=warn",
)


pytestmark = pytest.mark.usefixtures("simulated_clock")


@pytest.fixture
def mail(mail: MailServer, simulated_clock: harness.ClockControl) -> MailServer:
    """The shared mail server, with the clock stopped at NOW."""
    simulated_clock.at(NOW)
    return mail


def ok(home: Path, *args: str) -> str:
    proc = candor(home, *args)
    assert proc.returncode == 0, f"candor {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def use_mail(home: Path, mail: MailServer) -> None:
    h = Home.at(home)
    config = load_config(h)
    config.delivery.smtp = config.delivery.smtp.model_validate(mail.smtp_settings())
    config.report.timezone = "UTC"
    save_config(h, config)


def code_from(text: str) -> str:
    match = re.search(r"^\s+([2-9A-Z]{4}-[2-9A-Z]{4})\s*$", text, re.M)
    assert match, text
    return match[1]


def in_process(home: Path, *args: str) -> None:
    """Run a command in this process: for the setup steps other tests already cover end to end."""
    assert main(["--home", str(home), *args]) == 0


def invite_and_confirm(home: Path, mail: MailServer) -> None:
    Home.at(home).ensure()
    in_process(home, *INIT)
    use_mail(home, mail)
    in_process(home, "partner", "invite")
    [invite] = mail.sink.wait_for(1)
    code = code_from(invite.message.get_body(("plain",)).get_content())
    in_process(home, "partner", "confirm", code)
    mail.sink.take_unlock_sheet()  # tests/test_unlock_codes.py reads it


def show(home: Path) -> dict:
    return json.loads(ok(home, "partner", "show", "--json"))


def state(home: Path) -> consent.ConsentState:
    with Journal(Home.at(home).journal_file) as journal:
        return consent.consent_state(journal)


def test_setup_invitation_and_confirmation(home_dir: Path, mail: MailServer) -> None:
    out = ok(home_dir, *INIT)
    assert out.index("would receive") < out.index("You are asking Sam")
    config = load_config(Home.at(home_dir))
    assert config.partner.email == "sam@example.org" and config.partner.confirmed_at is None
    assert config.cooling_off == timedelta(hours=24)
    assert config.categories["gambling"].action == "warn"
    assert config.detail_level == "summary"
    with Journal(Home.at(home_dir).journal_file) as journal:
        [given] = list(journal.events(kinds=["consent_changed"]))
    assert given.body["change"] == "given" and given.body["level"] == "summary"
    assert given.body["person"] == "Alex" and len(given.body["text_sha256"]) == 64

    refused = candor(home_dir, "partner", "confirm", "ABCD-EFGH")
    assert refused.returncode == 1 and "No invitation" in refused.stderr
    no_mail = candor(home_dir, "partner", "invite")
    assert no_mail.returncode == 1 and "[delivery.smtp]" in no_mail.stderr

    use_mail(home_dir, mail)
    out = ok(home_dir, "partner", "invite")
    fingerprint = signing.fingerprint(Home.at(home_dir))
    assert fingerprint in out
    [invite] = mail.sink.wait_for(1)
    assert invite.rcpt_tos == ["sam@example.org"]
    msg = invite.message
    assert msg["Subject"] == "Alex asks you to be their accountability partner"
    text = msg.get_body(("plain",)).get_content()
    assert fingerprint in text
    assert "The first on Sunday 29 November at 18:00, if Alex types in your code" in " ".join(
        text.split()
    )
    assert msg.get_body(("html",)) is not None
    [key] = [p for p in msg.iter_attachments() if p.get_filename() == "candor-signing-key.pub"]
    assert key.get_content().strip() == signing.public_key_openssh(Home.at(home_dir))
    [pem] = [p for p in msg.iter_attachments() if p.get_filename() == "candor-signing-key.pem"]
    pem_text = pem.get_payload(decode=True).decode()
    assert pem_text == signing.public_key_pem(Home.at(home_dir))
    assert signing.parse_public_key(pem_text) == signing.public_key(Home.at(home_dir))
    code = code_from(text)
    state = (Home.at(home_dir).state_dir / "invitation.json").read_text()
    assert code.replace("-", "") not in state, "only a hash of the code is kept"

    assert show(home_dir)["status"] == "given"
    wrong = candor(home_dir, "partner", "confirm", "2222-2222")
    assert wrong.returncode == 1 and "does not match" in wrong.stderr
    out = ok(home_dir, "partner", "confirm", code.lower())
    # confirmed on Wednesday 25 November: the first report covers the seven days up to Sunday
    assert "Confirmed" in out and "Sunday 29 November at 18:00" in out
    facts = show(home_dir)
    assert facts["status"] == "confirmed" and facts["reports_on"] is True
    assert facts["next_report_due"].startswith("2026-11-29T18:00")
    assert ok(home_dir, "report", "send-due").strip() == "Nothing is due."


def test_revoke_is_immediate_and_tells_the_partner_once(
    home_dir: Path, mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    invite_and_confirm(home_dir, mail)
    out = ok(home_dir, "partner", "revoke", "--yes")
    assert "has stopped" in out and "has been sent one short note" in out
    messages = mail.sink.wait_for(2)
    ended = messages[1].message
    assert ended["Subject"] == "Candor reports from Alex have ended"
    assert messages[1].rcpt_tos == ["sam@example.org"]
    assert "turned off weekly reports" in ended.get_body(("plain",)).get_content()
    assert state(home_dir).status == "revoked"
    assert "nothing to stop" in ok(home_dir, "partner", "revoke", "--yes")
    harness.set_time(NOW + timedelta(days=30))
    ok(home_dir, "report", "send-due")
    assert len(mail.messages) == 2, "nothing after revocation but the one notice"


def test_change_tells_the_old_partner(home_dir: Path, mail: MailServer) -> None:
    invite_and_confirm(home_dir, mail)
    args = ("--partner-name", "Kim", "--partner-email", "kim@example.org", "--yes")
    out = ok(home_dir, "partner", "change", *args)
    assert "Kim <kim@example.org> is now your partner" in out
    messages = mail.sink.wait_for(2)
    assert messages[1].rcpt_tos == ["sam@example.org"]
    assert messages[1].message["Subject"] == "You are no longer Alex's Candor partner"
    facts = state(home_dir)
    assert facts.status == "given" and facts.partner_email == "kim@example.org"


def test_lowering_is_immediate_raising_asks(home_dir: Path, mail: MailServer) -> None:
    invite_and_confirm(home_dir, mail)
    ok(home_dir, "partner", "level", "detailed", "--yes")
    assert state(home_dir).level == "detailed"
    ok(home_dir, "partner", "level", "domains")  # lowering needs no confirmation
    assert load_config(Home.at(home_dir)).detail_level == "domains"
    with Journal(Home.at(home_dir).journal_file) as journal:
        changes = [e.body["change"] for e in journal.events(kinds=["consent_changed"])]
        level = consent.consent_state(journal).level
    assert changes[-2:] == ["raised", "lowered"] and level == "domains"


def test_delivery_test_writes_to_the_person_not_the_partner(
    home_dir: Path, mail: MailServer
) -> None:
    Home.at(home_dir).ensure()
    in_process(home_dir, *INIT)
    use_mail(home_dir, mail)
    assert "Email works" in ok(home_dir, "delivery", "test")
    [test] = mail.sink.wait_for(1)
    assert test.rcpt_tos == [USER] and test.message["Subject"] == "Candor delivery test"
    assert "No reports yet." in ok(home_dir, "report", "list")


def test_interactive_init_shows_the_sample_before_asking(home_dir: Path) -> None:
    def run(answers: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(  # no list subscriptions: this test is about the partner's part
            [sys.executable, "-m", "agent.cli", "--home", str(home_dir), "init", "--lists", "none"],
            input="\n".join(answers) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )

    # categories (adult, bypass, gambling): keep; name; partner; email; level; device; day;
    # time; cooling-off; then the consent: typing something else stops
    answers = ["", "", "", "Alex", "Sam", "sam@example.org", "", "laptop", "", "", ""]
    refused = run([*answers, "nope"])
    assert refused.returncode == 1, refused.stderr
    assert "Nothing was changed" in refused.stdout
    assert load_config(Home.at(home_dir)).partner.email is None
    agreed = run([*answers, "sam"])
    assert agreed.returncode == 0, agreed.stderr
    out = agreed.stdout
    assert out.index("would receive") < out.index("To agree, type Sam's name")
    config = load_config(Home.at(home_dir))
    assert config.partner.email == "sam@example.org"
    assert config.cooling_off == timedelta(hours=24), "the suggested delay"
    with Journal(Home.at(home_dir).journal_file) as journal:
        [given] = list(journal.events(kinds=["consent_changed"]))
    assert given.body["typed_confirmation"] is True


def test_reports_arrive_and_verify_with_the_invitation_key(
    home_dir: Path, mail: MailServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    invite_and_confirm(home_dir, mail)
    [invite] = mail.sink.wait_for(1)
    [key] = [p for p in invite.message.iter_attachments() if p.get_filename().endswith(".pub")]
    (tmp_path / "partner.pub").write_text(key.get_content())
    # the laptop was off on report day: two periods (ending 29 November and 6 December, the
    # first reports after Wednesday's confirmation) are sent late, in order
    harness.set_time("2026-12-07T09:00:00+00:00")
    out = ok(home_dir, "report", "send-due")
    assert "Report #1 sent by email" in out and "Report #2 sent by email" in out
    received = mail.sink.wait_for(3)[1:]
    assert [r.message["X-Candor-Period"] for r in received] == ["2026-11-29", "2026-12-06"]
    folder = tmp_path / "inbox"
    folder.mkdir()
    for r in received:
        for part in r.message.iter_attachments():
            if part.get_filename().endswith(".json") and ".signed." not in part.get_filename():
                (folder / part.get_filename()).write_bytes(part.get_content())
    newest = folder / "candor-report-2026-12-06.json"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (folder / "candor-report-2026-11-29.json").rename(earlier / "candor-report-2026-11-29.json")
    checked = ok(
        home_dir,
        "verify",
        str(newest),
        "--key",
        str(tmp_path / "partner.pub"),
        "--previous",
        str(earlier),
    )
    assert "Report verified." in checked
    listing = json.loads(ok(home_dir, "report", "list", "--json"))
    assert [r["period"] for r in listing["reports"]] == ["2026-11-29", "2026-12-06"]
    assert all(r["late_reason"] for r in listing["reports"])
    assert {d["state"] for r in listing["reports"] for d in r["deliveries"]} == {"sent"}
