"""A full disk (issue 12, item 7): nothing that changes protection takes effect without its
journal row, `candor status` says that writes fail, the report says Candor could not record,
and every message matches what is in force.

The disk is real: a small tmpfs that the agent and the `candor` command see as their home's
disk (tests/small_disk.py), filled until the kernel says ENOSPC. Nothing in Candor is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import Home
from agent.journal import Journal
from agent.policy.live_rules import LiveRules, ReloadOutcome
from tests.conftest import REPO, command
from tests.harness import ClockControl
from tests.origins import Origin
from tests.proxy_fixtures import RunningAgent, start_agent, write_home
from tests.small_disk import SmallDisk

NOT_GRANTED = (
    "candor: Candor could not write to its journal (the disk is full), so the allow was not "
    "granted. Free some space and try again."
)


def candor_on(disk: SmallDisk, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `candor` command, run where the small disk is its home's disk."""
    return subprocess.run(
        disk.command(command("--home", str(home), *args)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )


@dataclass
class AgentOnDisk(RunningAgent):
    """A real agent whose home is on the small disk: its journal is read by `candor journal
    show`, run there too (SQLite follows `/proc/PID/root` out of the namespace)."""

    disk: SmallDisk | None = None

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        assert self.disk is not None
        kinds = ("--kind", kind) if kind else ()
        shown = candor_on(self.disk, self.home, "journal", "show", "--json", *kinds)
        assert shown.returncode == 0, shown.stderr
        rows = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
        return [{"kind": row["kind"], **row["body"]} for row in rows]


def agent_on(disk: SmallDisk, settings: str = "") -> AgentOnDisk:
    """A real agent whose home is on the small disk; `settings` go first in its config."""
    home = disk.path / "home"
    write_home(disk.outside(home))
    config = disk.outside(home / "config.toml")
    config.write_text(settings + config.read_text())
    started = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1", wrap=disk.command
    )
    agent = AgentOnDisk(**{f.name: getattr(started, f.name) for f in fields(started)}, disk=disk)
    agent.wait_for_event("agent_start")
    return agent


