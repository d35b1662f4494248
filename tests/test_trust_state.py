"""Issue 10: a clean report must mean a clean week. Each test performs one way around Candor
that goes through local state or the clock, exactly as a determined person would (real files,
real `candor` commands, a real agent), and checks what the partner reads in the next report
and what `candor status` says.

The journal is the only source of truth for what protects: files under `state/` are caches,
never obeyed, and a wait ends only when the wall clock and the computer's uptime agree.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from agent.journal import Journal
from tests.conftest import candor
from tests.harness import faked_wall_clock
from tests.origins import Origin
from tests.proxy_fixtures import RunningAgent, open_page, start_agent, write_home
from tests.report_helpers import next_report

pytestmark = pytest.mark.slow


def agent_home(tmp_path: Path, cooling_off: str = "24h") -> Path:
    """The proxy tests' home (rules for every action, detail level "detailed"), with a delay."""
    home = tmp_path / "home"
    write_home(home)
    config = home / "config.toml"
    config.write_text(f'cooling_off = "{cooling_off}"\n' + config.read_text())  # top-level first
    return home


def run(home: Path, **options: Any) -> RunningAgent:
    """`candor run` on `home`, every host resolved to this machine."""
    return start_agent(home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1", **options)


def set_level(home: Path, level: str) -> None:
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace('detail_level = "detailed"', f'detail_level = "{level}"')
    )


def fetch(agent: RunningAgent, origin: Origin, host: str) -> httpx.Response:
    """The page a person sees on opening `host` (Candor's own page, if it is blocked)."""
    with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
        return open_page(client, origin.http(host, "/"))


def until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the running agent did not take the change"
        time.sleep(0.1)


def held(page: httpx.Response) -> bool:
    """A block page that says a loosening waits for the cooling-off."""
    return page.status_code == 403 and "stays in force" in page.text


# -- 1. a hand-written state/allow.json -----------------------------------------------------------


def test_a_hand_written_allow_file_lets_nothing_through(tmp_path: Path, origin: Origin) -> None:
    home = agent_home(tmp_path, cooling_off="0")
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        now = datetime.now(UTC)
        forged = {
            "grants": [
                {"host": host, "granted_at": (now - timedelta(minutes=1)).isoformat(),
                 "until": "2099-01-01T00:00:00+00:00"}
                for host in ("com", "test", "blocked.test")
            ]
        }  # fmt: skip
        (home / "state" / "allow.json").write_text(json.dumps(forged))
        found = agent.wait_for_event("bypass_suspected", lambda e: e["what"] == "state_edited")
        assert found["source"] == "state/allow.json"
        assert fetch(agent, origin, "blocked.test").status_code == 403
        shown = json.loads(candor(home, "rules", "test", "https://blocked.test/", "--json").stdout)
        assert shown["decision"] == "block"
        assert json.loads(candor(home, "status", "--json").stdout)["temporary_allows"] == []

        # The honest command refuses what it should not grant ...
        refused = candor(home, "allow", "com", "--for", "1h", "--reason", "everything")
        assert refused.returncode == 1 and "public suffix" in refused.stderr
        refused = candor(home, "allow", "co.uk", "--for", "1h", "--reason", "everything")
        assert refused.returncode == 1 and "public suffix" in refused.stderr
        refused = candor(home, "allow", "example.org", "--for", "1h", "--reason", "why not")
        assert refused.returncode == 1 and "No rule blocks or warns example.org" in refused.stderr
        refused = candor(home, "allow", "blocked.test", "--for", "25h", "--reason", "long")
        assert refused.returncode == 1 and "at most 24h" in refused.stderr
        refused = candor(home, "allow", "blocked.test", "--for", "15m")  # no terminal to ask
        assert refused.returncode == 1 and "--reason" in refused.stderr
        # ... and grants, recorded with the reason typed, what it may.
        reason = "the school's reading list links here"
        candor(home, "allow", "blocked.test", "--for", "15m", "--reason", reason, check=True)
        until(lambda: fetch(agent, origin, "blocked.test").status_code == 200)
        granted = agent.wait_for_event("allow_granted")
        assert granted["reason"] == reason and granted["host"] == "blocked.test"
        candor(home, "allow", "blocked.test", "--end", check=True)
        until(lambda: fetch(agent, origin, "blocked.test").status_code == 403)
        assert agent.wait_for_event("allow_ended")["host"] == "blocked.test"
    finally:
        assert agent.stop() == 0

    doc, text = next_report(home)
    integrity = doc["integrity"]
    assert [b["what"] for b in integrity["bypass"]] == ["state_edited"]
    assert "edited or deleted by hand" in text
    (allowed,) = [c for c in integrity["loosening"] if c["kind"] == "temporary_allow"]
    assert reason in allowed["description"] and allowed["detail"] == ["blocked.test"]
    assert reason in text

    # At the summary level the partner reads that a reason was given, not the reason.
    set_level(home, "summary")
    doc, text = next_report(home)
    (allowed,) = [c for c in doc["integrity"]["loosening"] if c["kind"] == "temporary_allow"]
    assert allowed["description"].endswith("a reason was given") and allowed["detail"] is None
    assert reason not in text and "a reason was given" in text


