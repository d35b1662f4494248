"""The journal: chaining, tamper detection, concurrent writers, crashes, pruning, migrations."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import random
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli.journal import format_event, format_verify
from agent.journal import (
    GENESIS_HASH,
    KINDS,
    Break,
    Event,
    Journal,
    JournalError,
    JournalTooNew,
    JournalWriter,
    Kind,
)
from agent.journal.schema import LATEST_VERSION, MIGRATIONS, migrate, read_version

REPO = Path(__file__).resolve().parents[1]
TS_SHAPE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
T0 = datetime(2026, 11, 26, 16, 24, 58, 123456, tzinfo=UTC)


class StepClock:
    """A test clock: starts at T0 and moves one second per reading."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


def independent_hash(seq: int, ts: str, kind: str, body: dict, prev_hash: str) -> str:
    """The recipe from DESIGN.md, written out again so the test does not trust the module."""
    record = {"seq": seq, "ts": ts, "kind": kind, "body": body, "prev_hash": prev_hash}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "journal.sqlite"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    with Journal(path, clock=StepClock()) as j:
        yield j


def fill(journal: Journal, n: int) -> list[Event]:
    return [journal.append_raw(Kind.DECISION, {"host": f"h{i}.example", "n": i}) for i in range(n)]


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as someone editing the file by hand would use; trigger dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only")
    return conn


def docs_script(tmp_path: Path) -> Path:
    text = (REPO / "docs" / "journal.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(# verify_journal\.py.*?)```", text, re.S)
    assert match, "docs/journal.md lost its verify_journal.py script"
    script = tmp_path / "verify_journal.py"
    script.write_text(match.group(1), encoding="utf-8")
    return script


def run_docs_script(tmp_path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(docs_script(tmp_path)), str(db)],
        capture_output=True,
        text=True,
        check=False,
    )


# -- the chain -------------------------------------------------------------------------------


def test_chain_links_every_row_and_verifies(journal: Journal, path: Path) -> None:
    events = fill(journal, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for e in events:
        assert e.hash == independent_hash(e.seq, e.ts, e.kind, e.body, e.prev_hash)
        assert TS_SHAPE.match(e.ts)
    assert events[0].ts == "2026-11-26T16:24:58.123456Z"

    result = journal.verify()
    assert result.ok, result
    assert (result.checked, result.first_seq, result.head_seq) == (5, 1, 5)
    assert result.head_hash == events[-1].hash
    assert journal.head() == events[-1]
    assert list(journal.events()) == events
    for file in path.parent.glob("journal.sqlite*"):  # the -wal and -shm files too
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_stored_rows_match_the_documented_recipe(journal: Journal, path: Path, tmp_path) -> None:
    journal.append_raw(
        Kind.SEARCH, {"engine": "ddg", "terms": "café ☕", "nested": {"b": 1, "a": [2]}}
    )
    journal.append_raw(Kind.HEARTBEAT, {"monotonic": 1234.5, "boot_id": None, "awake": True})
    journal.append_raw(Kind.AGENT_STOP)
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT seq, ts, kind, body, prev_hash, hash FROM events").fetchall()
    for seq, ts, kind, body, prev_hash, digest in rows:
        assert digest == independent_hash(seq, ts, kind, json.loads(body), prev_hash)
    assert rows[0][3] == '{"engine":"ddg","nested":{"a":[2],"b":1},"terms":"café ☕"}'
    conn.close()

    done = run_docs_script(tmp_path, path)
    assert done.returncode == 0, done.stderr
    assert f"row 3, hash {rows[2][5]}" in done.stdout


def test_injected_clock_and_explicit_times(path: Path) -> None:
    moments = iter([datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))])
    with Journal(path, clock=lambda: next(moments)) as journal:
        first = journal.append_raw(Kind.HEARTBEAT, {})
        assert first.ts == "2026-01-02T01:04:05.000000Z"
        assert first.time == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
        second = journal.append_raw(Kind.HEARTBEAT, {}, ts=T0)
        assert second.ts == "2026-11-26T16:24:58.123456Z"
        with pytest.raises(ValueError, match="timezone-aware"):
            journal.append_raw(Kind.HEARTBEAT, {}, ts=datetime(2026, 1, 1))
        assert journal.verify().ok


