"""For your conversation (issue 15, item 4): kind notes on what happened and one good question,
signed with the report, near its top in text and HTML, saying no more than the summary level;
and the days without a block said without a count that reads as failure."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from agent.config import Home
from agent.journal import Journal
from reporter import consent
from reporter.build import BuiltReport, build_report
from reporter.document import read_document
from reporter.render_html import CODE, prose
from reporter.render_text import STOP_COMMAND, render
from tests.harness import ClockControl
from tests.report_helpers import BUILD_AT, MONDAY, PERIOD, candor, heartbeats, make_home
from tests.test_partner_words import INIT, report, words

BLOCK = {"decision": "block", "category": "adult", "action": "block", "host": "bad.example",
         "request": "navigation"}  # fmt: skip
LOOSENED = {"changes": [{"what": "categories.gambling.action", "from": "block", "to": "warn",
                         "loosening": True, "pending_until": None}]}  # fmt: skip
HELP = {"engine": "google", "help": True, "terms": "porn addiction help"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the period's week, Berlin time (day 0: Monday 23 November)."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def week(
    root: Path,
    events: list[tuple[str, dict[str, Any], datetime]],
    *,
    person: str | None = "Robin",
    level: str = "summary",
    gap: bool = False,
) -> BuiltReport:
    """The report over a week Candor watched throughout (or with an hour it was not running,
    `gap`), holding `events`."""
    home, config = make_home(root, level)
    with Journal(home.journal_file) as journal:
        consent.record(
            journal, "given", name="Alex", email="alex@example.org", level=level, person=person
        )
        start = PERIOD.start - timedelta(minutes=5)
        minutes = 7 * 24 * 60 + 10
        if gap:  # awake and not watched for an hour on Wednesday
            first = int((at(2, 12) - start).total_seconds() // 60)
            mono, boot = heartbeats(journal, start, first, mono=1000, boot=1000)
            heartbeats(journal, start + timedelta(minutes=first + 60), minutes - first - 60,
                       mono=mono + 61 * 60, boot=boot + 61 * 60)  # fmt: skip
        else:
            heartbeats(journal, start, minutes, mono=1000, boot=1000)
        journal.append_many_raw(events)
        return build_report(home, config, journal, PERIOD, seq=1, prev_report_hash=None,
                            now=BUILD_AT)  # fmt: skip


def talk(built: BuiltReport) -> dict[str, Any]:
    conversation = built.document["conversation"]
    assert isinstance(conversation, dict)
    return conversation


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_steady_week_is_noticed_and_asks_what_helped(tmp_path: Path) -> None:
    built = week(tmp_path / "home", [("decision", BLOCK, at(2, 14))])
    assert talk(built) == {
        "notes": ["A steady week: Candor was watching and nothing weakened the filter."],
        "question": "What helped this week?",
    }
    text = built.text
    assert text.index("FOR YOUR CONVERSATION") < text.index("THIS WEEK"), "near the top"
    assert 'A good question to ask: "What helped this week?"' in flat(text)
    page = html.unescape(built.html)
    assert page.index("For your conversation") < page.index("Summary")
    assert "What helped this week?</b>" in page
    quiet = week(tmp_path / "quiet", [])
    assert talk(quiet)["notes"] == ["A steady week: no blocks, and nothing weakened the filter."]


@pytest.mark.parametrize(
    ("case", "events", "note", "question"),
    [
        (
            "night",
            [("decision", BLOCK, at(1, 23, 10)), ("decision", BLOCK, at(3, 1, 30)),
             ("decision", BLOCK, at(4, 15))],
            "Most of the hard moments came late in the evening or at night (22:00–05:00).",
            "Late evenings seem harder — what would help around then?",
        ),
        (
            "loosening",
            [("config_changed", LOOSENED, at(2, 9))],
            "Robin loosened a setting this week.",
            "Robin loosened a setting — would it help to talk about why?",
        ),
        (
            "many",
            [("decision", BLOCK, at(day, 14, minute)) for day in range(4) for minute in range(5)],
            "Candor stepped in more often this week (20 pages blocked).",
            "This looks like a harder week — what would help right now?",
        ),
        (
            "help",
            [("search", HELP, at(2, 20)), ("search", HELP, at(3, 20))],
            "Robin looked for help or recovery 2 times this week: reaching out like that takes "
            "courage.",
            "What kind of support would help most right now?",
        ),
    ],
)  # fmt: skip
def test_each_situation_has_its_note_and_question(
    tmp_path: Path, case: str, events: list[Any], note: str, question: str
) -> None:
    found = talk(week(tmp_path / case, events))
    assert found["notes"][0] == note and found["question"] == question
    if case == "help":  # reaching out, in an otherwise steady week
        assert found["notes"][1].startswith("A steady week")


def test_pictures_pulled_in_at_night_are_no_hard_moment(tmp_path: Path) -> None:
    """Ads a news page pulled in at 23:00 are not the person's doing: no note about nights."""
    pulled = {**BLOCK, "request": "subresource"}
    found = talk(week(tmp_path / "home", [("decision", pulled, at(d, 23)) for d in range(5)]))
    assert found["question"] == "What helped this week?"


