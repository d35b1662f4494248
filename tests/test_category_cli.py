"""`candor category set|add` (issue 17, item 2): settings without editing config.toml, each a
change the agent treats like an edit by hand (stricter at once, looser after the cooling-off)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.config import Home, load_config
from agent.policy.rulebook import load_rules, remember_applied
from tests.conftest import candor


def test_setting_a_categorys_action_writes_config_and_says_when(home_dir: Path) -> None:
    said = candor(home_dir, "category", "set", "adult", "warn", check=True).stdout
    assert said.startswith("adult now shows a pause page first")
    assert "It takes effect when Candor next starts" in said
    assert load_config(Home.at(home_dir)).categories["adult"].action == "warn"
    test = candor(home_dir, "rules", "test", "https://pornhub.com/", "--json").stdout
    assert '"decision": "warn"' in test
    again = candor(home_dir, "category", "set", "adult", "warn", check=True).stdout
    assert (
        again.strip() == "adult already shows a pause page first, where you can choose to continue."
    )


def test_loosening_an_action_waits_for_the_cooling_off(home_dir: Path) -> None:
    home = Home.at(home_dir)
    home.ensure()
    home.config_file.write_text('cooling_off = "24h"\n')
    remember_applied(home, load_rules(home, load_config(home), now=datetime.now(UTC)))
    said = candor(home_dir, "category", "set", "gambling", "log", check=True).stdout
    assert "It waits for your cooling-off time (1d)" in said
    test = candor(home_dir, "rules", "test", "https://casino.example.com/", "--json").stdout
    assert '"decision": "block"' in test
    stricter = candor(home_dir, "category", "set", "gambling", "block", check=True).stdout
    assert "It takes effect when Candor next starts" in stricter


def test_a_new_category_gets_a_file_and_is_pointed_to_a_list(home_dir: Path) -> None:
    said = candor(home_dir, "category", "add", "dating", check=True).stdout
    assert (
        "Added the category dating, for dating and hook-up sites (rules/dating.txt, with no "
        "sites yet). It blocks its sites with Candor's block page." in said
    )
    assert "`candor lists add ut1-dating`" in said
    assert (home_dir / "rules" / "dating.txt").read_text().startswith("# Your rules for dating")
    assert load_config(Home.at(home_dir)).categories["dating"].action == "block"
    candor(home_dir, "rules", "add", "dating", "meet.example", check=True)
    test = candor(home_dir, "rules", "test", "https://meet.example/", "--json").stdout
    assert '"category": "dating"' in test and '"decision": "block"' in test
    twice = candor(home_dir, "category", "add", "dating")
    assert twice.returncode == 1 and "'dating' already exists" in twice.stderr


def test_unknown_and_malformed_categories_are_one_sentence(home_dir: Path) -> None:
    unknown = candor(home_dir, "category", "set", "dating", "block")
    assert unknown.returncode == 1
    assert "There is no category 'dating'. Start it with `candor category add dating`." in (
        unknown.stderr
    )
    bad = candor(home_dir, "category", "add", "Bad Name!")
    assert bad.returncode == 1 and "not a usable category name" in bad.stderr
