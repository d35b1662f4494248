"""`candor status`: running or not, today's counts, what waits, and problems with their fixes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import Home, load_config
from agent.health.status import COUNTED_KINDS, collect
from agent.health.status_text import KIND_WORDS, format_status, kind_words
from agent.journal import Journal
from agent.policy.ledger import add_grant
from agent.policy.rulebook import load_rules, remember_applied
from tests.conftest import candor


@pytest.fixture
def home(home_dir: Path) -> Home:
    home = Home.at(home_dir)
    home.ensure()
    return home


@pytest.fixture
def candor_like() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line names candor, standing in for the agent."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "candor", "run"])
    yield proc
    proc.kill()
    proc.wait()


def problems(home: Home, **kw) -> str:
    return " | ".join(p.what for p in collect(home, **kw).problems)


def test_a_fresh_home_is_not_running_and_says_how_to_start(home: Home) -> None:
    status = collect(home)
    assert status.agent.running is False and status.agent.stale_pid_file is False
    assert [row["category"] for row in status.categories] == ["adult", "bypass", "gambling"]
    assert status.problems[0].fix.startswith("Start it with `candor run`")
    text = "\n".join(format_status(status))
    assert "Candor is not running." in text and "Today: nothing blocked" in text


def test_running_agent_with_address_and_heartbeat(
    home: Home, candor_like: subprocess.Popen[bytes]
) -> None:
    home.pid_file.write_text(f"{candor_like.pid}\n127.0.0.1:8123\n")
    now = datetime.now(UTC)
    with Journal(home.journal_file) as journal:
        journal.append_raw(
            "agent_start", {"previous_stop_clean": True}, ts=now - timedelta(minutes=5)
        )
        journal.append_raw("heartbeat", {"wall": 0}, ts=now - timedelta(seconds=30))
    status = collect(home, now=now)
    assert status.agent.running and status.agent.address == "127.0.0.1:8123"
    assert status.problems == []
    assert "Candor is running (pid" in format_status(status)[0]
    # A long silence while the process lives is worth a word.
    late = problems(home, now=now + timedelta(minutes=10))
    assert "has written nothing since 10 minutes ago" in late


def test_a_dead_pid_means_an_unclean_stop(home: Home) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    home.pid_file.write_text(f"{gone.pid}\n127.0.0.1:8123\n")
    status = collect(home)
    assert not status.agent.running and status.agent.stale_pid_file
    assert "stopped without shutting down cleanly" in status.problems[-1].what


def test_todays_counts_come_from_the_journal(home: Home) -> None:
    now = datetime.now(UTC)
    with Journal(home.journal_file) as journal:
        for host in ("a.test", "b.test"):
            journal.append_raw("decision", {"decision": "block", "category": "adult", "host": host})
        journal.append_raw(
            "decision", {"decision": "warn", "category": "gambling", "host": "c.test"}
        )
        journal.append_raw(
            "decision", {"decision": "block", "category": "adult"}, ts=now - timedelta(days=2)
        )
        journal.append_raw("warn_continue", {"host": "c.test", "category": "gambling"})
        journal.append_raw("bypass_suspected", {"what": "DoH", "host": "dns.test"})
    status = collect(home, now=now)
    assert status.today["decisions"] == [
        {"category": "adult", "decision": "block", "count": 2},
        {"category": "gambling", "decision": "warn", "count": 1},
    ]
    assert status.today["events"]["warn_continue"] == 1
    assert any("DoH on dns.test" in p.what for p in status.problems)
    text = "\n".join(format_status(status))
    assert "adult            block           2" in text


def test_names_looked_up_are_counted_apart_from_pages(home: Home) -> None:
    now = datetime.now(UTC)
    with Journal(home.journal_file) as journal:
        journal.append_raw("decision", {"decision": "block", "category": "adult", "host": "a.t"})
        for host in ("a.t", "b.t"):
            journal.append_raw(
                "decision", {"decision": "block", "category": "adult", "host": host, "via": "dns"}
            )
        journal.append_raw(
            "decision",
            {"decision": "block", "category": "adult", "host": "c.t", "via": "dns", "hosts": 5},
        )
    status = collect(home, now=now)
    assert status.today["decisions"] == [{"category": "adult", "decision": "block", "count": 1}]
    assert status.today["lookups_blocked"] == 7
    text = "\n".join(format_status(status))
    assert "adult            block           1" in text
    assert "Blocked names looked up by programs (DNS, not visits): 7" in text


def test_a_tampered_journal_is_a_problem(home: Home) -> None:
    with Journal(home.journal_file) as journal:
        for i in range(3):
            journal.append_raw(
                "decision", {"decision": "block", "category": "adult", "host": f"{i}.t"}
            )
    with sqlite3.connect(home.journal_file) as conn:  # the owner can always do this
        conn.execute("DROP TRIGGER IF EXISTS events_append_only")
        conn.execute("UPDATE events SET body = '{}' WHERE seq = 2")
    status = collect(home)
    assert status.journal["verified"] is False and status.journal["first_bad_seq"] == 2
    assert any("journal check failed at row 2" in p.what for p in status.problems)


def test_rule_and_config_problems_are_named_with_a_fix(home: Home) -> None:
    (home.rules_dir / "adult.txt").write_text("ok.test\n/(broken/\n")
    home.config_file.write_text("detail_level = loud\n")
    status = collect(home)
    found = {p.what.split(":")[0]: p.fix for p in status.problems}
    assert "The settings cannot be read" in found
    assert any("rule line(s) are not used" in p.what for p in status.problems)


def test_pending_loosening_and_temporary_allows_are_shown(home: Home) -> None:
    home.config_file.write_text('cooling_off = "24h"\n')
    now = datetime.now(UTC)
    remember_applied(home, load_rules(home, load_config(home), now=now))
    home.config_file.write_text('cooling_off = "24h"\n[categories.gambling]\naction = "off"\n')
    remember_applied(home, load_rules(home, load_config(home), now=now))
    add_grant(home, "example.org", timedelta(minutes=15), "a false positive", now=now)
    status = collect(home, now=now + timedelta(minutes=1))
    gambling = next(r for r in status.categories if r["category"] == "gambling")
    assert gambling["action"] == "off" and gambling["action_in_force"] == "block"
    assert [p.what for p in status.pending] == ["action_lowered"]
    assert [g.host for g in status.grants] == ["example.org"]
    text = "\n".join(format_status(status))
    assert "block until" in text and "then off" in text
    assert "Waiting for the cooling-off delay" in text and "example.org until" in text


def test_status_command_exit_codes_and_json(home: Home) -> None:
    proc = candor(home.root, "status")
    assert proc.returncode == 0 and "Candor is not running." in proc.stdout
    report = json.loads(candor(home.root, "status", "--json", check=True).stdout)
    assert report["agent"]["running"] is False
    assert report["rules"]["cooling_off"] == "0h"
    assert {"problem", "fix"} <= report["problems"][0].keys()


def test_a_deleted_category_still_enforced_is_shown(home: Home) -> None:
    home.config_file.write_text('cooling_off = "24h"\n')
    now = datetime.now(UTC)
    remember_applied(home, load_rules(home, load_config(home), now=now))
    (home.rules_dir / "gambling.txt").unlink()
    remember_applied(home, load_rules(home, load_config(home), now=now))
    status = collect(home, now=now + timedelta(minutes=1))
    gambling = next(r for r in status.categories if r["category"] == "gambling")
    assert gambling["action_in_force"] == "block" and gambling["removed"] is True
    assert datetime.fromisoformat(gambling["action_pending_until"]) > now + timedelta(hours=23)
    text = "\n".join(format_status(status))
    assert "gambling" in text and "its rules file was deleted" in text


def test_todays_other_events_are_counted_in_words() -> None:
    """`candor status` is read by a person: no `allow_granted` or `bypass_suspected`."""
    assert set(COUNTED_KINDS) - {"decision"} == set(KIND_WORDS)
    assert kind_words("allow_granted", 1) == "1 temporary allow"
    assert kind_words("bypass_suspected", 2) == "2 possible ways around Candor"
    for kind in KIND_WORDS:
        assert "_" not in kind_words(kind, 3)
