"""Edits on disk go live without a restart; broken edits keep the last good rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import Home, load_config
from agent.policy.live_rules import LiveRules, ReloadOutcome
from agent.policy.rulebook import changes_since_applied, load_rules, remember_applied
from agent.policy.watcher import RulesWatcher
from tests.conftest import REPO

WAIT = 30.0


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def live(home_dir: Path):
    home = Home.at(home_dir)
    home.ensure()
    outcomes: list[ReloadOutcome] = []
    live = LiveRules(home, on_reload=outcomes.append)
    watcher = RulesWatcher(home, live.reload, debounce=0.1)
    watcher.start()
    yield home, live, outcomes
    watcher.stop()


def verdict(live: LiveRules, url: str) -> str:
    return live.rules.matcher.decide(url).decision


def test_appended_rule_goes_live(live) -> None:
    home, rules, outcomes = live
    assert verdict(rules, "https://hot.example/") == "allow"
    with (home.rules_dir / "gambling.txt").open("a") as f:
        f.write("hot.example\n")
    assert wait_for(lambda: verdict(rules, "https://hot.example/") == "block")
    change = next(o for o in outcomes if o.applied and o.changes).changes[0]
    assert change.category == "gambling" and change.tightening == ("hot.example",)


def test_editor_style_atomic_save_goes_live(live) -> None:
    home, rules, _ = live
    path = home.rules_dir / "adult.txt"
    tmp = home.rules_dir / ".adult.txt.swp"
    tmp.write_text(path.read_text() + "atomic.example\n")
    os.replace(tmp, path)
    assert wait_for(lambda: verdict(rules, "https://atomic.example/") == "block")


def test_removal_is_reported_as_loosening(live) -> None:
    home, rules, outcomes = live
    path = home.rules_dir / "adult.txt"
    text = path.read_text()
    assert "pornhub.com\n" in text
    path.write_text(text.replace("pornhub.com\n", ""))
    assert wait_for(
        lambda: rules.rules.matcher.decide("https://pornhub.com/").rule != "pornhub.com"
    )
    loosened = [c for o in outcomes for c in o.changes if c.loosening]
    assert loosened and loosened[0].loosening == ("pornhub.com",)


def test_new_category_file_goes_live(live) -> None:
    home, rules, _ = live
    (home.rules_dir / "social.txt").write_text("social.example\n")
    assert wait_for(lambda: verdict(rules, "https://social.example/") == "block")


def test_broken_edit_keeps_last_good_rules_and_says_why(live) -> None:
    home, rules, outcomes = live
    path = home.rules_dir / "gambling.txt"
    path.write_text(path.read_text() + "kept.example\n")
    assert wait_for(lambda: verdict(rules, "https://kept.example/") == "block")
    good = rules.rules
    path.write_text(path.read_text().replace("kept.example\n", "") + "/(half typed/\n")
    assert wait_for(lambda: any(not o.applied for o in outcomes))
    refused = next(o for o in outcomes if not o.applied)
    assert "gambling.txt:" in refused.reason and "previous rules stay in force" in refused.reason
    assert rules.rules is good
    assert verdict(rules, "https://kept.example/") == "block"
    path.write_text(path.read_text().replace("/(half typed/\n", ""))
    assert wait_for(lambda: verdict(rules, "https://kept.example/") == "allow")


def test_broken_config_keeps_last_good(live) -> None:
    home, rules, outcomes = live
    home.config_file.write_text('[categories.gambling]\naction = "off"\n')
    assert wait_for(lambda: verdict(rules, "https://bet365.com/") == "allow")
    home.config_file.write_text("[categories.gambling\n")
    assert wait_for(lambda: any(o.config_problem for o in outcomes))
    said = [o.config_problem for o in outcomes if o.config_problem]
    assert "config.toml, line 1" in said[0] and "keeps the settings it last applied" in said[0]
    assert verdict(rules, "https://bet365.com/") == "allow"
    # Issue 12, item 11: a broken config.toml no longer stops rule reloads (they use the
    # settings in force), and it is said once, not at every reload.
    with (home.rules_dir / "adult.txt").open("a") as f:
        f.write("still-reloads.example\n")
    assert wait_for(lambda: verdict(rules, "https://still-reloads.example/") == "block")
    assert verdict(rules, "https://bet365.com/") == "allow"
    assert len([o for o in outcomes if o.config_problem]) == 1


def test_unreadable_rules_file_keeps_last_good(live) -> None:
    home, rules, outcomes = live
    path = home.rules_dir / "gambling.txt"
    content = path.read_bytes()
    path.unlink()
    path.mkdir()  # a file that turned into something unreadable as text
    try:
        assert wait_for(lambda: any(not o.applied for o in outcomes))
        assert verdict(rules, "https://bet365.com/") == "block"
    finally:
        path.rmdir()
        path.write_bytes(content)


def test_burst_of_writes_is_debounced(live) -> None:
    home, rules, outcomes = live
    path = home.rules_dir / "adult.txt"
    for i in range(20):
        with path.open("a") as f:
            f.write(f"burst{i}.example\n")
    assert wait_for(lambda: verdict(rules, "https://burst19.example/") == "block")
    time.sleep(0.5)
    assert len([o for o in outcomes if o.applied]) < 20


def test_edits_made_while_stopped_are_seen_at_next_start(home_dir: Path) -> None:
    home = Home.at(home_dir)
    home.ensure()
    first = load_rules(home, load_config(home))
    assert changes_since_applied(first) == []
    remember_applied(home, first)

    path = home.rules_dir / "adult.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(reversed(lines)))  # moving lines is not a change
    assert changes_since_applied(load_rules(home, load_config(home))) == []

    path.write_text(path.read_text().replace("pornhub.com\n", "") + "new.example\n")
    changes = changes_since_applied(load_rules(home, load_config(home)))
    assert [(c.category, c.loosening, c.tightening) for c in changes] == [
        ("adult", ("pornhub.com",), ("new.example",))
    ]


def test_rules_watch_command_shows_the_edit(home_dir: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "--home",
            str(home_dir),
            "rules",
            "watch",
            "https://watched.example/",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        # A cold interpreter on a loaded 2-core machine: generous waits, no timing asserted.
        assert wait_for(lambda: any("Allowed" in line for line in lines), 90), lines
        with (home_dir / "rules" / "dating.txt").open("w") as f:
            f.write("watched.example\n")
        assert wait_for(lambda: any("Blocked" in line for line in lines), 90), lines
        assert any("Rules changed in dating: stricter: watched.example" in ln for ln in lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    assert proc.returncode == 0
