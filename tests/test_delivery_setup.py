"""`candor delivery setup` (issue 17, item 2): email for the reports without editing
config.toml, proven with a test message to the person before anything is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Home, load_config
from tests.conftest import candor
from tests.mail_server import PASSWORD_ENV, USER, MailServer


def setup_args(mail: MailServer, *extra: str) -> list[str]:
    return [
        "delivery", "setup", "--smtp-host", "127.0.0.1", "--smtp-port", str(mail.port),
        "--smtp-user", USER, "--password-source", f"env:{PASSWORD_ENV}", *extra,
    ]  # fmt: skip


def test_setup_sends_a_test_to_the_person_then_saves(home_dir: Path, mail: MailServer) -> None:
    said = candor(home_dir, *setup_args(mail), check=True).stdout
    assert f"Email works: a test message went to {USER}." in said
    assert f"Saved: reports can go out through 127.0.0.1:{mail.port} as {USER}." in said
    [test] = mail.sink.wait_for(1)
    assert test.rcpt_tos == [USER] and test.message["Subject"] == "Candor delivery test"
    smtp = load_config(Home.at(home_dir)).delivery.smtp
    assert (smtp.host, smtp.port, smtp.username) == ("127.0.0.1", mail.port, USER)
    assert smtp.password_source == f"env:{PASSWORD_ENV}"


def test_a_refused_login_saves_nothing(
    home_dir: Path, mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    proc = candor(home_dir, *setup_args(mail))
    assert proc.returncode == 1
    assert proc.stderr.startswith("candor: Email does not work yet.")
    assert proc.stderr.strip().endswith("Nothing was saved.")
    assert load_config(Home.at(home_dir)).delivery.smtp.host is None


def test_a_bad_setting_is_named_in_one_sentence(home_dir: Path) -> None:
    proc = candor(home_dir, "delivery", "setup", "--webhook-url", "ftp://example.org/x")
    assert proc.returncode == 1
    assert "--webhook-url must be a web address starting with https://" in proc.stderr
    assert "Traceback" not in proc.stderr