def stays(check: Callable[[], bool], seconds: float) -> bool:
    """Whether `check` holds every time it is asked for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.2)
    return True


def soon(check: Callable[[], bool], seconds: float = 20) -> bool:
    """Whether `check` comes to hold within `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.slow
def test_an_allow_on_a_full_disk_is_not_granted_and_status_says_why(
    small_disk: SmallDisk, origin: Origin
) -> None:
    agent = agent_on(small_disk)
    home = small_disk.path / "home"
    url = origin.http("relaxed.test", "/")
    try:
        with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
            assert client.get(url).status_code == 403
            small_disk.fill()

            allow = candor_on(
                small_disk, home, "allow", "relaxed.test", "--for", "15m", "--reason", "a test"
            )
            assert allow.returncode == 1
            assert " ".join((allow.stdout + allow.stderr).split()) == NOT_GRANTED
            assert stays(lambda: client.get(url).status_code == 403, seconds=3)

            status = candor_on(small_disk, home, "status", "--no-verify")
            assert "No problems found" not in status.stdout
            assert "Candor cannot write to its journal (the disk is full)" in status.stdout
            assert "Free some space on the disk that holds" in status.stdout
            shown = json.loads(candor_on(small_disk, home, "status", "--json").stdout)
            assert shown["journal"]["write_refused"] == "the disk is full"

            small_disk.free()
            # What the agent held while the disk was full is written, with a row saying so.
            unwritable = agent.wait_for_event("journal_unwritable", timeout=30)
            assert unwritable["reason"] == "the disk is full"
            assert unwritable["since"] < unwritable["until"]
            assert agent.events("allow_granted") == []
            assert client.get(url).status_code == 403

            status = candor_on(small_disk, home, "status", "--no-verify")
            assert "Candor cannot write" not in status.stdout
            assert "Candor could not write to its journal" in status.stdout
            # The partner's next report says it plainly, among what may be worth a word.
            report = candor_on(small_disk, home, "report", "preview", "--format", "json")
            (said,) = [
                line
                for line in json.loads(report.stdout)["integrity"]["attention"]
                if line.startswith("Candor could not write its record")
            ]
            assert "because the disk was full" in said
            text = candor_on(small_disk, home, "report", "preview", "--format", "text").stdout
            assert said in " ".join(text.split())

            again = candor_on(
                small_disk, home, "allow", "relaxed.test", "--for", "15m", "--reason", "a test"
            )
            assert again.returncode == 0, again.stderr
            assert soon(lambda: client.get(url).status_code == 200)
            assert [e["host"] for e in agent.events("allow_granted")] == ["relaxed.test"]

            # Ending it early is a change too: refused, and said, while the disk is full.
            small_disk.fill()
            end = candor_on(small_disk, home, "allow", "relaxed.test", "--end")
            assert end.returncode == 1
            assert " ".join((end.stdout + end.stderr).split()) == (
                "candor: Candor could not write to its journal (the disk is full), so the "
                "temporary allow for relaxed.test was not ended. Free some space and try again."
            )
            assert client.get(url).status_code == 200
            small_disk.free()
            assert candor_on(small_disk, home, "allow", "relaxed.test", "--end").returncode == 0
            assert soon(lambda: client.get(url).status_code == 403)
            assert agent.events("bypass_suspected") == []  # nothing read as an edit by hand
    finally:
        small_disk.free()
        assert agent.stop() == 0


@pytest.mark.slow
def test_a_reload_on_a_full_disk_keeps_the_old_rules_and_says_so_then_applies_with_its_row(
    small_disk: SmallDisk, origin: Origin
) -> None:
    agent = agent_on(small_disk)
    rules = small_disk.outside(small_disk.path / "home" / "rules" / "relaxed.txt")
    url = origin.http("relaxed.test", "/")
    said = "so the change is not in force: the previous rules stay until it can"
    try:
        with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
            assert client.get(url).status_code == 403
            small_disk.fill()
            rules.write_text("# nothing here any more\n")  # shorter: it fits where it was

            assert soon(lambda: any(said in line for line in agent.stderr_lines))
            (line,) = {line.strip() for line in agent.stderr_lines if said in line}
            assert line == (
                "candor: Candor could not write to its journal (the disk is full), so the change "
                "is not in force: the previous rules stay until it can, and Candor tries again "
                "by itself."
            )
            assert not any("last good rules stay" in line for line in agent.stderr_lines)
            assert stays(lambda: client.get(url).status_code == 403, seconds=3)

            small_disk.free()
            assert soon(lambda: client.get(url).status_code == 200)
            # Live only once its row was durable: the row is there the moment it is live.
            changed = [
                c
                for e in agent.events("rules_changed")
                for c in e["changes"]
                if c["category"] == "relaxed" and c["loosening"]
            ]
            assert changed, "the loosening took effect without its row"
            assert agent.events("journal_unwritable")
            assert agent.events("bypass_suspected") == []
    finally:
        small_disk.free()
        assert agent.stop() == 0


def test_a_reload_that_cannot_be_passed_on_still_says_what_is_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever goes wrong after the swap, the reload is not reported as failed while its rules
    are live (the watcher says "the last good rules stay" only for a reload that raised)."""
    write_home(tmp_path / "home")
    home = Home.at(tmp_path / "home")

    def broken(outcome: ReloadOutcome) -> None:
        raise RuntimeError("the listener broke")

    with Journal(home.journal_file) as journal:
        live = LiveRules(home, on_reload=broken, journal=journal)
        live.start()
        (home.rules_dir / "relaxed.txt").write_text("# nothing here any more\n")
        outcome = live.reload()
    assert outcome.applied
    assert live.rules.matcher.decide("https://relaxed.test/").decision == "allow"
    assert "could not pass on a reload (applied: True)" in caplog.text


@pytest.mark.slow
def test_an_agent_that_cannot_write_its_journal_does_not_start_and_says_why(
    small_disk: SmallDisk,
) -> None:
    agent = agent_on(small_disk)
    assert agent.stop() == 0
    small_disk.fill()
    home = small_disk.path / "home"
    started = candor_on(small_disk, home, "run", "--listen", "127.0.0.1:0")
    assert started.returncode == 1
    assert started.stderr.strip() == (
        "candor: Candor could not write to its journal (the disk is full), so Candor did not "
        "start. Free some space and try again."
    )


@pytest.mark.slow
def test_a_waiting_loosening_takes_effect_only_once_its_row_is_written(
    small_disk: SmallDisk, origin: Origin, simulated_clock: ClockControl
) -> None:
    simulated_clock.at(datetime.now(UTC), speed=300)  # five minutes a second
    agent = agent_on(small_disk, settings='cooling_off = "1h"\n')
    rules = small_disk.outside(small_disk.path / "home" / "rules" / "relaxed.txt")
    url = origin.http("relaxed.test", "/")
    try:
        with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
            rules.write_text("# nothing here any more\n")
            waits = agent.wait_for_event(
                "rules_changed", lambda e: any(c.get("pending_until") for c in e["changes"])
            )
            small_disk.fill()
            (entry,) = [c for c in waits["changes"] if c["category"] == "relaxed"]
            due = datetime.fromisoformat(entry["pending_until"]["relaxed.test"])
            assert simulated_clock.current is not None
            assert simulated_clock.current.now() < due, "the test was too slow to fill the disk"
            # Past its time, with the disk full: the wait cannot end without its row.
            clock = simulated_clock.current
            late = clock.real_seconds((due - clock.now()).total_seconds())
            assert stays(lambda: client.get(url).status_code == 403, seconds=late + 4)
            assert any("so the change is not in force" in line for line in agent.stderr_lines)

            small_disk.free()
            assert soon(lambda: client.get(url).status_code == 200)
            took = [e for e in agent.events("rules_changed") if e.get("took_effect")]
            assert took, "the loosening took effect without its row"
    finally:
        small_disk.free()
        assert agent.stop() == 0
