"""The week summary and the detail levels, from real journal files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent.cli.journal import format_event
from agent.journal import Journal
from reporter.build import build_report
from tests.report_helpers import BUILD_AT, MONDAY, PERIOD, make_home


def _fill(journal: Journal) -> None:
    def at(days: int, hours: int, minutes: int = 0):
        return MONDAY + timedelta(days=days, hours=hours, minutes=minutes)

    block = {"decision": "block", "category": "adult", "action": "block", "host": "bad.example"}
    warn = {"decision": "warn", "category": "gambling", "action": "warn", "host": "bet.example"}
    journal.append_many_raw(
        [
            # the week before: 3 blocks
            *[("decision", block, at(-3, 10, i)) for i in range(3)],
            # this week, Berlin time: Tue 22:xx twice, Thu 23:30, Sun 09:00
            ("decision", block, at(1, 22, 5)),
            ("decision", block, at(1, 22, 40)),
            ("decision", warn, at(3, 23, 30)),
            ("warn_continue", {"host": "bet.example", "category": "gambling"}, at(3, 23, 31)),
            ("unblock_request", {"host": "bad.example", "category": "adult"}, at(1, 22, 41)),
            ("decision", {**block, "decision": "log", "action": "log"}, at(6, 9)),
            ("decision", {**block, "decision": "allow", "host": "fine.example"}, at(6, 10)),
            (
                "search",
                {
                    "engine": "google",
                    "category": "adult",
                    "decision": "block",
                    "terms": "bad words",
                },
                at(2, 21),
            ),
            (
                "search",
                {
                    "engine": "google",
                    "category": None,
                    "decision": "allow",
                    "terms": "weather berlin",
                },
                at(2, 21, 5),
            ),
            ("pinned_passthrough", {"host": "bank.example"}, at(2, 8)),
        ]
    )


def test_counts_per_category_day_hour_streak_and_last_week(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home")
    with Journal(home.journal_file) as journal:
        _fill(journal)
        built = build_report(
            home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
        )
    s = built.document["summary"]
    assert s["totals"] == {"block": 2, "warn": 1, "log": 1}
    cats = {c["category"]: c for c in s["categories"]}
    assert cats["adult"] == {
        "category": "adult",
        "action": "block",
        "block": 2,
        "warn": 0,
        "log": 1,
    }
    assert cats["gambling"]["warn"] == 1
    # Sunday 22 November 18:00 to Sunday 29 November 18:00: eight calendar days, the first and
    # last partial
    assert [d["block"] + d["warn"] for d in s["days"]] == [0, 0, 2, 0, 1, 0, 0, 0]
    assert s["days"][1] == {
        "date": "2026-11-23", "weekday": "Mon", "block": 0, "warn": 0, "log": 0,
        "outside_period": False,
    }  # fmt: skip
    assert s["days"][0]["date"] == "2026-11-22" and s["days"][-1]["date"] == "2026-11-29"
    assert (
        s["hours"][22]["block"] == 2 and s["hours"][23]["warn"] == 1 and s["hours"][9]["log"] == 1
    )
    assert s["previous_week"] == {"block": 3, "warn": 0, "log": 0}
    assert s["streak_days"] == 5  # Wed to Sun after Tuesday's blocks
    assert s["warn_continues"] == 1 and s["unblock_requests"] == 1
    assert s["searches_flagged"] == 1
    assert "1 fewer blocked than last week" in built.text


def test_detail_levels_include_exactly_what_they_allow(tmp_path: Path) -> None:
    documents = {}
    for level in ("summary", "domains", "detailed"):
        home, config = make_home(tmp_path / level, level)
        with Journal(home.journal_file) as journal:
            _fill(journal)
            built = build_report(
                home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
            )
        documents[level] = built
    summary = documents["summary"].document
    assert "domains" not in summary and "searches" not in summary
    assert summary["integrity"]["pinned_passthroughs"] == {"count": 1, "hosts": None}
    for built in documents.values():
        assert "bad.example" not in built.text or built is not documents["summary"]
    assert "bad.example" not in documents["summary"].html
    assert "bad words" not in documents["summary"].text

    domains = documents["domains"].document
    assert "searches" not in domains
    hosts = {d["host"]: d for d in domains["domains"]}
    assert set(hosts) == {"bad.example", "bet.example"}  # never the allowed fine.example
    assert hosts["bad.example"]["times"] is None
    assert domains["integrity"]["pinned_passthroughs"]["hosts"] == ["bank.example"]
    assert "bad words" not in documents["domains"].text

    detailed = documents["detailed"].document
    assert len(detailed["domains"][0]["times"]) >= 1
    assert [q["terms"] for q in detailed["searches"]] == ["bad words"]  # not "weather berlin"
    assert "weather" not in documents["detailed"].text
    for built in documents.values():
        assert built.document["integrity"]["coverage"] is not None


def test_the_report_due_on_sunday_covers_the_seven_days_before_it(tmp_path: Path) -> None:
    from reporter import schedule

    _, config = make_home(tmp_path / "home")
    zone = config.report.zone()
    confirmed = BUILD_AT - timedelta(days=3)  # Thursday 3 December
    period = schedule.next_period(config.report, zone, since=confirmed, previous=None)
    assert period.end == BUILD_AT  # Sunday 6 December 18:00 Berlin
    assert period.start.isoformat() == "2026-11-29T18:00:00+01:00"
    assert period.end.isoformat() == "2026-12-06T18:00:00+01:00"
    assert period.id == "2026-12-06"
    after = schedule.next_period(
        config.report, zone, since=confirmed,
        previous=schedule.PreviousPeriod(end=period.end, due=period.end),
    )  # fmt: skip
    assert (after.start, after.end) == (period.end, period.end + timedelta(days=7))


HOSTILE_HOST = "\x1b[2J\x1b]0;owned\x07evil\u202etset.example"
"""A name a page could send: a terminal escape that clears the screen and sets its title, then a
right-to-left override that makes the rest read backwards."""


def test_a_hostile_host_is_shown_escaped_in_the_report_and_the_journal(tmp_path: Path) -> None:
    """Issue 12, item 14: control characters from pages are escaped wherever text is shown."""
    home, config = make_home(tmp_path / "home", "domains")
    block = {"decision": "block", "category": "adult", "action": "block", "host": HOSTILE_HOST}
    with Journal(home.journal_file) as journal:
        journal.append_raw("decision", block, ts=MONDAY + timedelta(days=1, hours=9))
        built = build_report(
            home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
        )
        shown = format_event(next(journal.events(kinds=["decision"])))
    assert [d["host"] for d in built.document["domains"]] == [HOSTILE_HOST]  # the record as is
    for text in (built.text, built.html, shown):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "\\x1b[2J\\x1b]0;owned\\x07evil\\u202etset.example" in text
    assert built.text.count("\n") > 10  # the report keeps its own line breaks


def test_names_looked_up_are_a_line_apart_not_visits(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home", "domains")
    lookup = {"decision": "block", "category": "adult", "action": "block", "via": "dns"}
    with Journal(home.journal_file) as journal:
        _fill(journal)
        journal.append_many_raw(
            [
                ("decision", {**lookup, "host": "prefetched.example"}, MONDAY + timedelta(5, 10)),
                ("decision", {**lookup, "host": "bad.example", "hosts": 4}, MONDAY + timedelta(5)),
            ]
        )
        built = build_report(
            home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
        )
    s = built.document["summary"]
    assert s["totals"] == {"block": 2, "warn": 1, "log": 1}  # as without the lookups
    assert s["streak_days"] == 5  # a name looked up on Saturday is not a block that day
    assert s["looked_up"] == 5
    assert "prefetched.example" not in {d["host"] for d in built.document["domains"]}
    line = "Blocked names looked up by a program: 5 (not visits"
    assert line in built.text and line in built.html
