"""The journal file: an append-only SQLite table of hash-chained events, opened by every writer.

Every writer (the agent's proxy, its watchers, the CLI, the reporter; often in different
processes) appends inside `BEGIN IMMEDIATE`: read the head, hash, insert. SQLite's write lock
makes that sequence atomic across processes, so `seq` stays gap-free. The proxy never writes on
its event loop: it hands events to a `JournalWriter` (`agent.journal.writer`), whose thread
commits them in batches.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from agent.journal.canonical import canonical_json
from agent.journal.chain import GENESIS_HASH, VerifyResult, record_hash, verify_chain
from agent.journal.clock import Clock, format_ts, utc_now
from agent.journal.errors import DISK_FULL, JournalError, JournalWriteError
from agent.journal.events import KINDS, Checkpoint, Event, EventBody, Kind
from agent.journal.schema import COLUMNS, migrate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event that has its time and a validated body but no place in the chain yet."""

    ts: str
    kind: str
    body: dict[str, Any]
    body_text: str


def check_kind(kind: str) -> str:
    """`kind` as a `Kind`; ValueError naming the known kinds otherwise."""
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise ValueError(f"unknown journal event kind {kind!r}; known kinds: {known}")
    return str(Kind(kind))


def draft_of(event: EventBody, ts: datetime | None, clock: Clock) -> Draft:
    """A row for a typed event, stamped now (or at `ts`)."""
    return _draft(str(event.kind), event.as_body(), ts, clock)


def make_draft(
    kind: str, body: Mapping[str, Any] | None, ts: datetime | None, clock: Clock
) -> Draft:
    """A row for `kind` with a plain `body`, stamped now (or at `ts`); ValueError for an unknown
    kind, a checkpoint (only `Journal.prune` writes those) or a body that is not plain JSON."""
    kind = check_kind(kind)
    if kind == Kind.CHECKPOINT:
        raise ValueError("checkpoint rows are written only by Journal.prune()")
    return _draft(kind, body, ts, clock)


