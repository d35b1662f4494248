"""A malformed config.toml (issue 12, item 11): one sentence naming the file and line, never a
traceback, in every command and in the agent's reload; and it keeps the settings last applied,
as the journal records them, for the rules and for reports."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import Config, ConfigError, Home, last_good_config, parse_config
from agent.journal import Journal
from agent.proxy.runner import Agent
from reporter.integrity import SETTINGS_BROKEN, SETTINGS_KEPT
from tests.conftest import candor
from tests.report_helpers import next_report

DEEP_LIST = "allowlist = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLE = "partner = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"
LONG_KEY = "a" + ".a" * 100_000 + " = 1\n"  # quadratic in the TOML reader: gigabytes
LONG_INT = "[journal]\nretention_days = " + "9" * 5000 + "\n"
HUGE_HEX = "[delivery.smtp]\nport = 0x" + "f" * 5000 + "\n"

MALFORMED = {
    "deep list": (DEEP_LIST, "line 1", "nested more than 20 deep"),
    "deep inline table": (DEEP_TABLE, "line 1", "nested more than 20 deep"),
    "key of 100,000 parts": (LONG_KEY, "line 1", "dotted key of more than 20 parts"),
    "5,000-digit integer": (LONG_INT, "line 2", "a number has 5000 digits"),
    "huge hex integer": (HUGE_HEX, "line 2", "port must be at most 65535"),
    "huge duration (days)": ('cooling_off = "' + "9" * 40 + 'd"\n', "line 1", "at most 30d"),
    "huge duration (weeks)": ('cooling_off = "9999999999w"\n', "line 1", "at most 30d"),
    "5,000-digit duration": ('cooling_off = "' + "9" * 5000 + 'm"\n', "line 1", "at most 30d"),
    "inf": ("[journal]\nretention_days = inf\n", "line 2", "must be a whole number"),
    "nan": ("[journal]\nretention_days = nan\n", "line 2", "must be a whole number"),
    "1e400": ("[delivery.smtp]\nport = 1e400\n", "line 2", "must be a whole number"),
    "1e308": ("[journal]\nretention_days = 1e308\n", "line 2", "must be a whole number"),
    "year 1": ("[partner]\ninvited_at = 0001-01-01T00:00:00\n", "line 2", "between the years"),
    "year 9999": ("[partner]\ninvited_at = 9999-12-31T23:59:59-23:59\n", "line 2", "between"),
    "table deep inside": ("[categories.adult]\naction = {a = [1, {b = 2}]}\n", "line 2", "one of"),
}


def one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr and "Error:" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("name", list(MALFORMED))
def test_each_malformed_config_is_one_sentence_in_every_command(home_dir: Path, name: str) -> None:
    text, line, words = MALFORMED[name]
    candor(home_dir, "rules", "list", check=True)
    (home_dir / "config.toml").write_text(text)

    check = candor(home_dir, "config", "check", timeout=60)
    said = one_sentence(check.stderr)
    assert check.returncode == 1
    assert f"config.toml, {line}" in said and words in said
    assert len(said) < 400

    listed = candor(home_dir, "rules", "list", timeout=60)
    assert listed.returncode == 0 and "adult" in listed.stdout
    assert words in one_sentence(listed.stderr)

    status = candor(home_dir, "status", "--json", timeout=60)
    assert "Traceback" not in status.stderr
    problems = [p["problem"] for p in json.loads(status.stdout)["problems"]]
    assert any(words in p for p in problems)


# --- the parser alone: whatever the values, a Config or one ConfigError ----------------------

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    [
        "detail_level",
        "cooling_off",
        "allowlist",
        "categories",
        "categories.adult",
        "categories.adult.action",
        "partner",
        "partner.invited_at",
        "report.time",
        "report.timezone",
        "delivery.smtp.port",
        "journal.retention_days",
        "agent.listen",
        "anchors.authorities",
    ]
)


def toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return value.isoformat()  # a datetime


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=4))
def test_any_value_at_any_key_is_settings_or_one_sentence(assigned: dict[str, object]) -> None:
    text = "".join(f"{key} = {toml_value(value)}\n" for key, value in assigned.items())
    try:
        config = parse_config(text)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("config.toml") and "\n" not in message and len(message) < 600
    else:
        assert isinstance(config, Config)


# --- the last good settings -------------------------------------------------------------------

GOOD = """\
detail_level = "domains"
[categories.gambling]
action = "off"
[device]
name = "study-laptop"
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def applied_rows(home: Home) -> list[dict]:
    with Journal(home.journal_file) as journal:
        return [e.body for e in journal.events(kinds=["rules_applied"])]


def applied_home(root: Path) -> Home:
    """A home whose agent put GOOD into force (and stopped)."""
    home = Home.at(root)
    home.ensure()
    home.config_file.write_text(GOOD)
    agent = Agent(home, listen="127.0.0.1:0")
    try:
        agent.begin()
    finally:
        agent.end()
    return home


