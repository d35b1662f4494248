"""Partner-held unlock codes, end to end: the sheet is sent at confirmation to a real SMTP server
on loopback, only hashes stay in the journal, the outbox forgets the codes once they left, a code
works once, a wrong one is refused after a delay, a replaced sheet's codes are refused, and the
report names every use by its number."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.cli.console import UserError
from agent.cli.main import main
from agent.cli.unlock import MAX_UNLOCK_GRANT, REFUSAL_DELAY, unlock
from agent.config import Home, load_config, save_config
from agent.journal import Journal
from agent.journal.partner import partner_id
from agent.policy.ledger import read_ledger
from agent.policy.live_rules import LiveRules
from agent.policy.temporary_allow import MAX_GRANT, GrantError, check_duration
from reporter import consent, unlock_sheet
from reporter.delivery.outbox import WIPED_PAYLOAD, Outbox
from reporter.delivery.sender import Sender
from reporter.delivery.unlock_message import KIND, sheet_messages
from reporter.delivery.unlock_send import issue_sheet
from reporter.unlock_sheet import (
    ALPHABET,
    MASKED,
    SHIPPED_PARAMS,
    check,
    issued_event,
    make_sheet,
    normalise,
    sheets,
)
from tests import harness
from tests.conftest import candor
from tests.mail_server import MailServer

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
HOST = "kept-away.test"
INIT = (
    "init", "--yes", "--your-name", "Alex", "--partner-name", "Sam", "--partner-email",
    "sam@example.org", "--device-name", "laptop", "--report-day", "sunday", "--report-time",
    "18:00", "--cooling-off", "24h", "--categories", "adult",
)  # fmt: skip

pytestmark = pytest.mark.usefixtures("simulated_clock")


@pytest.fixture
def mail(mail: MailServer, simulated_clock: harness.ClockControl) -> MailServer:
    simulated_clock.at(NOW)
    return mail


def run(home: Path, *args: str) -> None:
    assert main(["--home", str(home), *args]) == 0


def confirmed(home: Path, mail: MailServer) -> tuple[Home, list[str]]:
    """A home whose partner confirmed; the codes of sheet 1 as the partner received them."""
    h = Home.at(home)
    h.ensure()
    run(home, *INIT)
    config = load_config(h)
    config.delivery.smtp = config.delivery.smtp.model_validate(mail.smtp_settings())
    config.report.timezone = "UTC"
    save_config(h, config)
    run(home, "partner", "invite")
    [invite] = mail.sink.wait_for(1)
    text = invite.message.get_body(("plain",)).get_content()
    assert "UNLOCK CODES" in text and "skip that wait" in " ".join(text.split())
    found = re.search(r"^\s+([2-9A-Z]{4}-[2-9A-Z]{4})\s*$", text, re.M)
    assert found
    run(home, "partner", "confirm", found[1])
    return h, sheet_codes(mail, 2)


def sheet_codes(mail: MailServer, count: int) -> list[str]:
    """The codes in the `count`-th message: the sheet, numbered 1..20 in its text and HTML."""
    received = mail.sink.wait_for(count)
    assert len(received) >= count
    msg = received[count - 1].message
    assert msg["Subject"].startswith("Unlock codes for Alex's Candor")
    text = msg.get_body(("plain",)).get_content()
    codes = CODE.findall(text)
    assert len(codes) == 20 and len(set(codes)) == 20
    assert "Talk first" in text and "cross it off" in text
    page = msg.get_body(("html",)).get_content()
    assert all(code in page for code in codes)
    return codes


def everything_stored(h: Home) -> str:
    """Every journal row and every outbox row's bytes, as text."""
    with Journal(h.journal_file) as journal, Outbox(journal) as outbox:
        rows = [json.dumps(e.as_json()) for e in journal.events()]
        rows += [r.payload.decode("utf-8", "replace") for r in outbox.rows()]
    return "\n".join(rows)


def partner_of(h: Home) -> str:
    with Journal(h.journal_file) as journal:
        return partner_id(consent.consent_state(journal).partner_email)


def kinds(h: Home, kind: str) -> list[dict]:
    with Journal(h.journal_file) as journal:
        return [e.body for e in journal.events(kinds=[kind])]


# --- codes and hashes ---------------------------------------------------------------------------


def test_codes_are_long_readable_and_forgiving() -> None:
    code = unlock_sheet.new_code()
    assert len(code) == 12 and set(code) <= set(ALPHABET) and len(ALPHABET) == 32  # 60 bits
    shown = unlock_sheet.shown_code("0123456789AB")
    assert shown == "0123-4567-89AB"
    assert normalise(" o123-4567 89ab ") == "0123456789AB"
    assert normalise("0I23-4567-89AB") == "0123456789AB"
    assert normalise("0123-4567") is None and normalise("0123-4567-89A!") is None
    assert SHIPPED_PARAMS.as_json() == {"n": 2**15, "r": 8, "p": 1, "dklen": 32}


