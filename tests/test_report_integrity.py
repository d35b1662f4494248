"""Gap classification from recorded heartbeat sequences, and journal tampering showing in the
next report's integrity section."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.journal import Journal, record_hash
from reporter.build import build_report
from reporter.coverage import coverage_and_gaps
from reporter.schedule import PreviousPeriod
from reporter.scope import PreviousReport, Scope
from tests.report_helpers import BUILD_AT, MONDAY, PERIOD, ZONE, heartbeats, make_home

START = MONDAY + timedelta(days=1, hours=9)  # Tuesday 09:00 Berlin


def _scope(journal: Journal) -> Scope:
    """Every row, over the stretch the heartbeats span (so there is no time without a record)."""
    head = journal.head()
    assert head is not None
    return Scope(START, START + timedelta(days=7), ZoneInfo(ZONE), head.time, 0, head.seq)


def _gaps(journal: Journal):
    coverage, gaps = coverage_and_gaps(journal, _scope(journal))
    return coverage, [g for g in gaps if g.kind != "no_data"]


def _previous(head, key=None) -> PreviousReport:
    """A report before PERIOD that ended at journal row `head`."""
    end = PERIOD.start
    return PreviousReport(1, PreviousPeriod(end, end), head, key, None)


def test_sleep_is_not_flagged(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        mono, boot = heartbeats(journal, START, 60, mono=5000, boot=5000)
        # two hours asleep: boottime advances, monotonic does not
        after = START + timedelta(minutes=59 + 120)
        heartbeats(journal, after, 60, mono=mono + 60, boot=boot + 120 * 60)
        coverage, gaps = _gaps(journal)
    assert [(g.kind, g.flagged) for g in gaps] == [("asleep", False)]
    assert gaps[0].asleep_minutes >= 118
    assert coverage.percent == 100


def test_shutdown_shows_as_off_and_a_slow_start_as_not_running(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        heartbeats(journal, START, 30, mono=5000, boot=5000)
        # off for 3 hours; after boot Candor started 2 minutes in: not flagged
        heartbeats(journal, START + timedelta(hours=3), 30, mono=120, boot=120, boot_id="boot-2")
        # off again; this time Candor started 40 minutes after the computer did
        heartbeats(journal, START + timedelta(hours=6), 30, mono=2400, boot=2400, boot_id="boot-3")
        coverage, gaps = _gaps(journal)
    kinds = [(g.kind, g.flagged) for g in gaps]
    assert kinds == [("off", False), ("off", False), ("agent_not_running", True)]
    assert gaps[2].awake_minutes == 40
    assert coverage.awake_minutes == coverage.monitored_minutes + 40


def test_stopped_agent_while_awake_is_flagged(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        mono, boot = heartbeats(journal, START, 60, mono=5000, boot=5000)
        # 90 minutes awake with no heartbeats: both clocks advance together
        after = START + timedelta(minutes=59 + 90)
        heartbeats(journal, after, 60, mono=mono + 90 * 60, boot=boot + 90 * 60)
        coverage, gaps = _gaps(journal)
    assert [(g.kind, g.flagged) for g in gaps] == [("agent_not_running", True)]
    assert gaps[0].awake_minutes == 89
    assert coverage.percent is not None and coverage.percent < 60


def test_clock_change_is_flagged(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        mono, boot = heartbeats(journal, START, 60, mono=5000, boot=5000)
        # the wall clock jumps 3 hours ahead while one minute really passed
        heartbeats(
            journal, START + timedelta(minutes=60), 30, mono=mono + 60, boot=boot + 60,
            wall_offset=3 * 3600,
        )  # fmt: skip
        _, gaps = _gaps(journal)
    assert [(g.kind, g.flagged) for g in gaps] == [("clock_changed", True)]
    assert "forward" in gaps[0].note


def _by_hand(home) -> sqlite3.Connection:
    """A plain connection, as someone editing the file by hand would use; trigger dropped."""
    conn = sqlite3.connect(home.journal_file)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only")
    return conn


def _report(home, config, seq, prev=None, head=None):
    with Journal(home.journal_file) as journal:
        return build_report(
            home, config, journal, PERIOD, seq=seq, prev_report_hash=prev, now=BUILD_AT,
            previous=_previous(head) if head else None,
        )  # fmt: skip


def _journal_with_events(home) -> None:
    with Journal(home.journal_file) as journal:
        heartbeats(journal, START, 120, mono=5000, boot=5000)


def test_edited_and_deleted_rows_show_in_the_next_report(tmp_path: Path) -> None:
    for damage in ("edit", "delete"):
        home, config = make_home(tmp_path / damage)
        _journal_with_events(home)
        first = _report(home, config, 1)
        assert first.document["integrity"]["journal"]["ok"] is True
        with _by_hand(home) as conn:
            if damage == "edit":
                conn.execute("UPDATE events SET body = '{\"wall\":1}' WHERE seq = 10")
            else:
                conn.execute("DELETE FROM events WHERE seq = 10")
        second = _report(home, config, 2, first.document["signature"]["value"],
                         first.document["chain_head"])  # fmt: skip
        check = second.document["integrity"]["journal"]
        assert check["ok"] is False and check["first_bad_seq"] in (10, 11)
        assert second.needs_attention
        assert "changed after it was written" in second.text


def test_a_rewritten_chain_no_longer_matches_the_previous_report(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home")
    _journal_with_events(home)
    first = _report(home, config, 1)
    head = first.document["chain_head"]
    # rewrite history consistently: change an early row and re-hash every row after it
    with _by_hand(home) as conn:
        rows = conn.execute("SELECT seq, ts, kind, body, prev_hash FROM events ORDER BY seq")
        rows = rows.fetchall()
        prev = rows[0][4]
        for seq, ts, kind, body, _ in rows:
            if seq == 5:
                body = body.replace('"boot-1"', '"boot-x"')
            digest = record_hash(seq, ts, kind, json.loads(body), prev)
            conn.execute(
                "UPDATE events SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (body, prev, digest, seq),
            )
            prev = digest
    with Journal(home.journal_file) as journal:
        assert journal.verify().ok  # the chain alone cannot tell
    second = _report(home, config, 2, "x" * 64, head)
    check = second.document["integrity"]["journal"]
    assert check["ok"] is True and check["extends_previous"] is False
    assert "no longer matches" in second.text
    assert second.needs_attention


def test_loosening_pending_allows_bypass_consent_and_key_in_the_section(tmp_path: Path) -> None:
    at = START + timedelta(hours=1)
    pending = {
        "pending": [
            {"what": "rule_removed", "category": "adult", "value": "bad.example",
             "held": "", "source": "adult.txt:3", "since": at.isoformat(),
             "until": (BUILD_AT + timedelta(hours=20)).isoformat()},
            {"what": "allowlist_added", "category": None, "value": "old.example", "held": "",
             "since": at.isoformat(), "until": (BUILD_AT - timedelta(hours=1)).isoformat()},
        ]
    }  # fmt: skip
    built = {}
    for level in ("summary", "domains"):
        home, config = make_home(tmp_path / level, level)
        with Journal(home.journal_file) as journal:
            journal.append_many_raw(
                [
                    ("rules_applied", {"fingerprint": "f", "rules": {}, "lists": {},
                                       "settings": None, "pending": pending["pending"]}, at),
                    ("consent_changed", {"change": "given", "level": level,
                                         "partner": {"name": "Alex",
                                                     "email": "alex@example.org"}}, at),
                    ("rules_changed", {"while_stopped": True, "changes": [
                        {"category": "adult", "tightening": ["new.example"],
                         "loosening": ["bad.example"], "appeared": False, "disappeared": False,
                         "pending_until": {"bad.example": pending["pending"][0]["until"]}}]},
                     at + timedelta(minutes=1)),
                    ("config_changed", {"changes": [
                        {"what": "categories.gambling.action", "from": "block", "to": "warn",
                         "loosening": True, "pending_until": None},
                        {"what": "allowlist", "from": None, "to": "ok.example",
                         "loosening": True, "pending_until": None},
                        {"what": "safesearch.enabled", "from": False, "to": True,
                         "loosening": False}]}, at + timedelta(minutes=2)),
                    ("allow_granted", {"host": "false-positive.example", "duration": "15m",
                                       "seconds": 900, "until": "x"}, at + timedelta(minutes=3)),
                    ("bypass_suspected", {"what": "DoH", "host": "dns.example",
                                          "detail": "DoH request"}, at + timedelta(minutes=4)),
                    ("agent_start", {"version": "1", "previous_stop_clean": False},
                     at + timedelta(minutes=5)),
                    ("report_failed", {"seq": 1, "channel": "email", "reason": "down"},
                     at + timedelta(minutes=6)),
                ]
            )  # fmt: skip
            built[level] = build_report(
                home, config, journal, PERIOD, seq=2, prev_report_hash="0" * 64, now=BUILD_AT,
                previous=_previous({"seq": 1, "hash": "f" * 64}, "SHA256:old"),
            )  # fmt: skip
    summary = built["summary"].document["integrity"]
    assert [c["kind"] for c in summary["loosening"]] == [
        "rules", "setting", "setting", "temporary_allow",
    ]  # fmt: skip
    assert summary["loosening"][0]["pending_until"] is not None
    assert summary["loosening"][0]["while_stopped"] is True
    assert summary["tightening"] == 2
    assert all(c["detail"] is None for c in summary["loosening"])
    assert [p["description"] for p in summary["pending"]] == ["a rule is being removed"]
    assert summary["bypass"] == [
        {"time": summary["bypass"][0]["time"], "what": "DoH", "detail": None}
    ]
    assert summary["agent"] == {"starts": 1, "unclean_stops": 1}
    assert summary["delivery_failures"] == 1
    assert summary["consent"]["last_given"].startswith("2026-11-24T09:00")
    assert summary["signing_key"]["changed_since_previous_report"] is True
    assert summary["journal"]["extends_previous"] is False  # row 1 has another hash
    text = " ".join(built["summary"].text.split())  # lines are wrapped
    for words in ("1 rule removed from adult", "gambling: changed from block to warn",
                  "let through for 15m", "signed with a new key", "DNS over HTTPS"):  # fmt: skip
        assert words.lower() in text.lower(), words
    for secret in ("bad.example", "ok.example", "false-positive.example", "dns.example"):
        assert secret not in text and secret not in built["summary"].html

    domains = built["domains"].document["integrity"]
    assert domains["loosening"][0]["detail"] == ["bad.example"]
    assert domains["loosening"][2]["detail"] == ["ok.example"]
    assert domains["loosening"][3]["detail"] == ["false-positive.example"]
    assert domains["pending"][0]["detail"] == ["bad.example"]
    assert "false-positive.example" in built["domains"].text


def test_the_next_report_finds_the_previous_one_in_the_outbox(tmp_path: Path) -> None:
    from reporter.build import previous_report, report_hash
    from reporter.delivery.messages import report_email
    from reporter.delivery.outbox import NewMessage, Outbox, ReportRecord

    home, config = make_home(tmp_path / "home")
    config = config.model_copy(
        update={"delivery": config.delivery.model_copy(
            update={"smtp": config.delivery.smtp.model_copy(
                update={"host": "127.0.0.1", "sender": "sam@example.org"})})}
    )  # fmt: skip
    _journal_with_events(home)
    first = _report(home, config, 1)
    with Journal(home.journal_file) as journal:
        outbox = Outbox(journal)
        try:
            mail = report_email(config, first, to="alex@example.org", message_id="<r1@x>", seq=1)
            message = NewMessage(
                "report:1:email", "report", "email", "alex@example.org", "<r1@x>", "subject",
                mail.as_bytes(), 1,
            )  # fmt: skip
            record = ReportRecord(
                seq=1, period=PERIOD.id, hash=report_hash(first), prev_hash=None,
                detail_level="summary", needs_attention=False, late_reason=None,
                due_at=BUILD_AT, generated_at=BUILD_AT,
            )  # fmt: skip
            assert outbox.add_report(record, [message])
        finally:
            outbox.close()
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        previous = previous_report(journal, outbox.last_report(), PERIOD.zone)
    with Journal(home.journal_file) as journal:
        second = build_report(home, config, journal, PERIOD, seq=2, now=BUILD_AT,
                              prev_report_hash=report_hash(first), previous=previous)  # fmt: skip
    check = second.document["integrity"]["journal"]
    assert check["previous_chain_head"] == first.document["chain_head"]
    assert check["extends_previous"] is True
    assert second.document["integrity"]["signing_key"]["changed_since_previous_report"] is False
    assert not second.needs_attention or "Candor was not watching" in second.text