def test_the_agent_journals_the_applied_settings_and_keeps_their_copy(tmp_path: Path) -> None:
    home = applied_home(tmp_path / "home")

    digest = applied_rows(home)[-1]["config"]
    copies = list(home.state_dir.glob("applied-config-*.toml"))
    assert [c.name for c in copies] == [f"applied-config-{digest}.toml"]
    home.config_file.write_text('cooling_off = "' + "9" * 40 + 'd"\n')

    read = last_good_config(home)
    assert read.source == "applied" and read.config.device.name == "study-laptop"
    assert read.note and "config.toml, line 1" in read.note and "last applied" in read.note


def test_a_copy_that_does_not_match_the_journal_is_not_used(tmp_path: Path) -> None:
    home = applied_home(tmp_path / "home")
    copy = next(home.state_dir.glob("applied-config-*.toml"))
    copy.write_text(copy.read_text().replace('"off"', '"block"').replace("study", "other"))
    home.config_file.write_text("[categories.gambling\n")

    read = last_good_config(home)

    assert read.source == "defaults" and read.config.device.name != "other-laptop"
    assert read.note and "uses the defaults" in read.note


def test_commands_and_the_report_keep_the_last_good_settings(tmp_path: Path) -> None:
    home = applied_home(tmp_path / "home")
    home.config_file.write_text(LONG_INT)

    test = candor(home.root, "rules", "test", "https://bet365.com/")
    assert test.returncode == 0 and test.stdout.startswith("Allowed")  # gambling stays off
    assert "line 2" in one_sentence(test.stderr) and "last applied" in test.stderr
    preview = candor(home.root, "report", "preview", "--format", "json")
    assert preview.returncode == 0, preview.stderr
    document = json.loads(preview.stdout)
    assert "study-laptop" in json.dumps(document)
    assert "Traceback" not in preview.stderr
    shown = candor(home.root, "config", "show")
    assert 'name = "study-laptop"' in shown.stdout and "last applied" in shown.stderr


def test_the_running_agent_reloads_rules_with_a_broken_config_and_journals_it_once(
    tmp_path: Path,
) -> None:
    home = applied_home(tmp_path / "home")
    before = len(applied_rows(home))
    agent = Agent(home, listen="127.0.0.1:0")
    try:
        agent.begin()
        home.config_file.write_text(DEEP_TABLE)
        with (home.rules_dir / "adult.txt").open("a") as f:
            f.write("after-break.example\n")

        def decide(url: str) -> str:
            return agent.live.rules.matcher.decide(url).decision

        assert wait_for(lambda: decide("https://after-break.example/") == "block")
        assert agent.live.rules.matcher.decide("https://bet365.com/").decision == "allow"
        assert agent.live.config.device.name == "study-laptop"
        with (home.rules_dir / "adult.txt").open("a") as f:
            f.write("again.example\n")
        assert wait_for(
            lambda: agent.live.rules.matcher.decide("https://again.example/").decision == "block"
        )
    finally:
        agent.end()
    rows = applied_rows(home)[before:]
    broken = [r for r in rows if r.get("config_problem")]
    assert broken and "nested more than 20 deep" in broken[0]["config_problem"]
    assert len({r["config_problem"] for r in broken}) == 1  # said once, not per reload
    assert all(r["config"] == rows[0]["config"] for r in rows)  # the same settings throughout


def test_an_agent_started_with_a_broken_config_uses_the_last_good_one(tmp_path: Path) -> None:
    home = applied_home(tmp_path / "home")
    home.config_file.write_text(HUGE_HEX)

    agent = Agent(home, listen="127.0.0.1:0")
    try:
        agent.begin()
        assert agent.live.config.device.name == "study-laptop"
        assert agent.live.rules.matcher.decide("https://bet365.com/").decision == "allow"
        assert (
            agent.live.config_problem and "port must be at most 65535" in agent.live.config_problem
        )
    finally:
        agent.end()
    status = candor(home.root, "status", "--json")
    problems = [p["problem"] for p in json.loads(status.stdout)["problems"]]
    assert any("port must be at most 65535" in p and "last applied" in p for p in problems)


def test_the_report_says_when_the_settings_file_was_broken_and_that_nothing_loosened(
    tmp_path: Path,
) -> None:
    """The partner reads, in plain words, from when to when config.toml could not be read, and
    that the settings in force stayed; a file still broken at report time is said so."""
    home = applied_home(tmp_path / "home")
    agent = Agent(home, listen="127.0.0.1:0")
    try:
        agent.begin()
        home.config_file.write_text(DEEP_TABLE)
        assert wait_for(lambda: any(r.get("config_problem") for r in applied_rows(home)))
        _, text = next_report(home.root)
        assert f"{SETTINGS_BROKEN} from " in text and "still broken when this report" in text
        assert SETTINGS_KEPT in text
        home.config_file.write_text(GOOD)
        assert wait_for(lambda: not applied_rows(home)[-1].get("config_problem"))
    finally:
        agent.end()
    _, text = next_report(home.root)
    assert f"{SETTINGS_BROKEN} from " in text and " to " in text
    assert "still broken" not in text and SETTINGS_KEPT in text