def test_the_shipped_costs_hash_and_verify() -> None:
    sheet = make_sheet(1, SHIPPED_PARAMS, count=2)
    row = issued_event(sheet, "p-1", ["x"], "confirmed", None)
    assert row.params == SHIPPED_PARAMS.as_json()
    assert all(sheet.codes[0] not in json.dumps(c) for c in row.codes)
    stored = unlock_sheet.Sheet(
        "p-1",
        1,
        SHIPPED_PARAMS,
        {c["number"]: (bytes.fromhex(c["salt"]), bytes.fromhex(c["hash"])) for c in row.codes},
        "",
    )
    assert stored.matching(sheet.codes[1]) == 2
    assert stored.matching("0" * 12) is None


def test_a_preview_and_a_webhook_body() -> None:
    from agent.config import Config

    config = Config()
    sheet = make_sheet(3, count=3)
    [hook] = sheet_messages(config, "Alex", sheet, [("webhook", "http://127.0.0.1:9/")], "p-1", NOW)
    data = json.loads(hook.payload)["data"]
    assert data["sheet"] == 3 and [c["number"] for c in data["codes"]] == [1, 2, 3]
    assert data["codes"][0]["code"] == unlock_sheet.shown_code(sheet.codes[0])
    [masked] = sheet_messages(
        config, "Alex", sheet, [("webhook", "http://127.0.0.1:9/")], "p-1", NOW, masked=True
    )
    assert MASKED in masked.payload.decode() and sheet.codes[0] not in masked.payload.decode()


# --- end to end ---------------------------------------------------------------------------------


def test_the_sheet_is_sent_at_confirmation_and_only_hashes_stay(
    home_dir: Path, mail: MailServer
) -> None:
    h, codes = confirmed(home_dir, mail)
    stored = everything_stored(h)
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    with Journal(h.journal_file) as journal, Outbox(journal) as outbox:
        [row] = [r for r in outbox.rows() if r.kind == KIND]
        assert row.state == "sent" and row.payload == WIPED_PAYLOAD
        [sheet] = sheets(journal, partner_of(h))
        assert sheet.number == 1 and len(sheet.hashes) == 20 and sheet.voided is None
        verdict = check(journal, partner_of(h), codes[6].lower())
    assert verdict.ok and (verdict.sheet, verdict.number) == (1, 7)
    [issued] = kinds(h, "unlock_sheet_issued")
    assert issued["reason"] == "confirmed" and issued["count"] == 20
    shown = json.loads(candor(home_dir, "partner", "show", "--json").stdout)
    assert shown["unlock_sheet"] == {"sheet": 1, "codes": 20, "used": []}


def pending_rule(h: Home) -> LiveRules:
    """A rule of the person's, removed: its removal waits for the 24 h cooling-off delay."""
    rules = h.rules_dir / "adult.txt"
    rules.write_text(rules.read_text() + f"\n{HOST}\n")
    live = LiveRules(h, journal=Journal(h.journal_file))
    live.start()
    rules.write_text(rules.read_text().replace(f"\n{HOST}\n", "\n"))
    live.reload()
    decided = live.rules.matcher.decide(f"https://{HOST}/")
    assert decided.decision == "block" and decided.pending_until is not None
    return live


def test_a_code_applies_the_waiting_loosening_once_and_wrong_codes_wait(
    home_dir: Path, mail: MailServer
) -> None:
    h, codes = confirmed(home_dir, mail)
    live = pending_rule(h)
    waits: list[float] = []

    with pytest.raises(UserError, match="not on your partner's sheet"):
        unlock(h, "2222-2222-2222", delay=0.01, sleep=waits.append)
    assert waits == [0.01] and REFUSAL_DELAY >= 1
    [refused] = kinds(h, "unlock_refused")
    assert refused["reason"] == "wrong" and "2222" not in json.dumps(refused)

    assert unlock(h, codes[6], delay=0.01, sleep=waits.append) == 0
    [used] = kinds(h, "unlock_used")
    assert (used["sheet"], used["number"], used["unlocked"]) == (1, 7, "pending")
    assert [p["value"] for p in used["pending"]] == [HOST]
    assert live.grants_changed()
    outcome = live.reload()
    assert outcome.applied and [p.value for p in outcome.cooling.ended] == [HOST]
    assert live.rules.matcher.decide(f"https://{HOST}/").decision == "allow"
    assert not [p for p in read_ledger(h).pending if p.value == HOST]

    pending_rule_again = h.rules_dir / "adult.txt"
    pending_rule_again.write_text(pending_rule_again.read_text() + "\nother.test\n")
    live.reload()
    pending_rule_again.write_text(pending_rule_again.read_text().replace("\nother.test\n", "\n"))
    live.reload()
    with pytest.raises(UserError, match="Code 7 was already used"):
        unlock(h, codes[6], delay=0.01, sleep=waits.append)
    assert kinds(h, "unlock_refused")[-1]["reason"] == "used"
    assert len(kinds(h, "unlock_used")) == 1


