"""`candor rules allow HOST` (issue 17, item 3): the honest way past a false positive from any
source, a public list's entry included, waiting for the cooling-off like any loosening; and the
messages after `rules remove`, `rules allow` and `allow` say when the change takes effect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import Home, load_config
from agent.policy.rulebook import load_rules, remember_applied
from tests.conftest import candor


@pytest.fixture
def home(home_dir: Path) -> Home:
    home = Home.at(home_dir)
    home.ensure()
    return home


def applied(home: Home) -> None:
    """Put the rules on disk in force, as the agent's start journals them."""
    remember_applied(home, load_rules(home, load_config(home), now=datetime.now(UTC)))


def test_a_public_lists_entry_is_let_through_by_the_allowlist(home: Home) -> None:
    candor(home.root, "rules", "add", "adult", "listed.example", check=True)
    before = candor(home.root, "rules", "test", "https://www.listed.example/", "--json")
    assert '"decision": "block"' in before.stdout
    said = candor(home.root, "rules", "allow", "listed.example", check=True).stdout
    assert said.startswith("Added listed.example to your allowlist in config.toml")
    assert "It takes effect when Candor next starts (it is not running now)." in said
    assert 'allowlist = ["listed.example"]' in home.config_file.read_text()
    after = candor(home.root, "rules", "test", "https://www.listed.example/", "--json")
    assert '"decision": "allow"' in after.stdout
    again = candor(home.root, "rules", "allow", "LISTED.example", check=True)
    assert again.stdout.strip() == "listed.example is already on your allowlist."


def test_with_a_cooling_off_the_allow_waits_and_says_so(home: Home) -> None:
    home.config_file.write_text('cooling_off = "24h"\n')
    candor(home.root, "rules", "add", "adult", "listed.example", check=True)
    applied(home)
    said = candor(home.root, "rules", "allow", "listed.example", check=True).stdout
    assert "It waits for your cooling-off time (1d), counted from when Candor next starts" in said
    test = candor(home.root, "rules", "test", "https://listed.example/", "--json")
    assert '"decision": "block"' in test.stdout  # the stricter rule stays until then
    status = candor(home.root, "status", "--no-verify").stdout
    assert "listed.example is being added to the allowlist" in status


def test_removing_a_rule_says_when_it_takes_effect(home: Home) -> None:
    candor(home.root, "rules", "add", "adult", "mine.example", check=True)
    said = candor(home.root, "rules", "remove", "adult", "mine.example", check=True).stdout
    assert "Removed from adult: mine.example" in said
    assert "It takes effect when Candor next starts" in said
    home.config_file.write_text('cooling_off = "2h"\n')
    candor(home.root, "rules", "add", "adult", "mine.example", check=True)
    applied(home)
    said = candor(home.root, "rules", "remove", "adult", "mine.example", check=True).stdout
    assert "It waits for your cooling-off time (2h)" in said


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("com", "is a public suffix"),
        ("co.uk", "is a public suffix"),
        ("https://listed.example/", "not a URL"),
        ("bad host!", "character not allowed"),
    ],
)
def test_what_cannot_be_allowed_is_refused_in_one_sentence(
    home: Home, host: str, words: str
) -> None:
    proc = candor(home.root, "rules", "allow", host)
    assert proc.returncode == 1
    assert words in proc.stderr and proc.stderr.strip().endswith("Nothing was added.")
    assert "allowlist" not in (home.config_file.read_text() if home.config_file.exists() else "")
