"""An edit made while the agent starts is never missed (issue 12, item 6): watching starts before
the first load, reloads wait until the start is journaled, and then what changed meanwhile is
reloaded before anything is served. The edit is made from a hook the test hands the agent (Python
API), right after its first load: no sleep decides who wins."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from agent.config import Home
from agent.policy.live_rules import LiveRules
from agent.policy.watcher import RulesWatcher
from agent.proxy.runner import Agent

CONFIG = '[categories.gambling]\naction = "warn"\n'


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def fresh_home(root: Path) -> Home:
    home = Home.at(root)
    home.ensure()
    home.config_file.write_text(CONFIG)
    (home.rules_dir / "gambling.txt").write_text("warned.test\n")
    return home


def test_a_config_and_rules_edit_during_start_up_is_in_force_when_serving(
    tmp_path: Path,
) -> None:
    home = fresh_home(tmp_path / "home")

    def person_edits() -> None:  # between the first load and serving
        home.config_file.write_text(CONFIG.replace('"warn"', '"block"'))
        with (home.rules_dir / "gambling.txt").open("a") as f:
            f.write("late.test\n")

    agent = Agent(home, listen="127.0.0.1:0", after_first_load=person_edits)
    try:
        assert agent.live.config.categories["gambling"].action == "warn"  # read before the edit
        agent.begin()  # what `candor run` does before it opens its port
        assert agent.live.config.categories["gambling"].action == "block"
        assert agent.live.rules.matcher.decide("https://warned.test/").decision == "block"
        assert agent.live.rules.matcher.decide("https://late.test/").decision == "block"
    finally:
        agent.end()


def test_an_event_while_held_reloads_once_at_release(tmp_path: Path) -> None:
    home = fresh_home(tmp_path / "home")
    reloads: list[str] = []
    rechecks: list[str] = []
    watcher = RulesWatcher(home, lambda: reloads.append("reload"), debounce=0.01)
    watcher.start(held=True)
    try:
        home.config_file.write_text(CONFIG.replace('"warn"', '"log"'))
        assert wait_for(lambda: watcher.missed)
        assert reloads == []  # held: nothing reloads before the start is journaled
        watcher.release(lambda: rechecks.append("recheck"))
        assert reloads == ["reload"] and rechecks == []
        (home.rules_dir / "gambling.txt").write_text("other.test\n")
        assert wait_for(lambda: len(reloads) == 2)  # after release, edits reload as before
    finally:
        watcher.stop()


def test_reload_if_changed_reloads_only_after_an_edit(tmp_path: Path) -> None:
    home = fresh_home(tmp_path / "home")
    live = LiveRules(home)
    assert live.reload_if_changed() is None
    home.config_file.write_text(CONFIG.replace('"warn"', '"block"'))
    outcome = live.reload_if_changed()
    assert outcome is not None and outcome.applied
    assert live.rules.matcher.decide("https://warned.test/").decision == "block"
    assert live.reload_if_changed() is None
