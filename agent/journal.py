"""The journal: an append-only, hash-chained record of what Candor decided and noticed.

Every row carries the SHA-256 of its own canonical JSON, which includes the previous row's
hash, so changing, deleting or reordering a row breaks the chain from that row on. The chain
cannot stop the machine's owner from rewriting all of history consistently, nor from cutting
off its newest rows; the chain head quoted in each signed weekly report is what catches those.
docs/journal.md has the recipe and a stand-alone verifier.

Every writer (the agent's proxy, its watchers, the CLI, the reporter; often in different
processes) appends inside `BEGIN IMMEDIATE`: read the head, hash, insert. SQLite's write lock
makes that sequence atomic across processes, so `seq` stays gap-free. The proxy never writes
on its event loop: it hands events to a `JournalWriter`, whose thread commits them in batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, Self

from agent.journal_schema import JournalError, JournalTooNew, migrate

__all__ = [
    "GENESIS_HASH",
    "KINDS",
    "Break",
    "Clock",
    "Event",
    "Journal",
    "JournalError",
    "JournalTooNew",
    "JournalWriter",
    "Kind",
    "VerifyResult",
    "canonical_json",
    "format_event",
    "format_ts",
    "format_verify",
    "parse_ts",
    "record_hash",
    "utc_now",
]

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the very first row."""


class Kind(StrEnum):
    """Every kind of event the journal accepts. Add new kinds here, and only here."""

    DECISION = "decision"
    SEARCH = "search"
    WARN_CONTINUE = "warn_continue"
    UNBLOCK_REQUEST = "unblock_request"
    ALLOW_GRANTED = "allow_granted"
    PINNED_PASSTHROUGH = "pinned_passthrough"
    AGENT_START = "agent_start"
    AGENT_STOP = "agent_stop"
    HEARTBEAT = "heartbeat"
    RULES_CHANGED = "rules_changed"
    CONFIG_CHANGED = "config_changed"
    BYPASS_SUSPECTED = "bypass_suspected"
    CONSENT_CHANGED = "consent_changed"
    REPORT_SENT = "report_sent"
    REPORT_FAILED = "report_failed"
    EVENTS_LOST = "events_lost"
    """The writer had to drop events (the disk kept failing); body: count, first_ts, last_ts."""
    CHECKPOINT = "checkpoint"
    """Written only by `Journal.prune()`; body: seq and hash of the last pruned row."""


KINDS: frozenset[str] = frozenset(Kind)

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime; tests inject a fixed or stepping one."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. `2026-11-26T16:24:58.123456Z`.

    Fixed width, so comparing the strings orders the moments, which lets SQLite filter by time.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"journal times must be timezone-aware, got {moment!r}")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 with non-ASCII kept as is, and no NaN or infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def record_hash(seq: int, ts: str, kind: str, body: Mapping[str, Any], prev_hash: str) -> str:
    record = {"seq": seq, "ts": ts, "kind": kind, "body": body, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """One journal row. `ts` is kept as the exact text that was hashed."""

    seq: int
    ts: str
    kind: str
    body: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def time(self) -> datetime:
        return parse_ts(self.ts)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "body": self.body,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class _Draft:
    """An event that has its time and a validated body but no place in the chain yet."""

    ts: str
    kind: str
    body: dict[str, Any]
    body_text: str


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise ValueError(f"unknown journal event kind {kind!r}; known kinds: {known}")
    return str(Kind(kind))


def _draft(
    kind: str,
    body: Mapping[str, Any] | None,
    ts: datetime | None,
    clock: Clock,
    *,
    internal: bool = False,
) -> _Draft:
    kind = _check_kind(kind)
    if kind == Kind.CHECKPOINT and not internal:
        raise ValueError("checkpoint rows are written only by Journal.prune()")
    body = {} if body is None else body
    if not isinstance(body, Mapping) or not all(isinstance(key, str) for key in body):
        raise ValueError(f"a journal body must be a JSON object with string keys, got {body!r}")
    try:
        text = canonical_json(dict(body)).decode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"a journal body must be plain JSON ({e})") from None
    return _Draft(format_ts(ts or clock()), kind, json.loads(text), text)