# -- 2. exceptions smuggled in through an imported list ------------------------------------------


def test_an_imported_lists_exceptions_wait_and_are_reported_as_loosening(
    tmp_path: Path, origin: Origin
) -> None:
    home = agent_home(tmp_path)
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        smuggled = tmp_path / "x.txt"
        smuggled.write_text("@@||blocked.test^\n")
        proc = candor(home, "rules", "import", str(smuggled), "--category", "adult",
                      "--name", "extra", check=True)  # fmt: skip
        assert "less strict" in proc.stdout and "cooling-off" in proc.stdout
        changed = agent.wait_for_event(
            "rules_changed", lambda e: any(c["loosening"] for c in e["changes"])
        )
        (entry,) = changed["changes"]
        assert entry["loosening"] == ["@@blocked.test (from lists/adult/extra)"]
        assert list(entry["pending_until"]) == entry["loosening"]
        assert held(fetch(agent, origin, "blocked.test"))  # and the page says until when
        shown = json.loads(candor(home, "rules", "test", "https://blocked.test/", "--json").stdout)
        assert shown["decision"] == "block"
    finally:
        assert agent.stop() == 0

    doc, text = next_report(home)
    rules = [c for c in doc["integrity"]["loosening"] if c["kind"] == "rules"]
    assert [c["description"] for c in rules] == [
        "1 exception added to adult by the imported list extra"
    ]
    assert rules[0]["pending_until"] is not None
    (waiting,) = doc["integrity"]["pending"]
    assert waiting["description"] == "an exception is being added"
    assert "exception added to adult by the imported list extra" in text


# -- 3. an imported list replaced by hand, or updated to a shorter one ---------------------------


