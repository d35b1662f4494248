"""Shared fixtures: a temporary Candor home, the real public lists, and the `candor` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agent.config import Home

pytest_plugins = ["tests.harness", "tests.proxy_fixtures", "tests.mail_server", "tests.small_disk"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LISTS = REPO / "tests" / "data" / "lists"
"""Copies of real public lists (origin and licence in tests/data/SOURCES.md)."""


def require_tool(name: str) -> str:
    """Path of an external tool; with CI=true a missing tool fails the test instead of skipping."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (scripts/test installs it on Debian)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sample_lists() -> Path:
    """The folder of real public lists kept with the tests."""
    return SAMPLE_LISTS


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def home(home_dir: Path) -> Home:
    """A made home with a one-day cooling-off delay (modules may define their own `home`)."""
    from agent.config import Home

    made = Home.at(home_dir)
    made.ensure()
    made.config_file.write_text('cooling_off = "24h"\n')
    return made


def without_shipped_lists(home_dir: Path) -> None:
    """A home whose person removed the shipped snapshot lists (given as the agent's first start
    or `candor rules test` gives them), for tests of the own rules and imports alone."""
    from agent.config import Home
    from agent.policy.imported_lists import remove_list
    from agent.policy.snapshot import offer_snapshot
    from rules.catalogue import by_name

    home = Home.at(home_dir)
    home.ensure()
    for name in offer_snapshot(home):
        entry = by_name(name)
        assert entry is not None
        remove_list(home.lists_dir, entry.category, name)


def candor(
    home: Path, *args: str, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real `candor` command in a subprocess, as a person would (on this test's simulated
    clock, if it has one: see tests/harness.py)."""
    proc = subprocess.run(
        command("--home", str(home), *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"candor {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def command(*args: str) -> list[str]:
    """`candor ARGS` as a child process: plain, or through the harness when this test runs on a
    simulated clock."""
    from tests import harness  # a pytest plugin (above): imported once pytest has registered it

    if harness.simulated():
        return harness.child_command(*args)
    return [sys.executable, "-m", "agent.cli", *args]


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--update-snapshots`: the one way to rewrite tests/snapshots/ (tests/snapshot_compare.py)."""
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite tests/snapshots/ from the current output instead of failing; review the diff",
    )