def test_unknown_kinds_and_non_json_bodies_are_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="unknown journal event kind 'decisoin'"):
        journal.append_raw("decisoin", {})
    with pytest.raises(ValueError, match="unknown"):
        journal.events(kinds=["nope"])  # refused at the call, not at the first row
    with pytest.raises(ValueError, match=r"only by Journal\.prune"):
        journal.append_raw(Kind.CHECKPOINT, {"seq": 1, "hash": GENESIS_HASH})
    with pytest.raises(ValueError, match="plain JSON"):
        journal.append_raw(Kind.DECISION, {"when": datetime.now(UTC)})
    with pytest.raises(ValueError, match="plain JSON"):
        journal.append_raw(Kind.HEARTBEAT, {"x": float("nan")})
    with pytest.raises(ValueError, match="string keys"):
        journal.append_raw(Kind.DECISION, {1: "one"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="JSON object"):
        journal.append_raw(Kind.DECISION, ["not", "an", "object"])  # type: ignore[arg-type]
    # A batch with one bad item writes nothing at all.
    with pytest.raises(ValueError):
        journal.append_many_raw([(Kind.DECISION, {"ok": 1}), ("bogus", {})])
    assert journal.head() is None
    assert "decision" in KINDS and "allow_granted" in KINDS and "events_lost" in KINDS


def test_append_many_is_one_chained_batch(journal: Journal) -> None:
    journal.append_raw(Kind.AGENT_START, {"version": "0.1.0"})
    batch = journal.append_many_raw(
        [(Kind.RULES_CHANGED, {"added": ["a.example"]}), (Kind.CONFIG_CHANGED, None, T0)]
    )
    assert [e.seq for e in batch] == [2, 3]
    assert batch[0].prev_hash == next(journal.events(limit=1)).hash
    assert batch[1].ts == "2026-11-26T16:24:58.123456Z"
    assert batch[1].body == {}
    assert journal.append_many_raw([]) == []
    assert journal.verify().ok


_json_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_json_text, inner, max_size=3),
    max_leaves=8,
)
_databases = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bodies=st.lists(st.dictionaries(_json_text, _json_values, max_size=4), min_size=1, max_size=4)
)
def test_any_json_body_round_trips_and_verifies(tmp_path: Path, bodies: list[dict]) -> None:
    with Journal(tmp_path / f"prop-{next(_databases)}.sqlite") as journal:
        written = journal.append_many_raw([(Kind.DECISION, body) for body in bodies])
        assert [e.body for e in written] == bodies
        assert list(journal.events()) == written
        assert journal.verify().ok


# -- tampering -------------------------------------------------------------------------------


def test_update_is_refused_by_the_append_only_trigger(journal: Journal, path: Path) -> None:
    fill(journal, 2)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET body = '{}' WHERE seq = 1")
    conn.close()


def test_edited_body_is_a_hash_mismatch_at_that_row(journal: Journal, path, tmp_path) -> None:
    fill(journal, 6)
    raw(path).execute("""UPDATE events SET body = '{"host":"other.example","n":3}' WHERE seq = 4""")
    result = journal.verify()
    assert not result.ok
    assert (result.first_bad_seq, result.reason, result.checked) == (4, Break.HASH_MISMATCH, 3)
    assert "row 4 was changed" in result.detail
    assert "Journal broken at row 4 (hash mismatch)" in format_verify(result)
    assert run_docs_script(tmp_path, path).returncode != 0


def test_edited_and_rehashed_row_breaks_the_next_link(journal: Journal, path: Path) -> None:
    events = fill(journal, 6)
    e = events[2]
    body = {"host": "innocent.example", "n": 2}
    digest = independent_hash(e.seq, e.ts, e.kind, body, e.prev_hash)
    raw(path).execute(
        "UPDATE events SET body = ?, hash = ? WHERE seq = 3", (json.dumps(body), digest)
    )
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, Break.PREV_HASH_MISMATCH)


def test_deleted_middle_row_is_a_seq_gap(journal: Journal, path: Path, tmp_path) -> None:
    fill(journal, 6)
    raw(path).execute("DELETE FROM events WHERE seq IN (3, 4)")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 5, Break.SEQ_GAP)
    assert result.detail == "rows 3–4 are missing"
    assert run_docs_script(tmp_path, path).returncode != 0


