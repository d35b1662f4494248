"""Shared pieces for the report tests: a home with a config, journals filled with events at
chosen times, heartbeat sequences, the `candor` command, and the next report as the partner
would get it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.config import Config, Home, ReportSettings, parse_config
from agent.journal import Journal
from reporter import schedule
from tests.conftest import command
from tests.local_tsa import NOWHERE

REPO = Path(__file__).resolve().parents[1]
ZONE = "Europe/Berlin"
WEEK = "2026-W48"
MONDAY = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
"""Monday 23 November 2026, 00:00 in Berlin."""
BUILD_AT = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
"""Sunday 6 December 18:00 in Berlin: a report is due."""
PERIOD = schedule.period_ending_in_week(WEEK, ReportSettings(timezone=ZONE), ZoneInfo(ZONE))
"""The period ending in week 48: Sunday 22 November 18:00 to Sunday 29 November 18:00, Berlin."""

CONFIG = f"""
detail_level = "{{level}}"
[partner]
name = "Alex"
email = "alex@example.org"
[device]
name = "sam-laptop"
[report]
timezone = "{ZONE}"
[anchors]
authorities = ["{NOWHERE}"]
"""


def make_home(root: Path, level: str = "summary") -> tuple[Home, Config]:
    home = Home.at(root)
    home.ensure()
    text = CONFIG.replace("{level}", level)
    home.config_file.write_text(text, "utf-8")
    return home, parse_config(text)


def heartbeats(
    journal: Journal,
    start: datetime,
    minutes: int,
    *,
    mono: float,
    boot: float,
    boot_id: str = "boot-1",
    wall_offset: float = 0.0,
) -> tuple[float, float]:
    """One heartbeat a minute for `minutes` minutes; returns the clocks after the last one."""
    items: list[Any] = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        body = {
            "wall": at.timestamp() + wall_offset,
            "monotonic": mono + 60.0 * i,
            "boottime": boot + 60.0 * i,
            "boot_id": boot_id,
        }
        items.append(("heartbeat", body, at + timedelta(seconds=wall_offset)))
    journal.append_many_raw(items)
    return mono + 60.0 * (minutes - 1), boot + 60.0 * (minutes - 1)


def candor(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, its output as bytes (a report preview is compared byte
    for byte)."""
    return subprocess.run(
        command("--home", str(home), *args),
        capture_output=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )


def next_report(home: Path) -> tuple[dict[str, Any], str]:
    """The next report as the partner would get it: its JSON document and its text (with its
    line wrapping undone, so a sentence is found whole)."""
    shown = []
    for fmt in ("json", "text"):
        proc = candor(home, "report", "preview", "--format", fmt)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        shown.append(proc.stdout.decode())
    return json.loads(shown[0]), " ".join(shown[1].split())


def run_together(senders: list[Any]) -> None:
    """Run each sender's pass at the same moment (the agent's loop and the OS timer racing),
    then close them all."""
    threads = [threading.Thread(target=s.run_once) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for s in senders:
        s.close()
    time.sleep(0.2)


def send_due(home: Home, crash_at: str | None = None) -> subprocess.CompletedProcess:
    """`candor report send-due` in a child process on this test's clock, killed at `crash_at`
    (the OS timer's pass, as the agent's kill -9 tests need it)."""
    from tests import harness  # a pytest plugin: imported once pytest has registered it

    return subprocess.run(
        harness.child_command("--home", str(home.root), "report", "send-due", crash_at=crash_at),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