def test_a_new_sheet_voids_the_old_and_a_code_grants_a_long_allow(
    home_dir: Path, mail: MailServer, capsys: pytest.CaptureFixture[str]
) -> None:
    h, old = confirmed(home_dir, mail)
    capsys.readouterr()
    run(home_dir, "partner", "codes")
    assert "Sheet 2 of unlock codes has been sent to Sam. Sheet 1 no longer works." in (
        capsys.readouterr().out
    )
    new = sheet_codes(mail, 3)
    assert not set(new) & set(old)
    [voided] = kinds(h, "unlock_sheet_voided")
    assert voided == {"partner_id": partner_of(h), "sheet": 1, "reason": "replaced"}

    with pytest.raises(UserError, match="sheet that was replaced"):
        unlock(h, old[0], host=HOST, duration="3d", delay=0, sleep=lambda s: None)
    with pytest.raises(UserError, match="at most 7d"):
        unlock(h, new[0], host=HOST, duration="8d", delay=0, sleep=lambda s: None)
    assert kinds(h, "unlock_used") == []  # a refused length uses no code
    with pytest.raises(GrantError):
        check_duration(timedelta(days=3))  # `candor allow` alone: at most a day
    assert MAX_GRANT < timedelta(days=3) <= MAX_UNLOCK_GRANT

    assert unlock(h, new[2], host=HOST, duration="3d", reason="a long trip", delay=0) == 0
    [used] = kinds(h, "unlock_used")
    assert (used["sheet"], used["number"], used["unlocked"], used["host"]) == (2, 3, "allow", HOST)
    [grant] = kinds(h, "allow_granted")
    assert (
        grant["seconds"] == 3 * 86400 and grant["reason"] == "with code 3 of sheet 2: a long trip"
    )
    assert [g.host for g in read_ledger(h).grants] == [HOST]


def test_every_use_and_refusal_is_in_the_report_by_number(
    home_dir: Path, mail: MailServer, capsys: pytest.CaptureFixture[str]
) -> None:
    h, codes = confirmed(home_dir, mail)
    pending_rule(h)
    with pytest.raises(UserError):
        unlock(h, "ZZZZ-ZZZZ-ZZZZ", delay=0, sleep=lambda s: None)
    unlock(h, codes[0], delay=0)
    unlock(h, codes[1], host=HOST, duration="2d", delay=0)
    capsys.readouterr()
    run(home_dir, "report", "preview", "--format", "text")
    text = " ".join(capsys.readouterr().out.split())
    assert "a wrong unlock code was typed and refused." in text
    assert "Code 1 of sheet 1 was used to apply 1 change early" in text
    assert "Code 2 of sheet 1 was used to allow one site for 2d" in text  # summary: no host
    for code in codes:
        assert code not in text


def test_sheet_lost_before_delivery_is_voided_and_replaced(
    home_dir: Path, mail: MailServer
) -> None:
    h, _ = confirmed(home_dir, mail)
    with Journal(h.journal_file) as journal, Outbox(journal) as outbox:
        state = consent.consent_state(journal)
        issue_sheet(journal, outbox, load_config(h), state, NOW, reason="asked")
    with sqlite3.connect(h.journal_file) as db:  # someone deletes the queued sheet
        db.execute("DELETE FROM outbox WHERE kind = ? AND state = 'pending'", (KIND,))
    with Sender(h) as sender:
        result = sender.run_once()
    assert any("unlock codes" in line for line in result.rebuilt)
    codes = sheet_codes(mail, 3)
    with Journal(h.journal_file) as journal:
        found = sheets(journal, partner_of(h))
        assert [s.voided for s in found] == ["replaced", "message_lost", None]
        assert check(journal, partner_of(h), codes[0]).ok


def test_no_partner_no_codes(home_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Home.at(home_dir).ensure()
    assert main(["--home", str(home_dir), "partner", "codes"]) == 1
    assert "confirmed partner" in capsys.readouterr().err


def test_the_real_command_and_revocation(home_dir: Path, mail: MailServer) -> None:
    h, codes = confirmed(home_dir, mail)
    wrong = candor(home_dir, "unlock", "2222-2222-2222", "--allow", HOST, "--for", "2d")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "That code is not on your partner's sheet" in wrong.stderr
    alone = candor(home_dir, "unlock", codes[4], "--allow", HOST)
    assert alone.returncode == 1 and "go together" in alone.stderr
    used = candor(home_dir, "unlock", codes[4].lower(), "--allow", HOST, "--for", "2d")
    assert used.returncode == 0, used.stderr
    assert f"Allowed {HOST} until" in used.stdout and "code 5 of sheet 1" in used.stdout
    for code in codes:
        assert code not in used.stdout + used.stderr + wrong.stderr

    run(home_dir, "partner", "revoke", "--yes")
    assert kinds(h, "unlock_sheet_voided")[-1]["reason"] == "revoked"
    again = candor(home_dir, "unlock", codes[5], "--allow", HOST, "--for", "2d")
    assert again.returncode == 1 and "confirmed partner" in again.stderr