def test_the_most_important_come_first_and_at_most_three(tmp_path: Path) -> None:
    """A gap, then a loosening, then the nights; help-seeking is left out after three."""
    events = [
        ("config_changed", LOOSENED, at(2, 9)),
        ("decision", BLOCK, at(1, 23, 10)),
        ("decision", BLOCK, at(3, 23, 30)),
        ("search", HELP, at(2, 20)),
    ]
    built = week(tmp_path / "home", events, gap=True)
    found = talk(built)
    assert found["notes"] == [
        "Candor was off for part of this week.",
        "Robin loosened a setting this week.",
        "Most of the hard moments came late in the evening or at night (22:00–05:00).",
    ]
    assert found["question"] == "Candor was off for a while — how did that time go?"
    unnamed = talk(week(tmp_path / "unnamed", events[:1], person=None))
    assert unnamed["notes"] == ["A setting was loosened this week."]


def test_the_part_says_no_more_than_the_summary_level(tmp_path: Path) -> None:
    """No site, no search terms, no minute: the words read only what every level shares."""
    events = [
        ("decision", BLOCK, at(1, 23, 17)),
        ("decision", BLOCK, at(2, 23, 41)),
        ("search", HELP, at(2, 20, 13)),
        ("config_changed", {"changes": [{"what": "allowlist", "from": None,
                                         "to": "ok.example", "loosening": True,
                                         "pending_until": None}]}, at(2, 9, 7)),
    ]  # fmt: skip
    for level in ("summary", "detailed"):
        said = json.dumps(talk(week(tmp_path / level, events, level=level)))
        for secret in ("bad.example", "ok.example", "addiction", ":17", ":41", ":13", ":07"):
            assert secret not in said


def test_it_is_signed_and_older_reports_render_without_it(tmp_path: Path) -> None:
    built = week(tmp_path / "home", [])
    assert "conversation" in built.signed_bytes.decode()
    older = {k: v for k, v in built.document.items() if k not in ("conversation", "signature")}
    text = render(read_document(older))
    assert "FOR YOUR CONVERSATION" not in text and "THIS WEEK" in text


def test_days_without_a_block_never_read_as_failure(tmp_path: Path) -> None:
    some = week(tmp_path / "some", [("decision", BLOCK, at(1, 14)), ("decision", BLOCK, at(3, 9))])
    assert "Days without a block this week: 6 of 8" in some.text
    assert "in a row" not in some.text.lower() and "in a row" not in some.html.lower()
    assert "6 of 8" in some.html and "days without a block" in some.html
    every = week(
        tmp_path / "every", [("decision", BLOCK, at(d, 12 if d >= 0 else 20)) for d in range(-1, 7)]
    )
    assert "Candor stepped in on every day this week." in every.text
    assert "days Candor stepped in" in every.html
    assert " 0 of " not in every.text and ">0 of" not in every.html
    none = week(tmp_path / "none", [])
    assert "No blocks on any day this week." in none.text
    assert some.document["summary"]["streak_days"] == 3, "the field stays as it was (Fri to Sun)"


def test_the_preview_shows_it(tmp_path: Path, simulated_clock: ClockControl) -> None:
    """`candor report preview` prints the part the partner will read, before it is sent."""
    home, _ = make_home(tmp_path / "home")
    simulated_clock.at("2026-12-06T17:00:00+00:00")
    with Journal(home.journal_file) as journal:
        consent.record(journal, "given", name="Alex", email="alex@example.org",
                       level="summary", person="Robin")  # fmt: skip
        heartbeats(journal, PERIOD.start, 7 * 24 * 60, mono=4000, boot=4000)
        journal.append_many_raw([("search", HELP, at(2, 20))])
    shown = candor(home.root, "report", "preview", "--week", "2026-W48")
    assert shown.returncode == 0, shown.stderr
    text = flat(shown.stdout.decode())
    assert "FOR YOUR CONVERSATION" in text
    assert "Robin looked for help or recovery once this week" in text
    assert 'A good question to ask: "What kind of support would help most right now?"' in text


def test_the_wizard_sample_names_the_person(
    home_dir: Path, simulated_clock: ClockControl, capsys: pytest.CaptureFixture[str]
) -> None:
    """`candor init` shows the sample with the name just given, before it is journaled."""
    simulated_clock.at(BUILD_AT)
    Home.at(home_dir).ensure()
    assert main(["--home", str(home_dir), *INIT]) == 0
    said = flat(capsys.readouterr().out)
    sample = said[said.index("Candor weekly report") : said.index("You are asking")]
    assert "ask Robin to run `candor partner revoke`" in sample
    assert "the person" not in sample.lower()
    assert "FOR YOUR CONVERSATION" in sample


def test_commands_in_html_are_code_not_backticks(tmp_path: Path) -> None:
    """The report's and the invitation's HTML show a command as code, never as `backticks`;
    what is inside is escaped like any text; the text part keeps its backticks."""
    _, config = make_home(tmp_path / "words")
    built = report(tmp_path / "report", "Robin")
    for page in (built.html, words(config).html):
        visible = re.sub(r"<[^>]+>", "", page)
        assert "`" not in html.unescape(visible)
        assert f">{STOP_COMMAND}</code>" in page
    assert f"`{STOP_COMMAND}`" in built.text
    assert prose("run `a<b & c` or `x`, not ` this") == (
        f'run <code style="{CODE}">a&lt;b &amp; c</code> or <code style="{CODE}">x</code>, '
        "not ` this"
    )


def test_a_week_without_any_record_is_not_called_steady(tmp_path: Path) -> None:
    """Before Candor ever ran (a first report's preview), "All steady: Candor was watching"
    would say something nobody knows."""
    home, config = make_home(tmp_path / "home")
    with Journal(home.journal_file) as journal:
        built = build_report(home, config, journal, PERIOD, seq=1, prev_report_hash=None,
                             now=BUILD_AT)  # fmt: skip
    assert "Candor has no record of this week yet" in built.text
    assert "All steady" not in built.text and "All steady" not in built.html
