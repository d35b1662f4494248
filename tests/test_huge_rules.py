"""Huge inputs (issue 12, item 12): a large rules file of the person's own is compiled like an
imported list, keeps naming file:line, is journaled by hash and entry count, and a removed line
is still a loosening the partner reads; an import's compiled copy is what the agent loads; the
agent opens its port with the rules last applied while a changed large file compiles."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from agent.config import Home, load_config
from agent.journal import Journal, clock
from agent.journal.clock import Uptime
from agent.journal.events import AgentStart
from agent.journal.loosening import Loosening
from agent.policy import change_events
from agent.policy.live_rules import LiveRules
from agent.policy.own_rules import LARGE_FILE_HOSTS
from agent.policy.rulebook import LoadedRules, load_rules, remember_applied
from tests.conftest import candor, without_shipped_lists
from tests.origins import Origin
from tests.proxy_fixtures import start_agent, write_home

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
BOOT = clock.read_uptime()
BOOT = Uptime(BOOT.boot_id, float(int(BOOT.seconds)))
"""Whole seconds: a wait measured between two `uptime_at` values is then exact (a fraction
here made 24 h come out a few nanoseconds short for some uptimes, and the test flaky)."""
HOSTS = 200_000
"""Lines of the generated own rules file: twenty times the threshold, a few seconds to compile."""


def uptime_at(at: datetime) -> Uptime:
    return Uptime(BOOT.boot_id, BOOT.seconds + (at - T0).total_seconds())


def host(i: int) -> str:
    return f"site{i}.bulk{i % 89}.test"


def big_text(count: int, skip: frozenset[int] = frozenset()) -> str:
    """`count` host lines (line i + 1 names host(i)), then a path rule, a keyword and an
    exception: the lines that stay ordinary rules."""
    lines = [host(i) if i not in skip else "# gone" for i in range(count)]
    lines += ["bulk3.test/private", "keyword: roulette", "@@site7.bulk7.test"]
    return "\n".join(lines) + "\n"


def seen(home: Home, at: datetime) -> LoadedRules:
    """Load the rules at `at` and journal what changed and what is in force, as the agent does
    when it starts."""
    loaded = load_rules(home, load_config(home), now=at, uptime=uptime_at(at))
    remember_applied(home, loaded, change_events.since_last_run(loaded))
    return loaded


def cache_files(home: Home) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in home.list_cache_dir.iterdir()
        if not p.name.startswith(".")
    }


def newest(home: Home, kind: str) -> dict:
    with Journal(home.journal_file) as journal:
        row = next(journal.latest([kind], 1))
    return row.body


def test_a_large_own_file_is_compiled_names_its_lines_and_is_journaled_by_hash(
    home: Home,
) -> None:
    without_shipped_lists(home.root)  # `rules test` would place it between the two loads
    path = home.rules_dir / "adult.txt"
    path.write_text(big_text(HOSTS))
    loaded = seen(home, T0)

    # The hosts are one compiled list; the few other lines stay ordinary rules.
    assert loaded.lists["rules/adult.txt"]["entries"] == HOSTS
    assert loaded.lists["rules/adult.txt"]["hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(loaded.sources["adult"]) == [
        "@@site7.bulk7.test",
        "bulk3.test/private",
        "keyword: roulette",
    ]
    assert loaded.rule_counts["adult"] == HOSTS + 3
    assert any(p.suffix == ".lines" for p in home.list_cache_dir.iterdir())

    # Decisions name the file and line, for list hosts and ordinary rules alike.
    d = loaded.matcher.decide(f"https://www.{host(123456)}/")
    assert (d.decision, d.rule, d.source) == ("block", host(123456), "adult.txt:123457")
    assert loaded.matcher.decide("https://bulk3.test/private/x").source == f"adult.txt:{HOSTS + 1}"
    assert loaded.matcher.decide("https://site7.bulk7.test/").decision == "allow"  # the @@ line
    assert loaded.matcher.decide("https://roulette.example/").decision == "block"
    shown = candor(home.root, "rules", "test", f"https://{host(42)}/", check=True).stdout
    assert f"'{host(42)}' (adult.txt:43)" in shown

    # The journal row holds the hash and count, not 200,000 rule texts.
    row = newest(home, "rules_applied")
    assert row["lists"]["rules/adult.txt"]["entries"] == HOSTS
    assert len(json.dumps(row)) < 10_000

    # The next load maps the compiled copy: nothing is compiled or written again.
    before = cache_files(home)
    again = load_rules(home, load_config(home), now=T0, uptime=uptime_at(T0))
    assert cache_files(home) == before
    assert again.matcher.decide(f"https://{host(42)}/").source == "adult.txt:43"
    assert again.matcher.fingerprint == loaded.matcher.fingerprint


def test_removing_lines_from_a_large_own_file_is_a_loosening_the_partner_reads(
    home: Home,
) -> None:
    path = home.rules_dir / "adult.txt"
    path.write_text(big_text(HOSTS))
    seen(home, T0)
    removed = frozenset(range(1000, 200_000, 20_000))  # ten lines
    path.write_text(big_text(HOSTS, skip=removed))

    held = seen(home, T0 + timedelta(hours=1))
    (waiting,) = held.pending
    assert (waiting.what, waiting.value) == (Loosening.LIST_SHORTENED, "rules/adult.txt")
    assert (waiting.entries_removed, waiting.entries_before) == (10, HOSTS)
    assert "the rules file adult.txt in adult is being shortened" in waiting.describe()
    d = held.matcher.decide(f"https://{host(21000)}/")
    assert d.decision == "block" and d.pending_until == T0 + timedelta(hours=1) + DAY
    assert d.source == "adult.txt:21001"  # the old version's line

    # The journal names each removed host rule, as it would for a small file.
    (change,) = newest(home, "rules_changed")["changes"]
    (item,) = change["lists"]
    assert (item["list"], item["entries_removed"], item["entries_before"]) == (
        "rules/adult.txt",
        10,
        HOSTS,
    )
    assert sorted(item["rules_removed"]) == sorted(host(i) for i in removed)
    assert item["pending_until"]

    done = seen(home, T0 + timedelta(hours=26))
    assert done.pending == ()
    assert done.matcher.decide(f"https://{host(21000)}/").decision == "allow"
    assert done.matcher.decide(f"https://{host(21001)}/").decision == "block"


def test_the_report_names_the_host_rules_a_large_file_lost(home: Home) -> None:
    from reporter.integrity import changes
    from reporter.scope import Scope

    path = home.rules_dir / "adult.txt"
    path.write_text(big_text(LARGE_FILE_HOSTS + 100))
    seen(home, T0)
    path.write_text(big_text(LARGE_FILE_HOSTS + 100, skip=frozenset({5, 6})))
    seen(home, T0 + timedelta(hours=1))
    with Journal(home.journal_file) as journal:
        last = journal.head()
        assert last is not None
        scope = Scope(T0 - DAY, T0 + DAY, UTC, T0 + DAY, 0, last.seq)
        shared = changes(journal, scope, "domains").loosening
        summary = changes(journal, scope, "summary").loosening
    (entry,) = [c for c in shared if c.kind == "rules"]
    assert entry.description == "the rules file adult.txt lost 2 of its 10,100 host rules"
    assert sorted(entry.detail or []) == [host(5), host(6)]
    assert [c.detail for c in summary if c.kind == "rules"] == [None]


def test_a_file_growing_past_the_threshold_or_shrinking_below_it_loosens_only_what_went(
    home: Home,
) -> None:
    path = home.rules_dir / "adult.txt"
    small = LARGE_FILE_HOSTS - 5
    path.write_text("\n".join(host(i) for i in range(small)) + "\n")
    seen(home, T0)

    # Grown past the threshold (as after upgrading Candor with a large file): the hosts move
    # into the compiled form, and nothing counts as removed.
    path.write_text("\n".join(host(i) for i in range(small + 20)) + "\n")
    grown = seen(home, T0 + timedelta(hours=1))
    assert "rules/adult.txt" in grown.lists
    assert grown.pending == ()
    with Journal(home.journal_file) as journal:
        assert not list(journal.latest(["rules_changed"], 1))  # no rule counts as removed

    # Shrunk below it again, losing three hosts: those three wait, the rest moved back.
    kept = [host(i) for i in range(small + 20) if i not in (3, 4, 9)][: small - 10]
    path.write_text("\n".join(kept) + "\n")
    shrunk = seen(home, T0 + timedelta(hours=2))
    assert "rules/adult.txt" not in shrunk.lists
    (waiting,) = shrunk.pending
    assert (waiting.what, waiting.value) == (Loosening.LIST_SHORTENED, "rules/adult.txt")
    lost = (small + 20) - len(kept)
    assert waiting.entries_removed == lost
    body = newest(home, "rules_changed")
    (change,) = body["changes"]
    assert change["tightening"] == [] and change["loosening"] == []
    assert change["lists"][0]["entries_removed"] == lost
    assert shrunk.matcher.decide(f"https://{host(3)}/").decision == "block"  # held


# -- an import's compiled copy is what the running agent loads ----------------------------------


def test_the_agent_maps_the_compiled_copy_an_import_wrote(home: Home, tmp_path: Path) -> None:
    source = tmp_path / "bulk.txt"
    source.write_text("\n".join(host(i) for i in range(HOSTS)) + "\n")
    with Journal(home.journal_file) as journal:
        live = LiveRules(home, journal=journal)
        live.start()
        candor(home.root, "rules", "import", str(source), "--category", "adult", check=True)

        # The compiled copy was complete before the list was in place (the agent sees the list
        # only then), so a reload at any moment finds it.
        data = home.lists_dir / "adult" / "bulk.list"
        meta = home.lists_dir / "adult" / "bulk.json"
        sides = list(home.list_cache_dir.glob("lists-adult-bulk.*.json"))
        assert len(sides) == 1
        side_written = sides[0].stat().st_mtime_ns
        assert side_written <= data.stat().st_ctime_ns <= meta.stat().st_mtime_ns

        # The running agent's reload maps that copy (same key): nothing parsed or written again.
        before = cache_files(home)
        outcome = live.reload()
        assert outcome.applied
        assert cache_files(home) == before
        d = live.rules.matcher.decide(f"https://{host(777)}/")
        assert (d.decision, d.source) == ("block", "lists/adult/bulk")
        assert live.rules.lists["lists/adult/bulk"]["entries"] == HOSTS


# -- the port opens with the rules last applied while a changed large file compiles -------------


def start_event() -> AgentStart:
    return AgentStart(version="test", rules_fingerprint="", previous_stop_clean=True)


def count_rows(home: Home, kind: str) -> int:
    with Journal(home.journal_file) as journal:
        return len(list(journal.latest([kind], 100)))


def test_a_start_serves_the_rules_last_applied_while_a_changed_large_file_compiles(
    home: Home,
) -> None:
    path = home.rules_dir / "adult.txt"
    count = LARGE_FILE_HOSTS + 500
    path.write_text(big_text(count))
    with Journal(home.journal_file) as journal:
        first = LiveRules(home, journal=journal, quick_start=True)
        assert not first.provisional  # nothing applied yet: built first, as always
        first.start([start_event()])
        # Unchanged since: its compiled copy is there, so no snapshot is needed either.
        assert not LiveRules(home, journal=journal, quick_start=True).provisional

    # While Candor is stopped the person adds a host and removes one.
    path.write_text(big_text(count, skip=frozenset({5})) + "late.bulk.test\n")
    with Journal(home.journal_file) as journal:
        live = LiveRules(home, journal=journal, quick_start=True)
        assert live.provisional
        assert live.rules.matcher.decide("https://late.bulk.test/").decision == "allow"
        d = live.rules.matcher.decide(f"https://{host(5)}/")
        assert (d.decision, d.source) == ("block", "adult.txt:6")  # as last applied
        live.start([start_event()])
        assert count_rows(home, "agent_start") == 2
        assert count_rows(home, "rules_applied") == 1  # nothing new is in force yet

        events = live.finish_start()  # the build, journaled before it takes effect
        assert not live.provisional
        assert [e.kind for e in events] == ["rules_changed"]
        assert count_rows(home, "rules_applied") == 2
        assert live.rules.matcher.decide("https://late.bulk.test/").decision == "block"
        held = live.rules.matcher.decide(f"https://{host(5)}/")
        assert held.decision == "block" and held.pending_until is not None  # cooling-off


def test_no_snapshot_without_the_compiled_copy_the_journal_names(home: Home) -> None:
    path = home.rules_dir / "adult.txt"
    count = LARGE_FILE_HOSTS + 500
    path.write_text(big_text(count))
    with Journal(home.journal_file) as journal:
        LiveRules(home, journal=journal, quick_start=True).start([start_event()])
    path.write_text(big_text(count) + "late.bulk.test\n")
    # The copy of what was applied is gone (or was never the journal's): nothing stands in for
    # the journal, and the start builds first, as it always did.
    applied_hash = hashlib.sha256(big_text(count).encode()).hexdigest()
    for p in home.list_cache_dir.iterdir():
        if p.name.startswith("rules-adult-txt."):
            p.unlink()
    assert not any(applied_hash in p.name for p in home.list_cache_dir.iterdir())
    with Journal(home.journal_file) as journal:
        live = LiveRules(home, journal=journal, quick_start=True)
        assert not live.provisional
        assert live.rules.matcher.decide("https://late.bulk.test/").decision == "block"


def test_the_agent_answers_from_the_rules_last_applied_before_the_build(
    tmp_path: Path, origin: Origin
) -> None:
    home = tmp_path / "home"
    write_home(home)
    count = LARGE_FILE_HOSTS + 500
    (home / "rules" / "adult.txt").write_text(big_text(count))
    agent = start_agent(home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1")
    try:
        agent.wait_for_event("agent_start")
    finally:
        assert agent.stop() == 0

    with (home / "rules" / "adult.txt").open("a") as f:
        f.write("late.bulk.test\n")
    gate = tmp_path / "let-the-build-go"
    agent = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1", hold_build_until=gate
    )
    try:
        with httpx.Client(proxy=agent.proxy_url, timeout=10) as client:
            # The build is held, yet the port is open and answers from what was applied.
            assert client.get(origin.http(host(42), "/")).status_code == 403
            assert client.get(origin.http("late.bulk.test", "/")).status_code == 200
            assert agent.events("rules_changed") == []
            gate.touch()
            agent.wait_for_event("rules_changed")
            # The row comes first, the swap right after it: ask until the swap is seen.
            deadline = time.monotonic() + 30
            while client.get(origin.http("late.bulk.test", "/")).status_code != 403:
                assert time.monotonic() < deadline, "the fresh build was never swapped in"
                time.sleep(0.1)
    finally:
        assert agent.stop() == 0
