"""What the partner reads (issue 15, item 5): the first report's date, the invitation's HTML, how
to stop, the person's name, the first report's key, and the former partner's signed note."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.cli.consent import sample_report
from agent.cli.main import build_parser, main
from agent.config import Config, Home, load_config, save_config
from agent.journal import Journal
from reporter import consent, invitation
from reporter.build import BuiltReport, build_report
from reporter.render_text import STOP_COMMAND
from reporter.schedule import ReportPeriod, first_period
from tests import harness
from tests.mail_server import MailServer
from tests.report_helpers import BUILD_AT, PERIOD, make_home

INIT = (
    "init", "--yes", "--your-name", "Robin", "--partner-name", "Sam", "--partner-email",
    "sam@example.org", "--device-name", "laptop", "--report-day", "sunday", "--report-time",
    "18:00", "--categories", "adult",
)  # fmt: skip
FINGERPRINT = "SHA256:" + "A" * 43
PUBLIC_KEY = "ssh-ed25519 " + "B" * 68


def words(config: Config, person: str | None = "Robin") -> invitation.Email:
    return invitation.invitation(
        config,
        now=datetime(2026, 11, 25, 12, tzinfo=UTC),  # a Wednesday
        person=person,
        code="ABCD2345",
        fingerprint=FINGERPRINT,
        public_key=PUBLIC_KEY,
        categories=["adult"],
    )


def flat(text: str) -> str:
    return " ".join(text.split())


def backticked(page: str) -> str:
    """An HTML page with its inline code written back as the text part writes it (`code`)."""
    return re.sub(r"<code[^>]*>(.*?)</code>", r"`\1`", page)


def report(
    tmp_path: Path, person: str | None, seq: int = 1, period: ReportPeriod = PERIOD
) -> BuiltReport:
    home, config = make_home(tmp_path / "home")
    with Journal(home.journal_file) as journal:
        consent.record(
            journal, "given", name="Alex", email="alex@example.org", level="summary", person=person
        )
        prev = None if seq == 1 else "0" * 64
        now = BUILD_AT if period is PERIOD else period.end
        return build_report(home, config, journal, period, seq=seq, prev_report_hash=prev, now=now)


def test_the_partner_is_told_honestly_how_to_stop(tmp_path: Path) -> None:
    """No "reply STOP" (a reply reaches the person's own mailbox): the revoke command, as the CLI
    spells it."""
    argv = [*STOP_COMMAND.split()[1:], "--yes"]
    assert callable(build_parser(argv).parse_args(argv).handler), f"{STOP_COMMAND} is a command"
    _, config = make_home(tmp_path / "words")
    text = flat(words(config).text)
    assert "STOP" not in text.replace("STOPPING", "")
    assert f"ask Robin to run `{STOP_COMMAND}`" in text
    assert "Candor does not read replies" in text
    built = report(tmp_path, "Robin")
    for part in (flat(built.text), built.html):
        assert "reply STOP" not in part and STOP_COMMAND in part
        assert "Candor does not read replies" in part


def test_the_report_names_the_person(tmp_path: Path) -> None:
    """The name given at `candor init` is used throughout; without one, a neutral wording."""
    named = report(tmp_path / "named", "Robin")
    for part in (flat(named.text), backticked(named.html)):
        assert "Robin last agreed to share these reports" in part
        assert f"ask Robin to run `{STOP_COMMAND}`" in part
        assert "the person" not in part.lower()
    assert named.document["integrity"]["consent"]["person"] == "Robin"
    unnamed = report(tmp_path / "unnamed", None)
    for part in (flat(unnamed.text), backticked(unnamed.html)):
        assert "The person last agreed to share these reports" in part
        assert f"ask the person to run `{STOP_COMMAND}`" in part
    assert "person" not in unnamed.document["integrity"]["consent"], "older shape kept"


def test_the_invitation_names_the_person_or_says_kindly_who(tmp_path: Path) -> None:
    _, config = make_home(tmp_path / "home")
    text = flat(words(config).text)
    assert text.count("Robin") >= 8 and "the person" not in text.lower()
    anonymous = words(config.model_copy(update={"delivery": type(config.delivery)()}), None)
    assert (
        anonymous.subject
        == "The person who invited you asks you to be their accountability partner"
    )
    assert "please check in with the person who invited you." in flat(anonymous.text)


def test_the_first_report_does_not_call_its_key_new(tmp_path: Path) -> None:
    """The key is made at setup, inside the first period: report #1 says plainly that it is the
    first report and which key to compare; a later report with a key made that week says new."""
    _, config = make_home(tmp_path / "settings")
    this_week = first_period(datetime.now(UTC), config.report, config.report.zone())
    first = report(tmp_path / "first", "Robin", period=this_week)
    assert first.document["integrity"]["signing_key"]["new_this_period"] is True
    for part in (flat(first.text), html.unescape(first.html)):
        assert "new key" not in part
        assert "This is your first report: compare this key with your invitation's." in part
    later = report(tmp_path / "later", "Robin", seq=2, period=this_week)
    assert "a new key this week" in flat(later.text)


def test_the_wizard_sample_is_numbered_like_the_first_report(
    tmp_path: Path, simulated_clock: harness.ClockControl
) -> None:
    simulated_clock.at(BUILD_AT)
    home, config = make_home(tmp_path / "home")
    text = flat(sample_report(home, config, "summary"))
    assert "report #1" in text and "#0" not in text
    assert "This is your first report" in text


# Confirmed at noon UTC on each day of the week of Monday 23 November 2026 (reports on Sundays at
# 18:00 UTC), and on that Sunday after 18:00: the first report's day, then the check-in day.
FIRST_REPORTS = [
    ("2026-11-23T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-24T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-25T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-26T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-27T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-28T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-29T12:00:00+00:00", "Sunday 29 November at 18:00", "Wednesday 2 December"),
    ("2026-11-29T19:00:00+00:00", "Sunday 6 December at 18:00", "Wednesday 9 December"),
]


@pytest.mark.parametrize(("moment", "first", "check_by"), FIRST_REPORTS)
def test_the_invitation_dates_the_first_report(
    home_dir: Path,
    mail: MailServer,
    simulated_clock: harness.ClockControl,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
    first: str,
    check_by: str,
) -> None:
    """Invited and confirmed on any day: the invitation and the confirmation give the date the
    sender will use (`partner show`'s next report), and the check-in day three days after it."""
    simulated_clock.at(moment)
    monkeypatch.setattr("reporter.invitation.new_code", lambda: "ABCD2345")
    run = ["--home", str(home_dir)]
    Home.at(home_dir).ensure()
    assert main([*run, *INIT]) == 0
    home = Home.at(home_dir)
    config = load_config(home)
    config.delivery.smtp = config.delivery.smtp.model_validate(mail.smtp_settings())
    config.report.timezone = "UTC"
    save_config(home, config)
    assert main([*run, "partner", "invite"]) == 0
    [invite] = mail.sink.wait_for(1)
    text = flat(invite.message.get_body(("plain",)).get_content())
    assert f"The first on {first}, if Robin types in your code before then" in text
    assert f"three days after it was due (the first: by {check_by}), please check in" in text
    assert "within three days of Sunday" not in text
    capsys.readouterr()
    assert main([*run, "partner", "confirm", "ABCD-2345"]) == 0
    said = flat(capsys.readouterr().out)
    assert f"the first is due {first}. If it has not come by {check_by}" in said
    assert main([*run, "partner", "show", "--json"]) == 0
    due = datetime.fromisoformat(json.loads(capsys.readouterr().out)["next_report_due"])
    assert f"{due:%A} {due.day} {due:%B} at {due:%H:%M}" == first


def test_the_invitation_html_reads_on_a_phone(tmp_path: Path) -> None:
    """Real HTML styled as the report is (no <pre> around the text, nothing fetched), with the
    first report's date, and the technical block after everything the partner must read."""
    _, config = make_home(tmp_path / "home")
    mail = words(config)
    page = mail.html
    assert "<pre" not in page and "white-space:pre" not in page
    for outside in ("<img", "<script", "<link", "<style", "src=", "href=", "url("):
        assert outside not in page
    assert 'name="viewport"' in page and "max-width:600px" in page
    assert "overflow-wrap:anywhere" in page, "keys and commands wrap on a phone"
    text = html.unescape(page)
    assert "The first on Sunday 29 November at 18:00" in flat(text)
    assert text.count("<table") > 8, "cards and lists, as the report's HTML"
    for part in (text, mail.text):
        technical = part.index("FOR THE TECHNICALLY MINDED")
        for main_text in ("TO ACCEPT", "ABCD-2345", FINGERPRINT, "STOPPING", STOP_COMMAND):
            assert part.index(main_text) < technical
        for detail in (PUBLIC_KEY, "ssh-keygen -Y verify", "openssl pkeyutl"):
            assert part.index(detail) > technical
