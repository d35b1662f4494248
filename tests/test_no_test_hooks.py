"""A shipped Candor obeys no variable that changes its clock, stops it at a crash point or changes
its self-check's interval: tests inject those through the Python API (tests/harness.py) only."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config import Config, Home, save_config
from agent.health.selfcheck import CHECK_EVERY, SelfCheck
from agent.journal import Journal
from reporter.delivery.outbox import NewMessage, Outbox
from tests.conftest import REPO
from tests.mail_server import MailServer

SHIPPED = ("agent", "reporter", "installers", "rules")
ALLOWED_VARIABLES = {"CANDOR_HOME", "CANDOR_SMTP_CA_FILE"}
"""The home folder, and an extra CA for a mail server with a private one (docs/delivery.md)."""

OLD_HOOKS = {
    "CANDOR_TEST_NOW": "2001-01-01T00:00:00Z",
    "CANDOR_TEST_CLOCK_SPEED": "0",
    "CANDOR_CRASH_AT": "before_send",
    "CANDOR_SELFCHECK_SECONDS": "0.1",
}
"""The variables earlier versions obeyed, set as someone trying them would set them."""


def test_shipped_code_names_no_other_candor_variable() -> None:
    named = set()
    for package in SHIPPED:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    named.update(
                        word.strip("`'\".,:;()")
                        for word in node.value.split()
                        if word.startswith(("CANDOR_", "`CANDOR_"))
                    )
    assert named <= ALLOWED_VARIABLES, named - ALLOWED_VARIABLES


def shipped_candor(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The real command, not the harness, with the old test variables set."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **OLD_HOOKS},
    )


def test_a_shipped_command_keeps_the_real_clock(tmp_path: Path) -> None:
    shown = shipped_candor(tmp_path / "home", "status", "--json", "--no-verify")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["test_clock"] is False
    now = datetime.fromisoformat(status["now"])
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_shipped_command_does_not_stop_at_a_crash_point(tmp_path: Path, mail: MailServer) -> None:
    home = Home.at(tmp_path / "home")
    home.ensure()
    save_config(home, Config.model_validate({"delivery": {"smtp": mail.smtp_settings()}}))
    message = (
        b"From: candor@example.org\r\nTo: sam@example.org\r\nSubject: a notice\r\n"
        b"Message-ID: <notice@candor.invalid>\r\n\r\nHello.\r\n"
    )
    with Journal(home.journal_file) as journal, Outbox(journal) as outbox:
        notice = NewMessage(
            id="notice:test",
            kind="notice",
            channel="email",
            recipient="sam@example.org",
            message_id="<notice@candor.invalid>",
            subject="a notice",
            payload=message,
        )
        outbox.add_message(notice)
    done = shipped_candor(home.root, "report", "send-due")
    assert done.returncode == 0, done.stderr  # not killed at `before_send`
    assert "A notice sent by email" in done.stdout
    assert len(mail.sink.wait_for(1)) == 1


def test_the_self_check_interval_is_fixed_in_shipped_code(monkeypatch, tmp_path: Path) -> None:
    for name, value in OLD_HOOKS.items():
        monkeypatch.setenv(name, value)
    check = SelfCheck(Home.at(tmp_path / "home"), lambda event: None, check=lambda: None)
    assert check.interval == CHECK_EVERY <= 300
    longer = SelfCheck(Home.at(tmp_path), lambda event: None, check=lambda: None, interval=9e9)
    assert longer.interval == CHECK_EVERY
