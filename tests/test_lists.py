"""Subscribed lists (issue 14, items 1 and 2): the catalogue, the agent's refresh against a local
server (first download, 304, grown, shrunk, garbage, too large, no answer), downloads turned off,
the shipped snapshot on a fresh home, and the report's sentence for a stale list."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from agent.config import Home
from agent.journal import Journal
from agent.journal.events import ListRefresh
from agent.journal.loosening import Loosening
from agent.policy.list_updater import ListUpdater
from agent.policy.live_rules import LiveRules
from agent.policy.snapshot import offer_snapshot, offered
from agent.policy.subscriptions import MAX_LIST_BYTES, Wanted, subscribe
from reporter.integrity import stale_list_words
from reporter.scope import Scope
from rules.catalogue import catalogue, recommended, snapshot_bytes, snapshots
from rules.lists.formats import ListFormat
from tests.conftest import candor

DAY = timedelta(days=1)


class Running:
    """What the agent keeps for lists: the live rules on a journal, and the updater."""

    def __init__(self, home: Home) -> None:
        self.journal = Journal(home.journal_file)
        self.live = LiveRules(home, journal=self.journal)
        self.live.start()
        self.updater = ListUpdater(
            home,
            self.journal.append,
            lambda: self.live.effective_config,
            self.live.reload,
            jitter=timedelta(0),
            deadline=1.0,
        )

    def decision(self, url: str) -> str:
        return self.live.rules.matcher.decide(url).decision

    def refreshes(self) -> list[dict]:
        rows = self.journal.events()
        return [e.body for e in rows if e.kind == "list_refresh"]


@pytest.fixture
def running(home: Home) -> Iterator[Running]:
    agent = Running(home)
    yield agent
    agent.journal.close()


def test_the_catalogue_is_well_formed_and_its_snapshots_are_mit_or_unlicense() -> None:
    names = [e.name for e in catalogue()]
    assert len(names) == len(set(names)) >= 10
    assert all(e.url.startswith("https://") for e in catalogue())
    assert {e.category for e in catalogue()} >= {"adult", "gambling", "dating", "social", "bypass"}
    assert recommended("adult") and recommended("gambling")
    for entry in snapshots():
        assert entry.licence in ("MIT", "Unlicense") and entry.snapshot_date
        assert snapshot_bytes(entry).count(b"\n") > 1000


def test_first_download_304_grown_and_shrunk(
    home: Home, running: Running, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/dating.txt")
    subscribe(home, Wanted.address(url, "dating", ListFormat.DOMAINS))
    httpserver.expect_oneshot_request("/dating.txt").respond_with_data(
        "one.test\ntwo.test\n", headers={"ETag": '"v1"'}
    )
    [first] = running.updater.run_due()
    assert first.outcome == "updated" and first.after == 2
    assert running.decision("https://www.two.test/") == "block"

    # Not modified: the validator is sent, nothing changes.
    later = datetime.now(UTC) + DAY + timedelta(minutes=1)
    httpserver.expect_oneshot_request(
        "/dating.txt", headers={"If-None-Match": '"v1"'}
    ).respond_with_data("", status=304)
    [same] = running.updater.run_due(later)
    assert same.outcome == "unchanged", same.reason

    # Grown: immediate.
    httpserver.expect_oneshot_request("/dating.txt").respond_with_data(
        "one.test\ntwo.test\nthree.test\n", headers={"ETag": '"v2"'}
    )
    grown = running.updater.refresh_one(_subscription(home))
    assert (grown.outcome, grown.added, grown.removed) == ("updated", 1, 0)
    assert running.decision("https://three.test/") == "block"

    # Shrunk: the lost entry stays blocked for the cooling-off delay, and the counts are said.
    httpserver.expect_oneshot_request("/dating.txt").respond_with_data(
        "three.test\n", headers={"ETag": '"v3"'}
    )
    shrunk = running.updater.refresh_one(_subscription(home))
    assert (shrunk.before, shrunk.after, shrunk.removed) == (3, 1, 2)
    assert running.decision("https://one.test/") == "block"
    held = [p for p in running.live.rules.pending if p.what == Loosening.LIST_SHORTENED]
    assert [p.value for p in held] == ["lists/dating/dating"]
    rows = running.refreshes()
    assert [r["outcome"] for r in rows] == ["updated", "unchanged", "updated", "updated"]
    assert rows[-1]["removed"] == 2 and rows[-1]["entries"] == 1
    changed = [e.body for e in running.journal.events() if e.kind == "rules_changed"]
    assert changed and changed[-1]["changes"]


def _subscription(home: Home):
    from agent.policy.subscriptions import subscriptions

    [stored] = subscriptions(home)
    return stored


def test_garbage_and_a_50_mb_answer_are_refused_and_the_last_good_copy_kept(
    home: Home, running: Running, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/adult.txt")
    subscribe(home, Wanted.address(url, "adult", ListFormat.HOSTS))
    httpserver.expect_oneshot_request("/adult.txt").respond_with_data("0.0.0.0 kept.test\n")
    running.updater.run_due()
    assert running.decision("https://kept.test/") == "block"

    httpserver.expect_oneshot_request("/adult.txt").respond_with_data(
        "<!DOCTYPE html><html><body>Rate limited</body></html>", content_type="text/plain"
    )
    page = running.updater.refresh_one(_subscription(home))
    assert page.outcome == "failed" and "web page" in (page.reason or "")
    httpserver.expect_oneshot_request("/adult.txt").respond_with_data(
        "\n".join(f"%%% not a host {i} ???" for i in range(50)) + "\n0.0.0.0 only.test\n"
    )
    garbage = running.updater.refresh_one(_subscription(home))
    assert garbage.outcome == "failed" and "mostly not a list" in (garbage.reason or "")
    httpserver.expect_oneshot_request("/adult.txt").respond_with_data(b"0" * (50 * 1024 * 1024))
    huge = running.updater.refresh_one(_subscription(home))
    assert huge.outcome == "failed" and f"{MAX_LIST_BYTES // 2**20} MB" in (huge.reason or "")
    assert running.decision("https://kept.test/") == "block"
    # Three failures on one day: one row.
    assert [r["outcome"] for r in running.refreshes()] == ["updated", "failed"]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/list.txt"
    stop.set()
    thread.join()
    for s in held:
        s.close()
    listener.close()


def test_a_server_that_never_answers_times_out_and_is_tried_again_later(
    home: Home, running: Running, silent_server: str
) -> None:
    subscribe(home, Wanted.address(silent_server, "adult", ListFormat.HOSTS))
    start = datetime.now(UTC)
    [timed_out] = running.updater.run_due(start)
    assert timed_out.outcome == "failed" and "did not answer" in (timed_out.reason or "")
    assert running.updater.run_due(start + timedelta(minutes=30)) == []  # not yet
    [again] = running.updater.run_due(start + timedelta(hours=1, seconds=1))
    assert again.outcome == "failed"
    [row] = running.refreshes()
    assert row["outcome"] == "failed" and row["last_good"] is None


def test_downloads_off_fetches_nothing_and_says_so(
    home: Home, running: Running, httpserver: HTTPServer
) -> None:
    home.config_file.write_text("[lists]\ndownloads = false\n")
    running.live.reload()
    subscribe(home, Wanted.address(httpserver.url_for("/x.txt"), "adult", ListFormat.HOSTS))
    assert running.updater.run_due() == []
    assert httpserver.log == []
    assert [r["outcome"] for r in running.refreshes()] == ["off"]


def test_a_fresh_home_blocks_the_snapshot_until_a_subscription_replaces_it(
    home: Home, httpserver: HTTPServer
) -> None:
    assert offer_snapshot(home) == [e.name for e in snapshots()]
    assert offer_snapshot(home) == []  # once per home
    agent = Running(home)
    try:
        known = agent.live.rules.matcher.decide("https://m.artnudelist.com/")
        assert known.decision == "block" and known.source == "lists/adult/sinfonietta-porn"
        gambling = agent.live.rules.matcher.decide("https://borgataonline.com/")
        assert gambling.source == "lists/gambling/blocklistproject-gambling"
        # Subscribing to the shipped list keeps its name: the download replaces the snapshot,
        # and the other shipped gambling list goes (its lost entries held for the cooling-off).
        url = httpserver.url_for("/gambling-hosts")
        httpserver.expect_oneshot_request("/gambling-hosts").respond_with_data(
            "0.0.0.0 fresh-casino.test\n"
        )
        subscribe(home, Wanted("sinfonietta-gambling", "gambling", url, ListFormat.HOSTS))
        [done] = agent.updater.run_due()
        assert done.outcome == "updated"
        assert done.replaced == ["lists/gambling/blocklistproject-gambling"]
        assert agent.decision("https://fresh-casino.test/") == "block"
        assert agent.decision("https://borgataonline.com/") == "block"  # held for the delay
        held = {p.value for p in agent.live.rules.pending}
        assert "lists/gambling/blocklistproject-gambling" in held
    finally:
        agent.journal.close()


def test_a_list_older_than_14_days_is_a_sentence_in_the_report(home: Home) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with Journal(home.journal_file) as journal:
        journal.append(
            ListRefresh(
                list="lists/adult/sinfonietta-porn",
                outcome="failed",
                last_good="2026-11-03T08:00:00+00:00",
                reason="Cannot download it",
            ),
            ts=now - timedelta(hours=1),
        )
        journal.append(
            ListRefresh(
                list="lists/gambling/fresh",
                outcome="failed",
                last_good="2026-11-18T08:00:00+00:00",
            ),
            ts=now - timedelta(hours=1),
        )
        scope = Scope(now - 7 * DAY, now, UTC, now, 0, journal.head().seq)
        assert stale_list_words(journal, scope) == [
            "The list adult/sinfonietta-porn has not been refreshed since 3 November; Candor "
            "kept using its last copy."
        ]


def test_the_lists_command(home_dir: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/social.txt").respond_with_data("0.0.0.0 chat.test\n")
    url = httpserver.url_for("/social.txt")
    added = candor(home_dir, "lists", "add", url, "--category", "social", check=True)
    assert "Subscribed to social" in added.stdout and "1 entries" in added.stdout
    shown = candor(home_dir, "lists", "--json", check=True).stdout
    assert '"name": "social"' in shown and "up to date" in shown
    assert "shipped snapshot of 2026-04-23" in shown  # placed by `candor lists` on a new home
    again = candor(home_dir, "rules", "update", "social", check=True)
    assert "unchanged" in again.stdout
    removed = candor(home_dir, "lists", "remove", "social", check=True)
    assert "less strict" in removed.stdout
    assert "hagezi-nsfw" in candor(home_dir, "lists", "available", check=True).stdout


def test_init_subscribes_to_the_recommended_lists_and_status_shows_them(home_dir: Path) -> None:
    """`init --lists recommended` records subscriptions (nothing is downloaded: the agent does
    that), and `candor status` lists them, waiting for their first copy, beside the snapshot."""
    person = ["--your-name", "Alex", "--partner-name", "Sam", "--partner-email", "sam@example.org"]
    init = candor(home_dir, "init", "--yes", *person, "--lists", "recommended", check=True)
    wanted = [e.name for c in ("adult", "gambling", "bypass") for e in recommended(c)]
    assert wanted, "the catalogue recommends lists for the starter categories"
    for name in wanted:
        assert f"Subscribed to {name} " in init.stdout
    candor(home_dir, "lists", check=True)  # places the shipped snapshot, as an agent would
    status = candor(home_dir, "status", "--no-verify").stdout
    lists = status[status.index("Lists:") :]
    for name in wanted:
        assert f"/{name}" in lists
    assert "sinfonietta-porn" in lists
    unknown = candor(home_dir, "init", "--yes", *person, "--lists", "no-such-list")
    assert unknown.returncode == 1
    assert "'no-such-list' is not in the catalogue" in unknown.stderr


def test_lists_add_and_update_journal_the_same_row_as_the_agent(
    home_dir: Path, httpserver: HTTPServer
) -> None:
    """A refresh run by hand is in the journal, not only in `state/list-fetch.json`: the
    `list_refresh` row the agent's daily check writes, through the same code."""
    httpserver.expect_request("/dating.txt").respond_with_data(
        "one.test\ntwo.test\n", headers={"ETag": '"v1"'}
    )
    url = httpserver.url_for("/dating.txt")
    candor(home_dir, "lists", "add", url, "--category", "dating", "--format", "domains", check=True)
    updated = candor(home_dir, "lists", "update", "dating", check=True)
    assert "unchanged" in updated.stdout
    httpserver.clear()
    httpserver.expect_request("/dating.txt").respond_with_data("gone", status=404)
    failed = candor(home_dir, "lists", "update")
    assert failed.returncode == 1 and "404" in failed.stderr
    with Journal(Home.at(home_dir).journal_file) as journal:
        rows = [e.body for e in journal.events(kinds=["list_refresh"])]
    assert [(r["list"], r["outcome"]) for r in rows] == [
        ("lists/dating/dating", "updated"),
        ("lists/dating/dating", "unchanged"),
        ("lists/dating/dating", "failed"),
    ]
    assert rows[0]["entries"] == 2 and rows[0]["added"] == 2
    assert rows[1]["last_good"] is not None
    assert "404" in rows[2]["reason"] and rows[2]["last_good"] == rows[1]["last_good"]


def test_rules_test_on_a_home_the_agent_never_ran_in_sees_the_shipped_snapshot(
    home_dir: Path,
) -> None:
    """`candor rules test` gives a new home the shipped snapshot as the agent's first start
    does (the same `offer_snapshot`), so it answers what the agent would."""
    url = "https://m.artnudelist.com/"
    tested = candor(home_dir, "rules", "test", "--json", url, check=True)
    row = json.loads(tested.stdout)
    assert (row["decision"], row["source"]) == ("block", "lists/adult/sinfonietta-porn")
    assert "lists/adult/sinfonietta-porn" in row["reason"]
    home = Home.at(home_dir)
    assert offered(home) == {e.name: e.snapshot_date for e in snapshots()}
    assert offer_snapshot(home) == []  # the agent's start has nothing left to place
    agent = Running(home)
    try:
        decided = agent.live.rules.matcher.decide(url)
        assert (decided.decision, decided.source) == (row["decision"], row["source"])
    finally:
        agent.journal.close()
