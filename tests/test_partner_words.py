"""What the partner reads (issue 15, item 5): the first report's date, the invitation's HTML, how
to stop, the person's name, the first report's key, and the former partner's signed note."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from agent.cli.consent import sample_report
from agent.cli.main import build_parser
from agent.config import Config
from agent.journal import Journal
from reporter import consent, invitation
from reporter.build import BuiltReport, build_report
from reporter.render_text import STOP_COMMAND
from reporter.schedule import ReportPeriod, first_period
from tests import harness
from tests.report_helpers import BUILD_AT, PERIOD, make_home

FINGERPRINT = "SHA256:" + "A" * 43
PUBLIC_KEY = "ssh-ed25519 " + "B" * 68


def words(config: Config, person: str | None = "Robin") -> invitation.Email:
    return invitation.invitation(
        config,
        person=person,
        code="ABCD2345",
        fingerprint=FINGERPRINT,
        public_key=PUBLIC_KEY,
        categories=["adult"],
    )


def flat(text: str) -> str:
    return " ".join(text.split())


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
    for part in (flat(named.text), named.html):
        assert "Robin last agreed to share these reports" in part
        assert f"ask Robin to run `{STOP_COMMAND}`" in part
        assert "the person" not in part.lower()
    assert named.document["integrity"]["consent"]["person"] == "Robin"
    unnamed = report(tmp_path / "unnamed", None)
    for part in (flat(unnamed.text), unnamed.html):
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
    assert "please check in with the person who invited you" in flat(anonymous.text)


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