class Break(StrEnum):
    """Why verification stopped."""

    HASH_MISMATCH = "hash mismatch"
    PREV_HASH_MISMATCH = "prev_hash mismatch"
    SEQ_GAP = "seq gap"
    CHECKPOINT_MISMATCH = "checkpoint mismatch"
    MALFORMED = "malformed row"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    """Rows whose hash and link were checked and found good."""
    first_seq: int | None
    """Where verification started: 1, or the first row kept after pruning."""
    head_seq: int | None
    head_hash: str | None
    checkpoint_seq: int | None
    """The checkpoint row that anchored the start, when older rows were pruned."""
    first_bad_seq: int | None = None
    reason: Break | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        head = None if self.head_seq is None else {"seq": self.head_seq, "hash": self.head_hash}
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_seq": self.first_seq,
            "head": head,
            "checkpoint_seq": self.checkpoint_seq,
            "first_bad_seq": self.first_bad_seq,
            "reason": None if self.reason is None else str(self.reason),
            "detail": self.detail,
        }


_COLUMNS = "seq, ts, kind, body, prev_hash, hash"
_READ_CHUNK = 500


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does; its -wal and -shm files copy these permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = _enable_wal(conn, busy_timeout)
        if mode != "wal":
            log.warning(
                "journal %s is in %s mode, not WAL; concurrent access will be slower", path, mode
            )
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> str:
    """Switch a new file to WAL. The switch needs an exclusive lock and SQLite does not wait
    for it, so processes opening a fresh journal together retry here until one has done it."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode == "wal":
                return mode
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as e:
            busy = e.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _to_event(row: tuple[Any, ...]) -> Event:
    """Read a row as stored. A damaged body is shown as text rather than hidden; verify() says
    that it is damaged."""
    seq, ts, kind, body_text, prev_hash, hash_ = row
    try:
        body = json.loads(body_text)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        body = {"unreadable": str(body_text)}
    return Event(seq, str(ts), str(kind), body, str(prev_hash), str(hash_))


class Journal:
    """One open journal file. Safe to share between threads; each process opens its own.

    Opening creates the file (0600) if needed and applies any pending schema migrations.
    """

    def __init__(self, path: Path, *, clock: Clock = utc_now, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.clock = clock
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        _create_private(self.path)
        try:
            self._conn = _connect(self.path, busy_timeout)
        except sqlite3.DatabaseError as e:
            raise JournalError(f"Cannot open the journal {self.path}: {e}") from e
        try:
            migrate(self._conn)
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise JournalError(f"Cannot read the journal {self.path}: {e}") from e
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def writer(self, **options: Any) -> JournalWriter:
        """A batched background writer on the same file and clock, with its own connection."""
        options.setdefault("clock", self.clock)
        options.setdefault("busy_timeout", self._busy_timeout)
        return JournalWriter(self.path, **options)

    # -- writing ---------------------------------------------------------------------------

    def append(
        self, kind: str, body: Mapping[str, Any] | None = None, ts: datetime | None = None
    ) -> Event:
        """Append one event and return it as stored. Unknown kinds raise ValueError."""
        return self._append_drafts([_draft(kind, body, ts, self.clock)])[0]

    def append_many(
        self,
        items: Iterable[
            tuple[str, Mapping[str, Any] | None] | tuple[str, Mapping[str, Any] | None, datetime]
        ],
    ) -> list[Event]:
        """Append `(kind, body)` or `(kind, body, ts)` items in one transaction: all or none."""
        drafts = [_draft(item[0], item[1], _item_ts(item), self.clock) for item in items]
        return self._append_drafts(drafts)

    def _append_drafts(self, drafts: Sequence[_Draft]) -> list[Event]:
        if not drafts:
            return []
        with self._lock, _write_transaction(self._conn):
            return self._insert(drafts)

    def _insert(self, drafts: Sequence[_Draft]) -> list[Event]:
        """Chain and insert; the caller holds the write transaction."""
        head = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = head if head else (0, GENESIS_HASH)
        events = []
        for draft in drafts:
            seq += 1
            digest = record_hash(seq, draft.ts, draft.kind, draft.body, prev)
            events.append(Event(seq, draft.ts, draft.kind, draft.body, prev, digest))
            prev = digest
        self._conn.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (e.seq, e.ts, e.kind, draft.body_text, e.prev_hash, e.hash)
                for e, draft in zip(events, drafts, strict=True)
            ],
        )
        return events

    def prune(self, before: datetime) -> int:
        """Delete the oldest rows, up to the newest one stamped before `before`; return how many.

        The chain is cut at one `seq`, so everything older goes even if a clock change stamped
        it later. The head is never pruned, so the chain continues. A `checkpoint` row then
        records the seq and hash of the last deleted row, which is where verification starts.
        Deleted bytes are overwritten (secure_delete), since pruning is also about privacy.
        """
        cutoff = format_ts(before)
        with self._lock, _write_transaction(self._conn):
            last = self._conn.execute(
                "SELECT seq, hash FROM events WHERE ts < ? "
                "AND seq < (SELECT max(seq) FROM events) ORDER BY seq DESC LIMIT 1",
                (cutoff,),
            ).fetchone()
            if last is None:
                return 0
            last_seq, last_hash = last
            pruned = self._conn.execute("DELETE FROM events WHERE seq <= ?", (last_seq,)).rowcount
            body = {"seq": last_seq, "hash": last_hash, "pruned": pruned, "before": cutoff}
            self._insert([_draft(Kind.CHECKPOINT, body, None, self.clock, internal=True)])
            return pruned

    # -- reading ---------------------------------------------------------------------------

    def head(self) -> Event | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _to_event(row)

    def events(
        self,
        since: datetime | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
        *,
        until: datetime | None = None,
        after_seq: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[Event]:
        """Events in `seq` order (or newest first) with `since <= ts < until`, of these kinds.

        Rows are fetched a few hundred at a time and no read transaction stays open between
        chunks, so a slow consumer never holds back the writers or the WAL checkpoint.
        """
        where, params = _filters(since, until, kinds)
        return self._pages(where, params, limit, after_seq, since, until, newest_first)

    def _pages(
        self,
        where: list[str],
        params: list[Any],
        limit: int | None,
        cursor: int | None,
        since: datetime | None,
        until: datetime | None,
        newest_first: bool,
    ) -> Iterator[Event]:
        # Paging walks the primary key; the time index only finds where to start.
        if not newest_first and since is not None:
            with self._lock:
                (first,) = self._conn.execute(
                    "SELECT min(seq) FROM events WHERE ts >= ?", (format_ts(since),)
                ).fetchone()
            if first is None:
                return
            cursor = max(cursor or 0, first - 1)
        if newest_first and until is not None:
            with self._lock:
                (last,) = self._conn.execute(
                    "SELECT max(seq) FROM events WHERE ts < ?", (format_ts(until),)
                ).fetchone()
            if last is None:
                return
            cursor = last + 1 if cursor is None else min(cursor, last + 1)
        order, compare = ("DESC", "<") if newest_first else ("ASC", ">")
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = _READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining)
            clauses, args = list(where), list(params)
            if cursor is not None:
                clauses.append(f"seq {compare} ?")
                args.append(cursor)
            sql = f"SELECT {_COLUMNS} FROM events"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += f" ORDER BY seq {order} LIMIT ?"
            with self._lock:
                rows = self._conn.execute(sql, [*args, chunk]).fetchall()
            for row in rows:
                yield _to_event(row)
            if len(rows) < chunk:
                return
            cursor = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def count_by_kind(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        where, params = _filters(since, until, None, paged=False)
        sql = "SELECT kind, count(*) FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(sql + " GROUP BY kind ORDER BY kind", params).fetchall()
        return {str(kind): count for kind, count in rows}

    # -- verifying -------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Check every remaining row's hash, link and seq, from genesis or the latest checkpoint.

        Runs on its own connection inside one read transaction: it sees a consistent snapshot
        while writers carry on, and it does not block this object's other users.
        """
        conn = _connect(self.path, self._busy_timeout)
        try:
            conn.execute("BEGIN")
            return _verify(conn)
        finally:
            conn.close()


