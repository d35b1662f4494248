"""The wizard answers in plain words (issue 17, item 2): a typo gets one sentence and the
question again, never pydantic's listing; days and times are read as people type them."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from agent.config import Home, load_config
from tests.conftest import REPO, candor

PERSON = ("--yes", "--your-name", "Alex", "--partner-name", "Sam", "--lists", "none")


def test_days_and_times_as_people_type_them(home_dir: Path) -> None:
    candor(
        home_dir, "init", *PERSON, "--partner-email", "sam@example.org",
        "--report-day", "Sunday", "--report-time", "6pm", check=True,
    )  # fmt: skip
    report = load_config(Home.at(home_dir)).report
    assert (report.day, report.time) == ("sunday", dt.time(18, 0))
    assert 'day = "sunday"' in (home_dir / "config.toml").read_text()


def test_a_bad_scripted_answer_is_one_plain_sentence(home_dir: Path) -> None:
    proc = candor(home_dir, "init", *PERSON, "--partner-email", "sam at example")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "candor: That does not look like an email address (like sam@example.org)."
    )
    late = candor(home_dir, "init", *PERSON, "--partner-email", "s@e.org", "--report-time", "25h")
    assert late.returncode == 1
    assert "That is not a time of day Candor can read: write it like 18:00 or 6pm." in late.stderr
    assert "validation error" not in late.stderr + proc.stderr


def test_at_the_terminal_a_typo_is_asked_again(home_dir: Path) -> None:
    # categories (adult, bypass, gambling): keep; name; partner; a bad email, then a good one;
    # level; device; day; time; cooling-off; then the consent
    answers = ["", "", "", "Alex", "Sam", "sam at example", "sam@example.org", "", "laptop",
               "Tuesday", "7:30 am", "", "sam"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--home", str(home_dir), "init", "--lists", "none"],
        input="\n".join(answers) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "That does not look like an email address (like sam@example.org)." in proc.stdout
    assert "bypass: proxies, VPN sign-up pages and encrypted-DNS services" in proc.stdout
    assert "validation error" not in proc.stdout
    report = load_config(Home.at(home_dir)).report
    assert (report.day, report.time) == ("tuesday", dt.time(7, 30))