def test_deleted_first_row_is_a_seq_gap(journal: Journal, path: Path) -> None:
    fill(journal, 3)
    raw(path).execute("DELETE FROM events WHERE seq = 1")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 2, Break.SEQ_GAP)


def test_reordered_rows_are_a_hash_mismatch(journal: Journal, path: Path) -> None:
    fill(journal, 5)
    conn = raw(path)
    conn.execute("UPDATE events SET seq = -1 WHERE seq = 2")
    conn.execute("UPDATE events SET seq = 2 WHERE seq = 3")
    conn.execute("UPDATE events SET seq = 3 WHERE seq = -1")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 2, Break.HASH_MISMATCH)


def test_malformed_rows_are_named(journal: Journal, path: Path) -> None:
    fill(journal, 3)
    raw(path).execute("UPDATE events SET body = 'not json' WHERE seq = 2")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 2, Break.MALFORMED)
    # Reading still works and shows the damage instead of hiding it.
    assert list(journal.events())[1].body == {"unreadable": "not json"}


def test_truncated_tail_verifies_only_the_anchor_catches_it(journal: Journal, path) -> None:
    """Documented limitation: cutting off the newest rows leaves a valid, shorter chain."""
    fill(journal, 6)
    anchor = journal.verify()  # what last week's report carried as chain_head
    raw(path).execute("DELETE FROM events WHERE seq >= 5")
    result = journal.verify()
    assert result.ok
    assert result.head_seq == 4
    assert (result.head_seq, result.head_hash) != (anchor.head_seq, anchor.head_hash)


def test_consistently_rewritten_chain_verifies_only_the_anchor_catches_it(
    journal: Journal, path: Path, tmp_path: Path
) -> None:
    """Documented limitation: recomputing every hash after an edit yields a valid chain."""
    fill(journal, 5)
    anchor = journal.head()
    assert anchor is not None
    conn = raw(path)
    prev = GENESIS_HASH
    for seq, ts, kind, body in conn.execute(
        "SELECT seq, ts, kind, body FROM events ORDER BY seq"
    ).fetchall():
        parsed = json.loads(body)
        if seq == 2:
            parsed["host"] = "nothing-to-see.example"
        digest = independent_hash(seq, ts, kind, parsed, prev)
        conn.execute(
            "UPDATE events SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (json.dumps(parsed), prev, digest, seq),
        )
        prev = digest
    result = journal.verify()
    assert result.ok
    assert run_docs_script(tmp_path, path).returncode == 0
    # The head the partner holds from an earlier report is no longer in the chain.
    assert result.head_seq == anchor.seq
    assert result.head_hash != anchor.hash


# -- pruning ---------------------------------------------------------------------------------


def test_prune_writes_a_checkpoint_and_verification_starts_there(
    journal: Journal, path: Path, tmp_path: Path
) -> None:
    events = fill(journal, 10)  # stamped T0, T0+1s, ... T0+9s
    pruned = journal.prune(before=T0 + timedelta(seconds=4))  # rows 1-4 are older
    assert pruned == 4
    checkpoint = journal.head()
    assert checkpoint is not None and checkpoint.kind == Kind.CHECKPOINT
    assert checkpoint.seq == 11 and checkpoint.prev_hash == events[-1].hash
    assert checkpoint.body["seq"] == 4 and checkpoint.body["hash"] == events[3].hash
    assert checkpoint.body["pruned"] == 4
    assert [e.seq for e in journal.events()] == [5, 6, 7, 8, 9, 10, 11]

    result = journal.verify()
    assert result.ok, result
    assert (result.first_seq, result.checkpoint_seq, result.checked) == (5, 11, 7)
    assert "older rows were pruned" in format_verify(result)
    assert run_docs_script(tmp_path, path).returncode == 0

    # The chain carries on after the checkpoint, and a second prune moves the start again.
    fill(journal, 3)
    assert journal.prune(before=T0 + timedelta(days=1)) == 9  # rows 5-13, not the head 14
    head = journal.head()
    assert head is not None and head.seq == 15 and head.body["seq"] == 13
    assert [e.seq for e in journal.events()] == [14, 15]
    assert journal.verify().ok
    assert run_docs_script(tmp_path, path).returncode == 0


