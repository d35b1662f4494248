"""`kill -9` in the middle of traffic, then a restart: the journal still verifies, the new start
says the last stop was not clean, and `candor status` tells the truth before and after."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import candor
from tests.proxy_fixtures import RunningAgent, start_agent, write_home

ROUNDS = 2


def status(home: Path) -> dict[str, Any]:
    proc = candor(home, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def problems(report: dict[str, Any]) -> str:
    return " | ".join(p["problem"] for p in report["problems"])


def nth_start(agent: RunningAgent, n: int) -> dict[str, Any]:
    """The n-th `agent_start` (1-based), once it is committed."""
    deadline = time.monotonic() + 15
    while len(starts := agent.events("agent_start")) < n:
        assert time.monotonic() < deadline, f"no agent_start number {n}"
        time.sleep(0.1)
    assert len(starts) == n
    return starts[-1]


def blocked(agent: RunningAgent, host: str) -> None:
    with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
        response = client.get(f"http://{host}/page")
    assert response.status_code == 403
    assert response.headers["X-Candor-Decision"].startswith("block")


class Traffic:
    """Requests to ever new blocked hosts, each one a decision to record, until stopped."""

    def __init__(self, agent: RunningAgent, prefix: str) -> None:
        self.agent = agent
        self.prefix = prefix
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(proxy=self.agent.proxy_url, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    client.get(f"http://{self.prefix}{self.sent}.blocked.test/")
                except httpx.HTTPError:
                    return  # the agent is gone
                self.sent += 1


@pytest.mark.slow
def test_kill_9_then_restart_keeps_a_journal_that_verifies(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_home(home)
    before = status(home)
    assert before["agent"]["running"] is False
    assert "not running" in problems(before)

    for round_ in range(ROUNDS):
        agent = start_agent(home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1")
        try:
            start = nth_start(agent, round_ + 1)
            assert start["previous_stop_clean"] is (round_ == 0), start
            running = status(home)
            assert running["agent"]["running"] is True
            assert running["agent"]["address"] == f"{agent.host}:{agent.port}"
            assert running["agent"]["pid"] == agent.process.pid
            assert "not running" not in problems(running)

            host, prefix = f"round{round_}.blocked.test", f"r{round_}-"
            blocked(agent, host)
            agent.wait_for_event("decision", lambda e, host=host: e["host"] == host)
            with Traffic(agent, prefix) as traffic:
                agent.wait_for_event(
                    "decision", lambda e, p=prefix: e["host"].startswith(p), timeout=30
                )
                agent.process.kill()  # SIGKILL while requests and journal writes are in flight
                agent.process.wait(timeout=20)
            assert traffic.sent > 0
        finally:
            if agent.process.poll() is None:
                agent.process.kill()
                agent.process.wait(timeout=20)

        assert (home / "agent.pid").exists(), "a killed agent cannot remove its pid file"
        verify = candor(home, "journal", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        crashed = status(home)
        assert crashed["agent"]["running"] is False
        assert crashed["agent"]["stale_pid_file"] is True
        assert "stopped without shutting down cleanly" in problems(crashed)
        assert crashed["journal"]["verified"] is True
        counted = {
            (row["category"], row["decision"]): row["count"]
            for row in crashed["today"]["decisions"]
        }
        assert counted[("adult", "block")] >= 2 * (round_ + 1)

    agent = start_agent(home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1")
    assert nth_start(agent, ROUNDS + 1)["previous_stop_clean"] is False
    assert agent.stop() == 0
    after = status(home)
    assert after["agent"]["running"] is False
    assert after["agent"]["stale_pid_file"] is False
    assert after["agent"]["last_stop_clean"] is True
    assert "stopped without shutting down cleanly" not in problems(after)
    assert candor(home, "journal", "verify").returncode == 0
    starts = agent.events("agent_start")
    assert [s["previous_stop_clean"] for s in starts] == [True] + [False] * ROUNDS
