"""A clean report must mean a clean week (issue 10): each test does what a determined person
would, then reads what the partner receives: the report's text, HTML and signed JSON.

- A report covers journal rows, not times: rows stamped outside its period (a clock set back or
  forward) are counted and listed as clock anomalies; a real agent under `faketime` shows it.
- A period is the seven days ending at the report day and time; periods meet end to start, even
  when the report's time zone changes, and after an upgrade from ISO-week reports.
- A stop of a few minutes while the computer is awake is listed with its length; coverage counts
  time without any record as not watched.
- Self-check findings read as plain sentences, never as the terms the agent journals.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from agent.config import Home, load_config, save_config
from agent.journal import Journal, canonical_json, clock
from agent.journal.events import BypassSuspected, ConfigChanged
from reporter import consent, render_text, schedule, signing
from reporter.build import BuiltReport, build_report, previous_from_document, report_hash
from reporter.delivery.messages import report_message
from reporter.delivery.outbox import NewMessage, Outbox, ReportRecord
from reporter.document import WEEK_SCHEMA, document_hash, read_document, signed_bytes
from tests.conftest import REPO
from tests.harness import faked_wall_clock
from tests.mail_server import MailServer
from tests.proxy_fixtures import LISTENING, RunningAgent
from tests.report_helpers import candor, heartbeats
from tests.report_helpers import make_home as report_home
from tests.test_delivery import W48_DUE, W49_DUE, at, sender
from tests.test_delivery import make_home as delivery_home

BLOCK = {"decision": "block", "category": "adult", "action": "block", "host": "bad.example"}


def moment(text: str) -> datetime:
    """A time in a document, to compare instants whatever zone each is written in."""
    return datetime.fromisoformat(text)


def words(text: str) -> str:
    """Text with its line wrapping undone, to find a sentence."""
    return " ".join(text.split())


def received_report(received: Any) -> tuple[dict[str, Any], str, str, dict[str, bytes]]:
    """(document, text, html, attachments) of a report email as the partner got it."""
    message: Message = received.message
    parts = {p.get_filename(): p.get_payload(decode=True) for p in message.iter_attachments()}
    [name] = [n for n in parts if n.endswith(".json") and ".signed." not in n]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return json.loads(parts[name]), text, html, parts


def save_attachments(parts: dict[str, bytes], folder: Path) -> Path:
    """The readable report (signature inside) saved in a folder, as a partner keeps them."""
    folder.mkdir(parents=True, exist_ok=True)
    [name] = [n for n in parts if n.endswith(".json") and ".signed." not in n]
    (folder / name).write_bytes(parts[name])
    return folder / name


# -- 1. rows, not times ---------------------------------------------------------------------


def start_agent_with_clock_back(home: Path, days: int) -> RunningAgent:
    """The real agent with its wall clock set back `days` days (libfaketime; the monotonic and
    boot clocks stay true, as with a clock changed in the system settings)."""
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1", **faked_wall_clock(f"-{days}d"),
    }  # fmt: skip
    argv = [sys.executable, "-m", "agent.cli", "--home", str(home), "run", "--listen",
            "127.0.0.1:0"]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, cwd=REPO, env=env,
    )  # fmt: skip
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True).start()
    found: list[re.Match[str]] = []
    reader = threading.Thread(
        target=lambda: found.extend(
            m for line in process.stdout or () if (m := LISTENING.match(line.strip()))
        ),
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + 60
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the agent did not start:\n" + "".join(errors))
        time.sleep(0.05)
    return RunningAgent(process, home, found[0].group(1), int(found[0].group(2)), errors)


def store_report(config: Any, journal: Journal, built: BuiltReport, seq: int) -> None:
    """Queue a built report in the outbox as the sender does (its webhook copy)."""
    message = report_message(config, "webhook", "https://partner.invalid/hook", built, seq)
    record = ReportRecord(
        seq=seq, period=built.period.id, hash=report_hash(built), prev_hash=None,
        detail_level="summary", needs_attention=built.needs_attention, late_reason=None,
        due_at=built.period.end, generated_at=built.period.end,
    )  # fmt: skip
    with Outbox(journal) as outbox:
        assert outbox.add_report(record, [message])


def test_a_real_agent_with_its_clock_set_back_two_weeks_is_in_the_next_report(
    tmp_path: Path,
) -> None:
    home, config = report_home(tmp_path / "home")
    now = datetime.now(UTC)
    assert candor(home.root, "rules", "add", "adult", "bad.example").returncode == 0
    with Journal(home.journal_file, clock=lambda: now - timedelta(days=20)) as journal:
        for change in ("given", "confirmed"):
            consent.record(journal, change, name="Alex", email="alex@example.org", level="summary")
    # the last report: the seven days up to the latest report time, sent then
    zone = config.report.zone()
    end = schedule.report_time_after(now - timedelta(days=7), config.report, zone)
    last = schedule.ReportPeriod(schedule.seven_days_before(end, zone), end, zone)
    with Journal(home.journal_file) as journal:
        state = consent.consent_state(journal)
        first = build_report(home, config, journal, last, seq=1, prev_report_hash=None, now=now,
                             confirmed_seq=state.confirmed_seq)  # fmt: skip
        store_report(config, journal, first, 1)

    # two weeks back: a blocked page, and a rule removed, both stamped before the last report
    # (which starts at most fourteen days ago, whatever the weekday and hour of this run)
    agent = start_agent_with_clock_back(home.root, 15)
    try:
        proxy = f"http://{agent.host}:{agent.port}"
        blocked = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy,
             "http://bad.example/"], capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert blocked.stdout == "403"
        agent.wait_for_event("decision", lambda e: e.get("host") == "bad.example")
        (home.rules_dir / "adult.txt").write_text(
            (home.rules_dir / "adult.txt").read_text().replace("bad.example\n", "")
        )
        agent.wait_for_event("rules_changed", lambda e: bool(e["changes"][0].get("loosening")))
    finally:
        assert agent.stop() == 0
    with Journal(home.journal_file) as journal:
        stamped = [e.time for e in journal.events(kinds=["decision"])]
    assert stamped and all(t < last.start for t in stamped), "stamped before the last report"

    preview = candor(home.root, "report", "preview", "--format", "json")
    assert preview.returncode == 0, preview.stderr
    document = json.loads(preview.stdout)
    text = words(candor(home.root, "report", "preview").stdout.decode())
    html = candor(home.root, "report", "preview", "--format", "html").stdout.decode()
    assert moment(document["period"]["start"]) == last.end
    assert document["rows"]["after_seq"] == first.document["chain_head"]["seq"]
    assert document["summary"]["totals"]["block"] == 1
    assert any(d["outside_period"] and d["block"] == 1 for d in document["summary"]["days"])
    [anomaly] = document["integrity"]["clock_anomalies"]
    assert anomaly["side"] == "before" and anomaly["decisions"] == 1 and anomaly["count"] >= 3
    assert [c["description"] for c in document["integrity"]["loosening"]] == [
        "1 rule removed from adult"
    ]
    assert "1 blocked · 0 warned · 0 noted" in text
    assert re.search(
        r"\d+ events were stamped up to \d+ days before this week: the computer's clock was "
        r"probably set back\. They include 1 blocked, warned or noted page, counted above\.",
        text,
    ), text
    assert "1 rule removed from adult" in text
    assert "No changes made filtering less strict" not in text
    assert "set back" in html and "1 rule removed from adult" in html


@pytest.mark.usefixtures("simulated_clock")
def test_a_report_covers_rows_whatever_time_they_carry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = delivery_home(tmp_path, monkeypatch, mail=mail)  # confirmed Wednesday 2 December
    with Journal(home.journal_file) as journal:
        journal.append_many_raw(
            [
                ("decision", BLOCK, datetime(2026, 12, 3, 20, tzinfo=UTC)),
                ("decision", BLOCK, datetime(2026, 12, 18, 21, tzinfo=UTC)),  # clock forward
                ("decision", BLOCK, datetime(2026, 12, 5, 22, tzinfo=UTC)),  # and back
            ]
        )
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == ["2026-12-06"]
        # written after the period ended: the next report's; then the clock set back a week
        s.journal.append_raw("decision", BLOCK, ts=W48_DUE + timedelta(minutes=30))
        s.journal.append_raw("decision", BLOCK, ts=datetime(2026, 11, 25, 10, tzinfo=UTC))
        at(W49_DUE + timedelta(minutes=1))
        assert s.run_once().built == ["2026-12-13"]
    first, second = (received_report(r) for r in mail.sink.wait_for(2))
    one, text_one, html_one, parts_one = first
    two, text_two, _, parts_two = second

    assert one["schema"] == "candor.report/2"
    assert one["period"] == {
        "start": "2026-11-29T18:00:00+00:00", "end": "2026-12-06T18:00:00+00:00",
        "timezone": "UTC",
    }  # fmt: skip
    assert "29 Nov 18:00 – 6 Dec 18:00 (UTC)" in text_one
    assert "29 Nov 18:00 – 6 Dec 18:00" in html_one
    assert one["summary"]["totals"]["block"] == 3
    assert one["summary"]["hours"][21]["block"] == 1
    outside = [d for d in one["summary"]["days"] if d["outside_period"]]
    assert [(d["date"], d["block"]) for d in outside] == [("2026-12-18", 1)]
    assert [d["date"] for d in one["summary"]["days"] if not d["outside_period"]] == [
        f"2026-{m:02d}-{d:02d}" for m, d in ((11, 29), (11, 30), *((12, n) for n in range(1, 7)))
    ]
    assert [a["side"] for a in one["integrity"]["clock_anomalies"]] == ["after"]
    assert (
        "1 event was stamped up to 12 days after this week: the computer's clock was probably "
        "set forward." in words(text_one)
    )

    assert two["rows"]["after_seq"] == one["chain_head"]["seq"]
    assert moment(two["period"]["start"]) == moment(one["period"]["end"])
    assert two["summary"]["totals"]["block"] == 2
    assert [a["side"] for a in two["integrity"]["clock_anomalies"]] == ["before"]
    assert "1 event was stamped up to 11 days before this week" in words(text_two)

    earlier = tmp_path / "partner"
    save_attachments(parts_one, earlier)
    latest = save_attachments(parts_two, tmp_path / "new")
    checked = candor(home.root, "verify", str(latest), "--previous", str(earlier))
    assert checked.returncode == 0, checked.stdout
    assert b"report #2 covers Candor's record from where #1 ended" in checked.stdout


def test_verify_fails_when_a_report_leaves_rows_out(tmp_path: Path) -> None:
    home, config = report_home(tmp_path / "home")
    day = date(2026, 11, 29)
    with Journal(home.journal_file) as journal:
        heartbeats(journal, datetime(2026, 11, 25, tzinfo=UTC), 30, mono=100, boot=100)
        period = schedule.period_ending_on(day, config.report, config.report.zone())
        one = build_report(home, config, journal, period, seq=1, prev_report_hash=None,
                           now=period.end)  # fmt: skip
        heartbeats(journal, datetime(2026, 11, 30, tzinfo=UTC), 30, mono=5000, boot=5000)
        following = schedule.period_ending_on(day + timedelta(days=7), config.report, period.zone)
        # the outbox's copy of report 1 edited to claim it went further into the journal
        forged = {**one.document, "chain_head": {"seq": 45, "hash": "0" * 64}}
        two = build_report(
            home, config, journal, following, seq=2, prev_report_hash=report_hash(one),
            now=following.end, previous=previous_from_document(forged, 1),
        )  # fmt: skip
    inbox, new = tmp_path / "inbox", tmp_path / "new"
    for built, folder in ((one, inbox), (two, new)):
        folder.mkdir()
        (folder / f"candor-report-{built.period.id}.json").write_bytes(built.json_bytes)
    result = candor(home.root, "verify", str(new / "candor-report-2026-12-06.json"),
                    "--previous", str(inbox))  # fmt: skip
    assert result.returncode == 1
    assert b"does not start where report #1 ended" in result.stdout


# -- 2 and 3. periods, and a changed time zone ---------------------------------------------


@pytest.mark.usefixtures("simulated_clock")
def test_a_changed_time_zone_leaves_no_hour_unreported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = delivery_home(tmp_path, monkeypatch, mail=mail)  # reports on Sunday 18:00 UTC
    hours = [W48_DUE - timedelta(hours=3) + timedelta(hours=h) for h in range(15 * 24)]
    with Journal(home.journal_file) as journal:
        journal.append_many_raw([("decision", BLOCK, t) for t in hours if t <= W48_DUE])
    at(W48_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == ["2026-12-06"]
        # the person moves the report to Tokyo time; the agent journals the change
        config = load_config(home)
        config.report.timezone = "Asia/Tokyo"
        save_config(home, config)
        zone = {"what": "report.timezone", "from": "UTC", "to": "Asia/Tokyo", "loosening": False}
        s.journal.append(ConfigChanged(changes=[zone]))
        tokyo_sunday = datetime(2026, 12, 13, 9, tzinfo=UTC)  # 18:00 in Tokyo
        s.journal.append_many_raw(
            [("decision", BLOCK, t) for t in hours if W48_DUE < t <= tokyo_sunday]
        )
        at(tokyo_sunday + timedelta(minutes=1))
        assert s.run_once().built == ["2026-12-13"]
        s.journal.append_many_raw([("decision", BLOCK, t) for t in hours if t > tokyo_sunday])
        at(tokyo_sunday + timedelta(days=7, minutes=1))
        assert s.run_once().built == ["2026-12-20"]
    reports = [received_report(r) for r in mail.sink.wait_for(3)]
    documents = [r[0] for r in reports]
    for before, after in itertools.pairwise(documents):
        assert moment(after["period"]["start"]) == moment(before["period"]["end"])
        assert after["rows"]["after_seq"] == before["chain_head"]["seq"]
    assert documents[1]["period"]["end"] == "2026-12-13T18:00:00+09:00"
    total = sum(d["summary"]["totals"]["block"] for d in documents)
    covered = [t for t in hours if t < datetime(2026, 12, 20, 9, tzinfo=UTC)]
    assert total == len(covered), "every hour is in exactly one report"
    assert all(not d["integrity"]["clock_anomalies"] for d in documents)
    text = words(reports[1][1])
    assert documents[1]["integrity"]["zone_changes"][0]["current"] == "Asia/Tokyo"
    assert "the report's time zone changed from UTC to Asia/Tokyo" in text
    assert "This report covers 6 days 15 hours, not seven days" in text
    assert "Changes that made filtering stricter" not in text


@pytest.mark.usefixtures("simulated_clock")
def test_an_upgrade_from_iso_week_reports_continues_where_the_last_week_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mail: MailServer
) -> None:
    home = delivery_home(tmp_path, monkeypatch, mail=mail)
    monday = datetime(2026, 11, 30, tzinfo=UTC)  # where the old report's ISO week 48 ended
    with Journal(home.journal_file, clock=clock.now) as journal:
        journal.append_many_raw(
            [("decision", BLOCK, monday + timedelta(days=d, hours=20)) for d in (1, 3, 5)]
        )
        at(W48_DUE + timedelta(seconds=30))
        old = week_report(home, journal, "2026-W48")
        # the old sender queued and sent it (its copy is what the next report starts from)
        body = canonical_json({"type": "candor.report.weekly", "data": {"document": old}})
        message = NewMessage("report:2026-W48:1:webhook", "report", "webhook",
                             "https://partner.invalid/hook", "<r1@x>", "old", body, 1)  # fmt: skip
        record = ReportRecord(
            seq=1, period="2026-W48", hash=document_hash(old), prev_hash=None,
            detail_level="summary", needs_attention=False, late_reason=None, due_at=W48_DUE,
            generated_at=W48_DUE,
        )  # fmt: skip
        with Outbox(journal) as outbox:
            assert outbox.add_report(record, [message])
            outbox.mark_sent(outbox.rows()[0])
        journal.append_raw("decision", BLOCK, ts=W48_DUE + timedelta(days=3))
    at(W49_DUE + timedelta(minutes=1))
    with sender(home) as s:
        assert s.run_once().built == ["2026-12-13"]
    [received] = mail.sink.wait_for(1)
    document, text, _, parts = received_report(received)
    assert document["period"]["start"] == "2026-11-30T00:00:00+00:00"
    assert document["period"]["end"] == "2026-12-13T18:00:00+00:00"
    assert document["rows"]["after_seq"] < old["chain_head"]["seq"]
    assert document["summary"]["totals"]["block"] == 4, "1, 3, 5 and 9 December"
    assert "covers 13 days 18 hours, not seven days" in words(text)
    inbox = tmp_path / "partner"
    inbox.mkdir()
    (inbox / "candor-report-2026-W48.json").write_text(json.dumps(old))
    latest = save_attachments(parts, tmp_path / "new")
    checked = candor(home.root, "verify", str(latest), "--previous", str(inbox))
    assert checked.returncode == 0, checked.stdout
    assert candor(home.root, "verify", str(inbox / "candor-report-2026-W48.json")).returncode == 0


def week_report(home: Home, journal: Journal, week: str) -> dict[str, Any]:
    """A report as Candor built them before periods (`candor.report/1`, one ISO week), signed
    with this home's key, its chain head the journal's head then."""
    config = load_config(home)
    period = schedule.period_ending_in_week(week, config.report, config.report.zone())
    built = build_report(home, config, journal, period, seq=1, prev_report_hash=None,
                         now=clock.now())  # fmt: skip
    old = {k: v for k, v in built.document.items() if k not in ("signature", "rows")}
    start, end = schedule.week_bounds(week, config.report.zone())
    old["schema"] = WEEK_SCHEMA
    old["period"] = {"week": week, "start": start.isoformat(), "end": end.isoformat(),
                     "timezone": "UTC"}  # fmt: skip
    integrity = {
        k: v for k, v in old["integrity"].items() if k not in ("clock_anomalies", "zone_changes")
    }
    integrity["coverage"] = {
        k: v for k, v in integrity["coverage"].items() if k != "no_record_minutes"
    }
    old["integrity"] = integrity
    old["summary"] = {
        **old["summary"],
        "days": [{k: v for k, v in d.items() if k != "outside_period"}
                 for d in old["summary"]["days"]],
    }  # fmt: skip
    head = journal.head()
    assert head is not None
    old["chain_head"] = {"seq": head.seq, "hash": head.hash}
    key = signing.load_private_key(home)
    old["signature"] = signing.signature_field(key, signing.sign_raw(key, signed_bytes(old)))
    assert read_document(old).schema_ == WEEK_SCHEMA
    return old


# -- 4. stops and coverage -----------------------------------------------------------------


def stopped_for(minutes: float, *, clean: bool) -> Any:
    """A journal where Candor, running since Tuesday 1 December 20:00 Berlin, stopped at 21:14
    for `minutes` while the computer stayed awake, then ran again."""

    def fill(journal: Journal) -> None:
        run_from = datetime(2026, 12, 1, 19, 0, 30, tzinfo=UTC)  # 20:00:30 Berlin
        mono, boot = heartbeats(journal, run_from, 74, mono=9000, boot=9000)  # to 21:13:30
        stop = datetime(2026, 12, 1, 20, 14, tzinfo=UTC)  # 21:14 Berlin
        if clean:
            journal.append_raw("agent_stop", {"version": "1", "clean": True}, ts=stop)
        start = stop + timedelta(minutes=minutes)
        journal.append_raw(
            "agent_start",
            {"version": "1", "rules_fingerprint": "x", "previous_stop_clean": clean},
            ts=start,
        )
        gap = (start - (run_from + timedelta(minutes=73))).total_seconds()
        heartbeats(journal, start, 60, mono=mono + gap, boot=boot + gap)

    return fill


@pytest.mark.parametrize(
    ("minutes", "clean", "sentence"),
    [
        (3, True, "Candor was stopped for 3 minutes on Tue 1 Dec at 21:14."),
        (0.7, True, "Candor was stopped for less than a minute on Tue 1 Dec at 21:14."),
        (4, False, "Candor stopped unexpectedly and was not running for 4 minutes on Tue 1 Dec"),
    ],
)
def test_a_short_stop_while_awake_is_listed_with_its_length(
    tmp_path: Path, minutes: float, clean: bool, sentence: str
) -> None:
    home, config = report_home(tmp_path / "home")
    period = schedule.period_ending_on(date(2026, 12, 6), config.report, config.report.zone())
    with Journal(home.journal_file) as journal:
        stopped_for(minutes, clean=clean)(journal)
        built = build_report(home, config, journal, period, seq=1, prev_report_hash=None,
                             now=period.end)  # fmt: skip
    [stop] = [g for g in built.document["integrity"]["gaps"] if g["kind"] == "agent_stopped"]
    assert stop["flagged"] is True and stop["minutes"] == int(minutes)
    assert stop["awake_minutes"] == int(minutes)
    assert sentence in words(built.text)
    assert sentence in words(built.html)
    assert "Candor was stopped once while the computer was on." in built.text


def test_a_stop_across_two_reports_is_listed_once_with_its_length(tmp_path: Path) -> None:
    home, config = report_home(tmp_path / "home")
    zone = config.report.zone()
    first = schedule.period_ending_on(date(2026, 12, 6), config.report, zone)
    with Journal(home.journal_file) as journal:
        # running up to 17:58:30 Berlin, stopped at 17:59, started again at 18:02
        mono, boot = heartbeats(journal, first.end - timedelta(minutes=60, seconds=30), 60,
                                mono=500, boot=500)  # fmt: skip
        journal.append_raw("agent_stop", {"version": "1", "clean": True},
                           ts=first.end - timedelta(minutes=1))  # fmt: skip
        one = build_report(home, config, journal, first, seq=1, prev_report_hash=None,
                           now=first.end)  # fmt: skip
        start = first.end + timedelta(minutes=2)
        journal.append_raw("agent_start", {"version": "1", "previous_stop_clean": True}, ts=start)
        heartbeats(journal, start, 30, mono=mono + 210, boot=boot + 210)
        second = schedule.period_after(
            schedule.PreviousPeriod(first.end, first.end), config.report, zone
        )
        two = build_report(home, config, journal, second, seq=2, now=second.end,
                           prev_report_hash=report_hash(one),
                           previous=previous_from_document(one.document, 1))  # fmt: skip
    assert not [g for g in one.document["integrity"]["gaps"] if g["kind"] == "agent_stopped"]
    [stop] = [g for g in two.document["integrity"]["gaps"] if g["kind"] == "agent_stopped"]
    assert stop["minutes"] == 3
    assert "Candor was stopped for 3 minutes on Sun 6 Dec at 17:59." in words(two.text)


def test_coverage_counts_time_without_any_record_as_not_watched(tmp_path: Path) -> None:
    home, config = report_home(tmp_path / "home")
    period = schedule.period_ending_on(date(2026, 12, 6), config.report, config.report.zone())
    with Journal(home.journal_file) as journal:
        journal.append_raw("agent_start", {"version": "1"}, ts=period.start - timedelta(days=3))
        # watching from the period's start for 53 hours, then nothing for 115 hours
        heartbeats(journal, period.start, 53 * 60, mono=100, boot=100)
        built = build_report(home, config, journal, period, seq=1, prev_report_hash=None,
                             now=period.end)  # fmt: skip
    coverage = built.document["integrity"]["coverage"]
    assert coverage["monitored_minutes"] >= 53 * 60 - 2
    assert coverage["no_record_minutes"] >= 114 * 60
    assert coverage["percent"] == 31
    text = words(built.text)
    assert "(31%): for 4 days 19 hours of it Candor has no record at all" in text
    assert "Candor was not watching for about 4 days 19 hours of this week." in text
    assert "(100%)" not in text


# -- 5. self-check findings in plain words -------------------------------------------------

RAW_TERMS = ("proxy unset", "CA untrusted", "canary failed", "policy missing",
             "no traffic while awake", "DoH")  # fmt: skip


@pytest.mark.parametrize("level", ["summary", "domains"])
def test_self_check_findings_reach_the_partner_as_plain_sentences(
    tmp_path: Path, level: str
) -> None:
    home, config = report_home(tmp_path / "home", level)
    period = schedule.period_ending_on(date(2026, 12, 6), config.report, config.report.zone())
    at_ = period.start + timedelta(days=1)
    found = ("proxy unset", "CA untrusted", "canary failed", "policy missing")
    problems = [{"what": w, "detail": f"what the check saw ({i})"} for i, w in enumerate(found)]
    with Journal(home.journal_file, clock=lambda: at_) as journal:
        journal.append(BypassSuspected(what="proxy unset", problems=problems, source="self-check"))
        quiet = "no traffic while awake"
        journal.append(BypassSuspected(what=quiet, detail="quiet for 3 hours", source="self-check"))
        journal.append(BypassSuspected(what="DoH", host="dns.example", detail="DoH request"))
        built = build_report(home, config, journal, period, seq=1, prev_report_hash=None,
                             now=period.end)  # fmt: skip
    assert [b["what"] for b in built.document["integrity"]["bypass"]] == [
        "proxy unset", "CA untrusted", "canary failed", "policy missing",
        "no traffic while awake", "DoH",
    ]  # fmt: skip
    for rendering in (words(built.text), words(built.html.replace("&#x27;", "'"))):
        for term in RAW_TERMS:
            sentence = render_text.BYPASS_WORDS[term]
            assert sentence in rendering, sentence
        for term in RAW_TERMS:
            assert term not in rendering, term


def module_strings(tree: ast.Module) -> dict[str, str]:
    """A module's top-level `NAME = "text"` constants."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        if isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def journaled_terms(tree: ast.Module, constants: dict[str, str]) -> set[str]:
    """The terms a module journals: `Finding("...")`, `what="..."`, or a constant holding one."""

    def term(value: ast.expr) -> str | None:
        if isinstance(value, ast.Constant):
            return str(value.value)
        if isinstance(value, ast.Name):
            return constants.get(value.id)
        if isinstance(value, ast.Attribute):
            return constants.get(value.attr)
        return None

    terms: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if callee == "Finding" and node.args and (found := term(node.args[0])):
            terms.add(found)
        for keyword in node.keywords:
            if keyword.arg == "what" and (found := term(keyword.value)):
                terms.add(found)
    return terms


def test_every_finding_the_agent_can_journal_has_a_sentence() -> None:
    """The terms the self-check and the filter journal each have a plain sentence in
    `render_text.BYPASS_WORDS`; add one there for a new term."""
    sources = [
        "installers/checks.py",
        "agent/health/selfcheck.py",
        "agent/health/proxy_owner.py",
        "agent/proxy/addons/doh.py",
    ]
    trees = {name: ast.parse((REPO / name).read_text()) for name in sources}
    constants = {k: v for tree in trees.values() for k, v in module_strings(tree).items()}
    terms = set().union(*(journaled_terms(tree, constants) for tree in trees.values()))
    assert terms >= set(RAW_TERMS) | {"proxy taken over"}
    assert terms <= set(render_text.BYPASS_WORDS), terms - set(render_text.BYPASS_WORDS)