def test_prune_never_removes_the_head_and_may_do_nothing(journal: Journal) -> None:
    assert journal.prune(before=T0 + timedelta(days=1)) == 0  # empty journal
    only = journal.append_raw(Kind.AGENT_START, {})
    assert journal.prune(before=T0 + timedelta(days=1)) == 0
    assert journal.head() == only
    fill(journal, 2)
    assert journal.prune(before=T0) == 0  # nothing older than T0
    assert journal.count_by_kind() == {"agent_start": 1, "decision": 2}


def test_rows_deleted_behind_a_checkpoint_are_caught(journal: Journal, path: Path) -> None:
    fill(journal, 8)
    journal.prune(before=T0 + timedelta(seconds=3))  # keeps rows 4..8, checkpoint 9
    raw(path).execute("DELETE FROM events WHERE seq = 4")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 5, Break.CHECKPOINT_MISMATCH)


def test_forged_checkpoint_hash_is_caught(journal: Journal, path: Path) -> None:
    fill(journal, 8)
    journal.prune(before=T0 + timedelta(seconds=3))
    raw(path).execute("UPDATE events SET prev_hash = ? WHERE seq = 4", ("f" * 64,))
    result = journal.verify()
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_pruned_rows_without_a_checkpoint_are_a_gap(journal: Journal, path: Path) -> None:
    fill(journal, 8)
    journal.prune(before=T0 + timedelta(seconds=3))
    raw(path).execute("DELETE FROM events WHERE kind = 'checkpoint'")
    result = journal.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, Break.SEQ_GAP)


# -- reading ---------------------------------------------------------------------------------


def test_events_filters_and_pages(journal: Journal) -> None:
    journal.append_many_raw(
        [(Kind.HEARTBEAT if i % 3 else Kind.DECISION, {"i": i}) for i in range(1200)]
    )
    everything = list(journal.events())
    assert [e.seq for e in everything] == list(range(1, 1201))
    since = T0 + timedelta(seconds=600)
    assert [e.seq for e in journal.events(since=since, limit=3)] == [601, 602, 603]
    window = list(journal.events(since=since, until=since + timedelta(seconds=10)))
    assert [e.seq for e in window] == list(range(601, 611))
    decisions = list(journal.events(kinds=[Kind.DECISION]))
    assert len(decisions) == 400 and all(e.kind == "decision" for e in decisions)
    assert [e.seq for e in journal.events(after_seq=1195)] == [1196, 1197, 1198, 1199, 1200]
    newest = list(journal.events(newest_first=True, limit=700))
    assert [e.seq for e in newest] == list(range(1200, 500, -1))
    before_since = list(journal.events(until=since, newest_first=True, limit=2))
    assert [e.seq for e in before_since] == [600, 599]
    assert list(journal.events(since=T0 + timedelta(days=1))) == []
    assert list(journal.events(kinds=[])) == []
    assert journal.count_by_kind() == {"decision": 400, "heartbeat": 800}
    assert journal.count_by_kind(since=since) == {"decision": 200, "heartbeat": 400}


def test_format_event_and_as_json(journal: Journal) -> None:
    event = journal.append_raw(
        Kind.DECISION,
        {"decision": "block", "category": "adult", "host": "x.example", "rule": "x.example extra"},
    )
    line = format_event(event)
    assert line == (
        "      1  2026-11-26 16:24:58Z  decision            "
        'category=adult decision=block host=x.example rule="x.example extra"'
    )
    as_json = event.as_json()
    assert as_json == json.loads(json.dumps(as_json))
    assert as_json["seq"] == 1 and as_json["hash"] == event.hash
    assert set(as_json) == {"seq", "ts", "kind", "body", "prev_hash", "hash"}
    result = journal.verify()
    assert result.as_json()["head"] == {"seq": 1, "hash": event.hash}
    assert format_verify(result).startswith("Journal intact: 1 row checked from row 1")


def test_empty_journal_verifies(journal: Journal) -> None:
    result = journal.verify()
    assert result.ok and result.checked == 0 and result.head_seq is None
    assert format_verify(result) == "Journal intact: it is empty so far."


# -- schema and migrations -------------------------------------------------------------------

V1_SQL = """
CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT INTO schema_version (id, version) VALUES (1, 1);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
"""