def test_a_shortened_list_keeps_its_lost_entries_for_the_cooling_off(
    tmp_path: Path, origin: Origin, httpserver: HTTPServer
) -> None:
    home = agent_home(tmp_path)
    hosts = [f"site{i}.listed.test" for i in range(200)]
    httpserver.expect_request("/big.txt").respond_with_data("\n".join(hosts) + "\n")
    url = httpserver.url_for("/big.txt")
    candor(home, "rules", "import", url, "--category", "adult", "--name", "big", check=True)
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        assert fetch(agent, origin, "site150.listed.test").status_code == 403

        # `candor rules update` brings a list that lost 150 of its 200 entries.
        httpserver.clear()
        httpserver.expect_request("/big.txt").respond_with_data("\n".join(hosts[:50]) + "\n")
        candor(home, "rules", "update", check=True)
        first = agent.wait_for_event(
            "rules_changed", lambda e: any(c.get("lists") for c in e["changes"])
        )
        (item,) = first["changes"][0]["lists"]
        assert (item["entries_before"], item["entries_after"], item["entries_removed"]) == (
            200, 50, 150,
        )  # fmt: skip
        assert item["pending_until"]
        assert held(fetch(agent, origin, "site150.listed.test"))

        # The list's file overwritten by hand: 49 of its 50 entries gone.
        (home / "lists" / "adult" / "big.list").write_text("site0.listed.test\n")
        second = agent.wait_for_event(
            "rules_changed",
            lambda e: any(
                i["entries_after"] == 1 for c in e["changes"] for i in c.get("lists", [])
            ),
        )
        (item,) = second["changes"][0]["lists"]
        assert (item["entries_before"], item["entries_removed"]) == (50, 49)
        assert held(fetch(agent, origin, "site30.listed.test"))
        assert held(fetch(agent, origin, "site150.listed.test"))
        assert fetch(agent, origin, "site0.listed.test").status_code == 403
    finally:
        assert agent.stop() == 0

    doc, text = next_report(home)
    said = [c["description"] for c in doc["integrity"]["loosening"]]
    assert "the imported list big lost 150 of its 200 entries" in said
    assert "the imported list big lost 49 of its 50 entries" in said
    assert "the imported list big lost 150 of its 200 entries" in text
    assert len(doc["integrity"]["pending"]) == 2


# -- 4. state/applied-rules.json deleted while the agent is stopped ------------------------------


def test_a_deleted_applied_state_does_not_hide_categories_turned_off(
    tmp_path: Path, origin: Origin
) -> None:
    home = agent_home(tmp_path)
    agent = run(home)
    agent.wait_for_event("agent_start")
    assert agent.stop() == 0

    (home / "state" / "applied-rules.json").unlink()
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace('[categories.gambling]\naction = "warn"', "")
        + '\n[categories.adult]\naction = "off"\n[categories.gambling]\naction = "off"\n'
    )
    agent = run(home)
    try:
        lowered = agent.wait_for_event("config_changed", lambda e: e.get("while_stopped", False))
        assert {(c["what"], c["to"]) for c in lowered["changes"]} == {
            ("categories.adult.action", "off"),
            ("categories.gambling.action", "off"),
        }
        assert all(c["pending_until"] for c in lowered["changes"])
        found = agent.wait_for_event("bypass_suspected")
        assert found["what"] == "state_edited" and "applied-rules.json" in found["source"]
        assert held(fetch(agent, origin, "blocked.test"))
        warned = fetch(agent, origin, "warned.test")
        assert warned.status_code != 200 and "stays in force" in warned.text
        status = json.loads(candor(home, "status", "--json", check=True).stdout)
        in_force = {r["category"]: r.get("action_in_force") for r in status["rules"]["categories"]}
        assert (in_force["adult"], in_force["gambling"]) == ("block", "warn")
    finally:
        assert agent.stop() == 0

    doc, text = next_report(home)
    said = [c["description"] for c in doc["integrity"]["loosening"]]
    assert "adult: changed from block to off" in said
    assert "gambling: changed from warn to off" in said
    assert "edited or deleted by hand" in text


# -- 5. state/pending.json edited or deleted -----------------------------------------------------


