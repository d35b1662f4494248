"""The shipped snapshot of public lists (`agent.policy.snapshot`): a fresh home's real agent
blocks a snapshot host through its proxy with no download, and a newer Candor's newer snapshot
replaces the placed copy (a shrinking one as loosening, held for the cooling-off delay), while
an older Candor's older snapshot never replaces a newer one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from agent.config import Home
from agent.journal import Journal
from agent.journal.loosening import Loosening
from agent.policy.imported_lists import meta_path_for, read_meta
from agent.policy.live_rules import LiveRules
from agent.policy.snapshot import SNAPSHOT_STATE, offer_snapshot, offered
from agent.policy.subscriptions import install_snapshot
from rules.catalogue import CatalogueEntry, by_name, snapshot_bytes, snapshots
from tests.origins import Origin, OriginCert
from tests.proxy_fixtures import client_context, open_page, start_agent

LIST = "lists/gambling/sinfonietta-gambling"
EXTRA = "only-in-the-old-copy.test"


def test_a_fresh_home_blocks_a_snapshot_host_through_the_real_proxy(
    home_dir: Path, origin_cert: OriginCert, untouched_origin: Origin
) -> None:
    """No `init`, no subscription, no download: the agent's first start places the snapshot
    and its proxy answers a listed host with the block page, never contacting it."""
    agent = start_agent(
        home_dir,
        "--listen",
        "127.0.0.1:0",
        "--resolve",
        "*:127.0.0.1",
        "--upstream-ca",
        str(origin_cert.cert),
    )
    try:
        context = client_context(agent.ca_cert, origin_cert.cert)
        with httpx.Client(proxy=agent.proxy_url, verify=context, timeout=10) as client:
            page = open_page(client, untouched_origin.http("m.artnudelist.com", "/gallery"))
        assert page.status_code == 403
        assert page.headers["x-candor-decision"] == "block; category=adult"
        assert "sinfonietta-porn" in page.text
        event = agent.wait_for_event("decision", lambda e: e["host"] == "m.artnudelist.com")
        assert event["decision"] == "block" and event["category"] == "adult"
        assert untouched_origin.log.connections == [] and untouched_origin.log.requests == []
        assert agent.events("list_refresh") == []  # nothing was downloaded
    finally:
        assert agent.stop() == 0, "".join(agent.stderr_lines)


@dataclass
class Agent:
    """What the agent keeps for rules: the live rules on a journal (loaded by `start`)."""

    home: Home
    journal: Journal
    live: LiveRules | None = None

    def start(self) -> LiveRules:
        self.live = LiveRules(self.home, journal=self.journal)
        self.live.start()
        return self.live

    def source(self, url: str) -> str | None:
        assert self.live is not None
        decision = self.live.rules.matcher.decide(url)
        return decision.source if decision.decision == "block" else None

    def held(self) -> list[str]:
        assert self.live is not None
        return [p.value for p in self.live.rules.pending if p.what == Loosening.LIST_SHORTENED]


@pytest.fixture
def agent(home: Home) -> Iterator[Agent]:
    journal = Journal(home.journal_file)
    yield Agent(home, journal)
    journal.close()


def shipped() -> CatalogueEntry:
    entry = by_name("sinfonietta-gambling")
    assert entry is not None and entry.snapshot_date == "2026-04-23"
    return entry


def place_older_copy(home: Home, date: str, data: bytes) -> None:
    """A home an older Candor set up: its snapshot of `date` placed and noted as given."""
    install_snapshot(home, replace(shipped(), snapshot_date=date), data)
    given = {e.name: e.snapshot_date for e in snapshots()} | {shipped().name: date}
    home.state_dir.mkdir(parents=True, exist_ok=True)
    (home.state_dir / SNAPSHOT_STATE).write_text(json.dumps({"offered": given}))


def placed_date(home: Home) -> str | None:
    meta = read_meta(meta_path_for(home.lists_dir, "gambling", shipped().name))
    return meta.snapshot if meta else None


def test_a_newer_snapshot_replaces_an_older_placed_copy(home: Home, agent: Agent) -> None:
    lines = snapshot_bytes(shipped()).splitlines(keepends=True)
    place_older_copy(home, "2025-01-01", b"".join(lines[: len(lines) // 2]))
    live = agent.start()
    before = live.rules.list_counts[LIST]

    assert offer_snapshot(home) == [shipped().name]
    assert placed_date(home) == "2026-04-23"
    assert offered(home)[shipped().name] == "2026-04-23"
    assert offer_snapshot(home) == []  # once per version
    live.reload()
    assert live.rules.list_counts[LIST] > before  # grown: tightening, at once
    assert agent.held() == []


def test_a_shrinking_newer_snapshot_is_loosening_held_for_the_cooling_off(
    home: Home, agent: Agent
) -> None:
    data = snapshot_bytes(shipped())
    place_older_copy(home, "2025-01-01", data + f"0.0.0.0 {EXTRA}\n".encode())
    live = agent.start()
    assert agent.source(f"https://{EXTRA}/") == LIST

    assert offer_snapshot(home) == [shipped().name]
    live.reload()
    assert agent.source(f"https://{EXTRA}/") == LIST  # the lost entry waits
    assert agent.held() == [LIST]
    changed = [e.body for e in agent.journal.events(kinds=["rules_changed"])]
    assert LIST in json.dumps(changed[-1]["changes"])


def test_an_older_snapshot_never_replaces_a_newer_one_or_a_removed_list(home: Home) -> None:
    """A downgrade ships an older snapshot: the newer placed copy stays. A list the person
    removed (given, and gone from `lists/`) is not put back, by this version or a newer one."""
    place_older_copy(home, "2099-01-01", snapshot_bytes(shipped()))
    assert offer_snapshot(home) == []
    assert placed_date(home) == "2099-01-01"
    removed = [e for e in snapshots() if e.name != shipped().name]
    assert removed and all(placed(home, e) is False for e in removed)
    state = json.loads((home.state_dir / SNAPSHOT_STATE).read_text())
    state["offered"] |= {e.name: "2020-01-01" for e in removed}  # this Candor's copy is newer
    (home.state_dir / SNAPSHOT_STATE).write_text(json.dumps(state))
    assert offer_snapshot(home) == []
    assert all(placed(home, e) is False for e in removed)


def placed(home: Home, entry: CatalogueEntry) -> bool:
    return meta_path_for(home.lists_dir, entry.category, entry.name).exists()