def make_v1(path: Path, rows: int) -> list[str]:
    """A journal as the first schema wrote it, built by hand with raw SQL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1_SQL)
    prev, hashes = GENESIS_HASH, []
    for seq in range(1, rows + 1):
        ts = f"2025-01-01T00:00:{seq:02d}.000000Z"
        body = {"host": f"old{seq}.example"}
        digest = independent_hash(seq, ts, "decision", body, prev)
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (seq, ts, "decision", json.dumps(body), prev, digest),
        )
        prev = digest
        hashes.append(digest)
    conn.commit()
    conn.close()
    return hashes


def test_a_v1_journal_is_migrated_and_stays_readable(path: Path) -> None:
    hashes = make_v1(path, 3)
    with Journal(path, clock=StepClock()) as journal:
        assert journal.verify().ok
        assert [e.hash for e in journal.events()] == hashes
        new = journal.append_raw(Kind.AGENT_START, {"version": "0.2.0"})
        assert new.seq == 4 and new.prev_hash == hashes[-1]
        assert journal.verify().ok
    conn = sqlite3.connect(path)
    assert read_version(conn) == LATEST_VERSION
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"events_ts", "events_kind_ts", "events_append_only"} <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_later_migration_applies_in_order_and_all_or_nothing(path: Path) -> None:
    Journal(path).close()
    current = LATEST_VERSION

    def next_extra(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE later_extra (id TEXT PRIMARY KEY, payload BLOB NOT NULL)")

    def then_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError):
        migrate(conn, (*MIGRATIONS, next_extra, then_broken))
    # All or nothing: the failed run left the file exactly at the current version.
    assert read_version(conn) == current
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "later_extra" not in tables and "half_done" not in tables

    assert migrate(conn, (*MIGRATIONS, next_extra)) == current
    assert read_version(conn) == current + 1
    assert migrate(conn, (*MIGRATIONS, next_extra)) == current + 1  # nothing left to do
    conn.close()
    # This version of Candor refuses a file from the future instead of guessing.
    with pytest.raises(JournalTooNew, match="newer Candor"):
        Journal(path)


def test_files_that_are_not_journals_are_refused_with_a_message(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalError, match="Cannot"):
        Journal(garbage)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a Candor journal"):
        Journal(other)


# -- several processes -----------------------------------------------------------------------


def _append_from_process(path: str, writer: str, count: int, start: Barrier) -> None:
    start.wait()  # both processes are imported and ready: now race
    with Journal(Path(path)) as journal:
        for i in range(count):
            if i % 10 == 0:
                journal.append_many_raw(
                    [(Kind.DECISION, {"writer": writer, "i": i + k}) for k in (0, 1)]
                )
            elif i % 10 != 1:
                journal.append_raw(Kind.DECISION, {"writer": writer, "i": i})
            time.sleep(0.001)  # like real writers, leave the lock free now and then


def test_concurrent_appends_from_two_processes_stay_gap_free(path: Path) -> None:
    """Both processes start on a file that does not exist yet, so creation races too."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2, timeout=60)
    count = 150
    procs = [
        ctx.Process(target=_append_from_process, args=(str(path), name, count, start))
        for name in ("a", "b")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with Journal(path) as journal:
        result = journal.verify()
        assert result.ok, result
        events = list(journal.events())
    assert [e.seq for e in events] == list(range(1, 2 * count + 1))
    for name in ("a", "b"):
        assert sorted(e.body["i"] for e in events if e.body["writer"] == name) == list(range(count))
    # The two really did take turns (one switch would mean one simply ran after the other).
    writers = [e.body["writer"] for e in events]
    assert sum(a != b for a, b in itertools.pairwise(writers)) > 2


CHILD_WRITER = """
import itertools, sys, time
from pathlib import Path
from agent.journal import JournalWriter
writer = JournalWriter(Path(sys.argv[1]), flush_interval=0.02, max_batch=50)
for i in itertools.count():
    writer.submit_raw("heartbeat", {"child": sys.argv[2], "i": i, "pad": "x" * 300})
    if i % 20 == 0:
        time.sleep(0.001)
"""


def test_kill_9_during_batched_writes_never_corrupts_the_journal(path: Path) -> None:
    reader = Journal(path)
    last_seq = 0
    for round_ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_WRITER, str(path), str(round_)], cwd=REPO
        )
        try:
            target = last_seq + 100 + random.randrange(400)
            while (head := reader.head()) is None or head.seq < target:
                assert child.poll() is None, "the writer child died on its own"
                time.sleep(0.005)
            time.sleep(random.uniform(0, 0.03))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        with Journal(path) as after:
            result = after.verify()
            assert result.ok, result
            assert result.head_seq is not None and result.head_seq > last_seq
            rows = list(after.events(after_seq=last_seq))
            # Each round's child numbered its events 0, 1, 2...; what survived is a prefix.
            assert [e.body["i"] for e in rows] == list(range(len(rows)))
            last_seq = result.head_seq
    reader.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# -- JournalWriter ---------------------------------------------------------------------------