def _draft(kind: str, body: Mapping[str, Any] | None, ts: datetime | None, clock: Clock) -> Draft:
    body = {} if body is None else body
    if not isinstance(body, Mapping) or not all(isinstance(key, str) for key in body):
        raise ValueError(f"a journal body must be a JSON object with string keys, got {body!r}")
    try:
        text = canonical_json(dict(body)).decode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"a journal body must be plain JSON ({e})") from None
    return Draft(format_ts(ts or clock()), kind, json.loads(text), text)


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
    """One write transaction: committed (and synced, `synchronous = FULL`) or rolled back. A
    failed write or COMMIT (a full disk) raises `JournalWriteError` and leaves no transaction
    open, so a long-lived connection (the agent's) writes again once the disk has room."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as e:
        raise JournalWriteError(write_failure_words(e), str(e)) from e


def _no_room(path: Path) -> bool:
    """Whether the disk holding `path` has less room than one batch of rows."""
    try:
        found = os.statvfs(path.parent)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return found.f_bavail * found.f_frsize < 64 * 1024


def write_failure_words(exc: BaseException) -> str:
    """Why a write failed, in a few words for the person ("the disk is full")."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    number = getattr(exc, "errno", None)
    if primary == sqlite3.SQLITE_FULL or number in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "another program held it for too long"
    if primary == sqlite3.SQLITE_READONLY or number == errno.EROFS:
        return "it cannot be written to"
    if number in (errno.EACCES, errno.EPERM):
        return "Candor is not allowed to write to it"
    if number == errno.EFBIG:
        return "the file is as large as the system allows"
    return "the disk refused the write"


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
        try:
            _create_private(self.path)
        except OSError as e:
            raise JournalWriteError(write_failure_words(e), str(e)) from e
        try:
            self._conn = _connect(self.path, busy_timeout)
        except sqlite3.DatabaseError as e:
            if _no_room(self.path):  # opening writes too (the WAL's shared-memory file)
                raise JournalWriteError(DISK_FULL, str(e)) from e
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
        """Close the connection; the file stays."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def append(self, event: EventBody, ts: datetime | None = None) -> Event:
        """Append one typed event and return the row as stored."""
        return self.append_drafts([draft_of(event, ts, self.clock)])[0]

    def append_raw(
        self, kind: str, body: Mapping[str, Any] | None = None, ts: datetime | None = None
    ) -> Event:
        """Append a row from a kind and a plain body, as read back from another journal or
        written by a test; Candor's own writers use `append`. Unknown kinds raise ValueError."""
        return self.append_drafts([make_draft(kind, body, ts, self.clock)])[0]

    def append_many_raw(
        self,
        items: Iterable[
            tuple[str, Mapping[str, Any] | None] | tuple[str, Mapping[str, Any] | None, datetime]
        ],
    ) -> list[Event]:
        """Append `(kind, body)` or `(kind, body, ts)` items in one transaction: all or none."""
        drafts = [make_draft(item[0], item[1], _item_ts(item), self.clock) for item in items]
        return self.append_drafts(drafts)

    def append_drafts(self, drafts: Sequence[Draft]) -> list[Event]:
        """Chain and insert rows made by `make_draft` in one transaction: all or none."""
        if not drafts:
            return []
        with self._lock, _write_transaction(self._conn):
            return self._insert(drafts)

    def append_with(
        self, event: EventBody, also: Callable[[sqlite3.Connection], bool]
    ) -> Event | None:
        """Run `also` (other writes to this file, e.g. the outbox's) and append `event` in one
        transaction, so the row and those writes land together or not at all. `also` returning
        False means "nothing to record": its writes are kept and no row is appended."""
        draft = draft_of(event, None, self.clock)
        with self._lock, _write_transaction(self._conn):
            if not also(self._conn):
                return None
            return self._insert([draft])[0]

    def _insert(self, drafts: Sequence[Draft]) -> list[Event]:
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
            f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
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
            mark = Checkpoint(seq=last_seq, hash=last_hash, pruned=pruned, before=cutoff)
            self._insert([draft_of(mark, None, self.clock)])
            return pruned

    # -- reading ---------------------------------------------------------------------------

    def head(self) -> Event | None:
        """The newest row, or None for an empty journal."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM events ORDER BY seq DESC LIMIT 1"
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

        def page(after: int | None) -> tuple[str, list[Any]]:
            clauses, args = list(where), list(params)
            if after is not None:
                clauses.append(f"seq {compare} ?")
                args.append(after)
            sql = f"SELECT {COLUMNS} FROM events"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            return sql + f" ORDER BY seq {order} LIMIT ?", args

        yield from self._chunked(page, cursor, limit)

    def _chunked(
        self,
        page: Callable[[int | None], tuple[str, list[Any]]],
        cursor: int | None,
        limit: int | None,
    ) -> Iterator[Event]:
        """Rows a chunk at a time, so a long journal is never held in memory: `page(cursor)` is
        the query (ending in `LIMIT ?`) and its arguments for the rows past `cursor`."""
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = _READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining)
            sql, args = page(cursor)
            with self._lock:
                rows = self._conn.execute(sql, [*args, chunk]).fetchall()
            for row in rows:
                yield _to_event(row)
            if len(rows) < chunk:
                return
            cursor = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def latest(self, kinds: Iterable[str], limit: int | None = None) -> Iterator[Event]:
        """Rows of these (rare) kinds, newest first, found through the kind index rather than
        by walking the whole journal back: how the agent rebuilds its rules state at start."""
        wanted = sorted({check_kind(kind) for kind in kinds})
        if not wanted:
            return
        marks = ", ".join("?" * len(wanted))

        def page(below: int | None) -> tuple[str, list[Any]]:
            sql = (
                f"SELECT {COLUMNS} FROM events INDEXED BY events_kind_ts WHERE kind IN ({marks})"
                f"{'' if below is None else ' AND seq < ?'} ORDER BY seq DESC LIMIT ?"
            )
            return sql, [*wanted] + ([] if below is None else [below])

        yield from self._chunked(page, None, limit)

    def last_seq_of(self, kinds: Iterable[str]) -> int | None:
        """The newest row's seq among these kinds (through the kind index), or None."""
        wanted = sorted({check_kind(kind) for kind in kinds})
        marks = ", ".join("?" * len(wanted))
        with self._lock:
            (seq,) = self._conn.execute(
                f"SELECT max(seq) FROM events INDEXED BY events_kind_ts WHERE kind IN ({marks})",
                wanted,
            ).fetchone()
        return seq

    def count_by_kind(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """How many rows of each kind, in a time window."""
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
            return verify_chain(conn)
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
        wanted = sorted({check_kind(kind) for kind in kinds})
        where.append(f"{plus}kind IN ({', '.join('?' * len(wanted))})" if wanted else "0")
        params.extend(wanted)
    return where, params