def test_an_edited_pending_file_does_not_skip_the_cooling_off(
    tmp_path: Path, origin: Origin
) -> None:
    home = agent_home(tmp_path)
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        (home / "rules" / "relaxed.txt").write_text("# nothing here any more\n")
        agent.wait_for_event("rules_changed", lambda e: any(c["loosening"] for c in e["changes"]))
        assert held(fetch(agent, origin, "relaxed.test"))
    finally:
        assert agent.stop() == 0

    pending = home / "state" / "pending.json"
    assert "relaxed.test" in pending.read_text()
    pending.write_text(json.dumps({"pending": []}))
    agent = run(home)
    try:
        found = agent.wait_for_event("bypass_suspected")
        assert found["what"] == "state_edited" and found["source"] == "state/pending.json"
        assert held(fetch(agent, origin, "relaxed.test"))
        pending.unlink()  # while it runs, too: nothing changes, and it is said once more
        agent.wait_for_event("bypass_suspected", lambda e: "deleted" in e["detail"])
        assert held(fetch(agent, origin, "relaxed.test"))
    finally:
        assert agent.stop() == 0
    status = json.loads(candor(home, "status", "--json", check=True).stdout)
    assert [p["value"] for p in status["pending"]] == ["relaxed.test"]
    with Journal(home / "journal.sqlite") as journal:
        assert not [e for e in journal.events(kinds=["rules_changed"]) if e.body.get("took_effect")]

    doc, text = next_report(home)
    (waiting,) = doc["integrity"]["pending"]
    assert waiting["description"] == "a rule is being removed" and waiting["detail"] == [
        "relaxed.test"
    ]
    assert "edited or deleted by hand" in text


# -- 6 and 7. the clock set forward; the time zone and the listen address -------------------------


def test_a_clock_set_forward_ends_no_wait(tmp_path: Path, origin: Origin) -> None:
    forward = faked_wall_clock("+2d")
    home = agent_home(tmp_path)
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        (home / "rules" / "relaxed.txt").write_text("# nothing here any more\n")
        agent.wait_for_event("rules_changed", lambda e: any(c["loosening"] for c in e["changes"]))
    finally:
        assert agent.stop() == 0

    # Two days ahead on the wall clock only: the computer's uptime says seconds have passed.
    agent = run(home, env=forward)
    try:
        agent.wait_for_event("agent_start")
        time.sleep(1.5)  # a deadline watch tick or three
        page = fetch(agent, origin, "relaxed.test")
        assert held(page)
    finally:
        assert agent.stop() == 0
    with Journal(home / "journal.sqlite") as journal:
        took = [e for e in journal.events(kinds=["rules_changed"]) if e.body.get("took_effect")]
        assert took == []
        start_rows = list(journal.events(kinds=["agent_start"]))
        assert start_rows[-1].time > datetime.now(UTC) + timedelta(days=1)  # it did run ahead
    shown = json.loads(candor(home, "rules", "test", "https://relaxed.test/", "--json").stdout)
    assert shown["decision"] == "block"
    doc, _ = next_report(home)
    assert [p["detail"] for p in doc["integrity"]["pending"]] == [["relaxed.test"]]


def test_the_time_zone_and_the_listen_address_are_journaled_changes(
    tmp_path: Path, origin: Origin
) -> None:
    home = agent_home(tmp_path, cooling_off="0")
    agent = run(home)
    try:
        agent.wait_for_event("agent_start")
        config = home / "config.toml"
        config.write_text(
            config.read_text() + '\n[report]\ntimezone = "Pacific/Kiritimati"\n'
            '[agent]\nlisten = "127.0.0.1:18081"\n'
        )
        changed = agent.wait_for_event("config_changed", lambda e: len(e["changes"]) == 2)
        assert {(c["what"], c["to"]) for c in changed["changes"]} == {
            ("report.timezone", "Pacific/Kiritimati"),
            ("agent.listen", "127.0.0.1:18081"),
        }
    finally:
        assert agent.stop() == 0
    doc, text = next_report(home)
    said = [c["description"] for c in doc["integrity"]["loosening"]]
    assert "Candor's listening address was changed from 127.0.0.1:8080 to 127.0.0.1:18081" in said
    # A zone change loosens nothing (each report starts where the last ended): it is a note.
    assert [z["current"] for z in doc["integrity"]["zone_changes"]] == ["Pacific/Kiritimati"]
    assert "time zone changed from" in text and "to Pacific/Kiritimati" in text
    assert "no hour is left out" in text