def test_writer_close_commits_everything_submitted(path: Path) -> None:
    writer = JournalWriter(path, clock=StepClock(), flush_interval=5.0, max_batch=64)
    for i in range(1000):
        writer.submit_raw(Kind.DECISION, {"i": i})
    writer.close()
    writer.close()  # twice is fine
    with Journal(path) as journal:
        events = list(journal.events())
        assert [e.body["i"] for e in events] == list(range(1000))
        assert journal.verify().ok
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit_raw(Kind.DECISION, {})


def test_writer_accepts_events_from_an_event_loop(journal: Journal) -> None:
    async def proxy_like(writer: JournalWriter) -> None:
        for i in range(50):
            writer.submit_raw(Kind.DECISION, {"i": i})
            await asyncio.sleep(0)

    with JournalWriter(journal.path, clock=journal.clock, flush_interval=0.05) as writer:
        asyncio.run(proxy_like(writer))
        with pytest.raises(ValueError, match="unknown"):
            writer.submit_raw("made_up", {})
        assert writer.flush(timeout=30)
        # After flush() returns, everything submitted is readable by anyone.
        assert [e.body["i"] for e in journal.events()] == list(range(50))
        journal.append_raw(Kind.AGENT_STOP, {"clean": True})  # direct appends interleave safely
        writer.submit_raw(Kind.DECISION, {"i": 50})
    assert journal.head().body == {"i": 50}  # type: ignore[union-attr]
    assert journal.verify().ok
    # Times are stamped at submit(), from the journal's clock.
    assert next(journal.events()).ts == "2026-11-26T16:24:58.123456Z"


def test_writer_retries_while_the_file_is_locked(path: Path, caplog) -> None:
    Journal(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    caplog.set_level(logging.WARNING, logger="agent.journal")
    writer = JournalWriter(path, flush_interval=0.01, busy_timeout=0.01)
    for i in range(20):
        writer.submit_raw(Kind.DECISION, {"i": i})
    deadline = time.monotonic() + 30
    while not any("will retry" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the writer never reported the failed write"
        time.sleep(0.01)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert writer.flush(timeout=30)
    writer.close()
    with Journal(path) as journal:
        assert [e.body["i"] for e in journal.events(kinds=[Kind.DECISION])] == list(range(20))
        # The events were late, not lost; a row after them says that writing failed meanwhile.
        (late,) = [e.body for e in journal.events() if e.kind == Kind.JOURNAL_UNWRITABLE]
        assert late["reason"] == "another program held it for too long"
        assert late["attempts"] >= 1 and late["since"] <= late["until"]
        assert journal.verify().ok


def test_writer_drops_beyond_the_backlog_and_records_the_loss(path: Path, caplog) -> None:
    Journal(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = JournalWriter(
        path, flush_interval=0.01, max_batch=5, max_backlog=10, busy_timeout=0.01
    )
    for i in range(100):
        writer.submit_raw(Kind.DECISION, {"i": i})
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.close()
    with Journal(path) as journal:
        events = list(journal.events())
        assert journal.verify().ok
    kept = [e.body["i"] for e in events if e.kind == Kind.DECISION]
    lost = [e.body for e in events if e.kind == Kind.EVENTS_LOST]
    assert kept[:10] == list(range(10))  # the backlog that was full is kept...
    assert kept == sorted(set(kept))  # ...and whatever was written is in order
    assert sum(body["count"] for body in lost) == 100 - len(kept) > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("backlog is full" in m for m in messages)
    assert any(f"dropped {lost[0]['count']} journal events" in m for m in messages)