def _item_ts(item: Sequence[Any]) -> datetime | None:
    return item[2] if len(item) > 2 else None


def _filters(
    since: datetime | None,
    until: datetime | None,
    kinds: Iterable[str] | None,
    *,
    paged: bool = True,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses for a time window and kinds. When paging by seq, the unary `+` keeps
    SQLite from answering through an index, which would sort the whole window for every page."""
    plus = "+" if paged else ""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"{plus}ts >= ?")
        params.append(format_ts(since))
    if until is not None:
        where.append(f"{plus}ts < ?")
        params.append(format_ts(until))
    if kinds is not None:
        wanted = sorted({_check_kind(kind) for kind in kinds})
        where.append(f"{plus}kind IN ({', '.join('?' * len(wanted))})" if wanted else "0")
        params.extend(wanted)
    return where, params


class _ChainBroken(Exception):
    def __init__(self, seq: int, reason: Break, detail: str) -> None:
        super().__init__(detail)
        self.seq = seq
        self.reason = reason
        self.detail = detail


def _checkpoint_claim(body_text: Any) -> tuple[int, str] | None:
    try:
        body = json.loads(body_text)
    except (TypeError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    seq, digest = body.get("seq"), body.get("hash")
    if type(seq) is not int or not isinstance(digest, str):
        return None
    return seq, digest


def _anchor(first_seq: int, checkpoint: tuple[int, Any] | None) -> str:
    """The hash the first remaining row must link to: genesis, or the latest checkpoint's."""
    if checkpoint is None:
        if first_seq != 1:
            raise _ChainBroken(
                first_seq,
                Break.SEQ_GAP,
                f"rows 1–{first_seq - 1} are missing and no checkpoint records pruning them",
            )
        return GENESIS_HASH
    checkpoint_seq, body_text = checkpoint
    claim = _checkpoint_claim(body_text)
    if claim is None:
        raise _ChainBroken(
            checkpoint_seq,
            Break.CHECKPOINT_MISMATCH,
            f"checkpoint row {checkpoint_seq} is unreadable",
        )
    pruned_to, digest = claim
    if first_seq != pruned_to + 1:
        raise _ChainBroken(
            first_seq,
            Break.CHECKPOINT_MISMATCH,
            f"the latest checkpoint (row {checkpoint_seq}) says rows up to {pruned_to} were "
            f"pruned, but the journal starts at row {first_seq}",
        )
    return digest


def _check_row(row: tuple[Any, ...], expected_seq: int, expected_prev: str) -> str:
    """Check one row against its own hash and its predecessor; return its hash."""
    seq, ts, kind, body_text, prev_hash, stored = row
    if seq != expected_seq:
        if seq == expected_seq + 1:
            missing = f"row {expected_seq} is missing"
        else:
            missing = f"rows {expected_seq}–{seq - 1} are missing"
        raise _ChainBroken(seq, Break.SEQ_GAP, missing)
    if not all(isinstance(value, str) for value in (ts, kind, body_text, prev_hash, stored)):
        raise _ChainBroken(seq, Break.MALFORMED, f"row {seq} has a field of the wrong type")
    try:
        body = json.loads(body_text)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        computed = record_hash(seq, ts, kind, body, prev_hash)
    except ValueError as e:
        raise _ChainBroken(seq, Break.MALFORMED, f"row {seq} is unreadable: {e}") from None
    if computed != stored:
        raise _ChainBroken(
            seq,
            Break.HASH_MISMATCH,
            f"row {seq} was changed after it was written (its contents no longer match its hash)",
        )
    if prev_hash != expected_prev:
        raise _ChainBroken(
            seq,
            Break.PREV_HASH_MISMATCH,
            f"row {seq} does not follow the row before it (that row was changed or replaced)",
        )
    return stored


def _verify(conn: sqlite3.Connection) -> VerifyResult:
    head = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    head_seq, head_hash = head if head else (None, None)
    checkpoint = conn.execute(
        "SELECT seq, body FROM events WHERE kind = ? ORDER BY seq DESC LIMIT 1",
        (str(Kind.CHECKPOINT),),
    ).fetchone()
    first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    checkpoint_seq = checkpoint[0] if checkpoint and first != 1 else None
    checked = 0
    try:
        if first is None:
            return VerifyResult(
                ok=True,
                checked=0,
                first_seq=None,
                head_seq=None,
                head_hash=None,
                checkpoint_seq=None,
                detail="the journal is empty",
            )
        expected_prev = _anchor(first, checkpoint)
        expected_seq = first
        for row in conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq"):
            expected_prev = _check_row(row, expected_seq, expected_prev)
            expected_seq += 1
            checked += 1
    except _ChainBroken as broken:
        return VerifyResult(
            ok=False,
            checked=checked,
            first_seq=first,
            head_seq=head_seq,
            head_hash=head_hash,
            checkpoint_seq=checkpoint_seq,
            first_bad_seq=broken.seq,
            reason=broken.reason,
            detail=broken.detail,
        )
    start = f"from row {first} (older rows were pruned)" if first != 1 else "from row 1"
    return VerifyResult(
        ok=True,
        checked=checked,
        first_seq=first,
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoint_seq=checkpoint_seq,
        detail=f"{checked} {'row' if checked == 1 else 'rows'} checked {start} to row {head_seq}",
    )


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class JournalWriter:
    """Takes events from any thread or event loop and commits them in batches on its own thread.

    `submit()` only stamps the time, checks the event and enqueues it, so the proxy's event
    loop never waits for the disk. The thread commits at most `flush_interval` seconds after an
    event arrives (sooner when `max_batch` events are waiting), so `kill -9` loses at most about
    that much; SQLite's transactions mean it never leaves a half-written batch. When a write
    fails (disk full, database locked too long) the thread logs it and retries the same batch;
    if the backlog passes `max_backlog`, new events are counted and dropped, and an
    `events_lost` row records how many once writing works again.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utc_now,
        flush_interval: float = 0.5,
        max_batch: int = 500,
        max_backlog: int = 100_000,
        busy_timeout: float = 10.0,
        close_timeout: float = 10.0,
    ) -> None:
        if flush_interval <= 0 or max_batch < 1 or max_backlog < 1:
            raise ValueError("flush_interval, max_batch and max_backlog must be positive")
        self._journal = Journal(path, clock=clock, busy_timeout=busy_timeout)
        self._clock = clock
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._max_backlog = max_backlog
        self._close_timeout = close_timeout
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._closed = False
        self._stop_requested = threading.Event()
        self._lost_lock = threading.Lock()
        self._lost: tuple[int, str, str] | None = None
        self._thread = threading.Thread(target=self._run, name="candor-journal", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        return self._journal.path

    def submit(
        self, kind: str, body: Mapping[str, Any] | None = None, ts: datetime | None = None
    ) -> None:
        """Queue an event without waiting. Raises ValueError for an unknown kind or a body that
        is not plain JSON, and RuntimeError after close()."""
        if self._closed:
            raise RuntimeError("the journal writer is closed")
        draft = _draft(kind, body, ts, self._clock)
        if self._queue.qsize() >= self._max_backlog:
            self._count_lost(draft.ts)
            return
        self._queue.put(draft)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False if that took too long."""
        if self._closed:
            return not self._thread.is_alive()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Commit everything submitted, then stop the thread. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._stop_requested.set()
        self._thread.join()
        self._journal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count_lost(self, ts: str) -> None:
        with self._lost_lock:
            if self._lost is None:
                log.warning(
                    "journal backlog is full (%d events); dropping new events until "
                    "writing catches up",
                    self._max_backlog,
                )
                self._lost = (1, ts, ts)
            else:
                count, first, _ = self._lost
                self._lost = (count + 1, first, ts)

    def _take_lost(self, stopping: bool) -> _Draft | None:
        """The `events_lost` row, once the backlog has drained (or at close), so that a long
        overload is recorded once rather than once per batch."""
        if not stopping and self._queue.qsize() > self._max_backlog // 2:
            return None
        with self._lost_lock:
            lost, self._lost = self._lost, None
        if lost is None:
            return None
        count, first, last = lost
        log.warning("dropped %d journal events between %s and %s", count, first, last)
        body = {"count": count, "first_ts": first, "last_ts": last}
        return _draft(Kind.EVENTS_LOST, body, None, self._clock)

    def _run(self) -> None:
        batch: list[_Draft] = []
        waiting: list[_Flush] = []
        give_up_at: float | None = None
        failures = 0
        while True:
            if give_up_at is None and self._fill(batch, waiting):
                give_up_at = time.monotonic() + self._close_timeout
            if give_up_at is not None:
                self._drain(batch, waiting)
            lost = self._take_lost(stopping=give_up_at is not None)
            if lost is not None:
                batch.append(lost)
            if batch:
                if self._write(batch, failures):
                    batch = []
                    failures = 0
                else:
                    failures += 1
                    if give_up_at is not None and time.monotonic() >= give_up_at:
                        log.error("gave up writing %d journal events at shutdown", len(batch))
                        return
                    delay = min(5.0, self._flush_interval * 2**failures)
                    if give_up_at is None:
                        self._stop_requested.wait(delay)
                    else:
                        time.sleep(min(delay, 0.5))
                    continue
            for marker in waiting:
                marker.done.set()
            waiting.clear()
            if give_up_at is not None and self._queue.empty():
                return

    def _fill(self, batch: list[_Draft], waiting: list[_Flush]) -> bool:
        """Collect events until the batch is due; True when close() asked to stop."""
        deadline = time.monotonic() + self._flush_interval if batch else None
        while len(batch) < self._max_batch:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return False
            try:
                item = self._queue.get(timeout=timeout)
            except Empty:
                return False
            if item is _STOP:
                return True
            if isinstance(item, _Flush):
                waiting.append(item)
                return False
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self._flush_interval
        return False

    def _drain(self, batch: list[_Draft], waiting: list[_Flush]) -> None:
        """After close(): take what is already queued, without waiting for more."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except Empty:
                return
            if isinstance(item, _Flush):
                waiting.append(item)
            elif item is not _STOP:
                batch.append(item)

    def _write(self, batch: list[_Draft], failures: int) -> bool:
        try:
            self._journal._append_drafts(batch)
        except Exception as e:
            if isinstance(e, sqlite3.Error | OSError | JournalError):
                log.warning(
                    "could not write %d journal events (attempt %d), will retry: %s",
                    len(batch),
                    failures + 1,
                    e,
                )
            else:
                log.exception(
                    "could not write %d journal events (attempt %d), will retry",
                    len(batch),
                    failures + 1,
                )
            return False
        return True


def format_event(event: Event) -> str:
    """One readable line: seq, UTC time to the second, kind, then the body as key=value."""
    when = event.ts[:19].replace("T", " ")
    fields = " ".join(f"{key}={_show(value)}" for key, value in event.body.items())
    return f"{event.seq:>7}  {when}Z  {event.kind:<18}  {fields}".rstrip()


def _show(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def format_verify(result: VerifyResult) -> str:
    """The one-paragraph answer `candor journal verify` prints."""
    if result.ok:
        if result.head_seq is None:
            return "Journal intact: it is empty so far."
        head = f"Head: row {result.head_seq}, hash {result.head_hash}."
        return f"Journal intact: {result.detail}. {head}"
    return (
        f"Journal broken at row {result.first_bad_seq} ({result.reason}): {result.detail}. "
        f"{result.checked} rows before it checked out."
    )
