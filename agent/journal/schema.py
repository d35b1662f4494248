"""The journal's on-disk schema and the migrations that bring an older file up to date.

A journal outlives the program that wrote it: a person upgrades Candor and the weeks already
recorded must still verify and still feed the next report. So the schema is never edited in
place. Each change is a new function appended to `MIGRATIONS`; `migrate()` applies the missing
ones in order, inside one `BEGIN IMMEDIATE` transaction, and records the new version in the
`schema_version` row. A crash mid-way leaves the file at the old version, untouched.

Adding a table (the reporter's `outbox`, say) means writing `_v3_outbox(conn)` below and
appending it to `MIGRATIONS`. Never change or reorder a migration that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from agent.journal.errors import JournalError, JournalTooNew
from agent.journal.partner import partner_id

Migration = Callable[[sqlite3.Connection], None]

COLUMNS = "seq, ts, kind, body, prev_hash, hash"
"""The `events` table's columns, in the order rows are read and written."""


def _v1_events(conn: sqlite3.Connection) -> None:
    """The first schema: the version row and the hash-chained `events` table."""
    conn.execute(
        """
        CREATE TABLE schema_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )
        """
    )
    conn.execute("INSERT INTO schema_version (id, version) VALUES (1, 0)")
    conn.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )


def _v2_indexes_and_append_only(conn: sqlite3.Connection) -> None:
    """Time and kind lookups for reports, and a guard against accidental in-place edits.

    The trigger does not make tampering impossible (anyone can drop it); it stops Candor's own
    code from ever rewriting a row, which would break the chain for an honest user.
    """
    conn.execute("CREATE INDEX events_ts ON events (ts)")
    conn.execute("CREATE INDEX events_kind_ts ON events (kind, ts)")
    conn.execute(
        """
        CREATE TRIGGER events_append_only BEFORE UPDATE ON events
        BEGIN
            SELECT RAISE(ABORT, 'journal rows are append-only');
        END
        """
    )


def _v3_outbox(conn: sqlite3.Connection) -> None:
    """The reporter's bookkeeping: one row per weekly report built, one per message to send.

    Unlike `events`, these rows change state (pending, sent, failed, cancelled). What was sent
    and when is also journaled as `report_sent` / `report_failed`, so the chain keeps the facts.
    `payload` holds the exact bytes that go out, built once, so a retry after a crash sends the
    same message with the same Message-ID.
    """
    conn.execute(
        """
        CREATE TABLE reports (
            seq INTEGER PRIMARY KEY,
            week TEXT NOT NULL UNIQUE,
            hash TEXT NOT NULL,
            prev_hash TEXT,
            detail_level TEXT NOT NULL,
            needs_attention INTEGER NOT NULL,
            late_reason TEXT,
            due_at TEXT NOT NULL,
            generated_at TEXT NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            report_seq INTEGER REFERENCES reports (seq),
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            permanent INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT
        )
        """
    )
    conn.execute("CREATE INDEX outbox_state ON outbox (state, channel, next_attempt_at)")


def _v4_partner_keys(conn: sqlite3.Connection) -> None:
    """Key report chains and outbox rows by partner, so several partners need no migration.

    `reports` is rebuilt with `(partner_id, seq)` as its key and one period per partner;
    `outbox` gains `partner_id`. Rows already there belong to the partner consent last named
    (`agent.journal.partner`), as they were built for them.
    """
    found = conn.execute(
        "SELECT json_extract(body, '$.partner.email') FROM events WHERE kind = 'consent_changed' "
        "AND json_extract(body, '$.change') IN ('given', 'partner_changed') "
        "ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    owner = partner_id(found[0] if found else None)
    conn.execute(
        """
        CREATE TABLE reports_by_partner (
            partner_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            week TEXT NOT NULL,
            hash TEXT NOT NULL,
            prev_hash TEXT,
            detail_level TEXT NOT NULL,
            needs_attention INTEGER NOT NULL,
            late_reason TEXT,
            due_at TEXT NOT NULL,
            generated_at TEXT NOT NULL,
            PRIMARY KEY (partner_id, seq),
            UNIQUE (partner_id, week)
        )
        """
    )
    conn.execute(
        "INSERT INTO reports_by_partner SELECT ?, seq, week, hash, prev_hash, detail_level, "
        "needs_attention, late_reason, due_at, generated_at FROM reports",
        (owner,),
    )
    conn.execute("DROP TABLE reports")
    conn.execute("ALTER TABLE reports_by_partner RENAME TO reports")
    conn.execute("ALTER TABLE outbox ADD COLUMN partner_id TEXT NOT NULL DEFAULT ''")
    conn.execute("UPDATE outbox SET partner_id = ?", (owner,))


def _v5_attempt_started(conn: sqlite3.Connection) -> None:
    """`outbox.attempt_started_at`: when the attempt now under way began (NULL when none is),
    so `candor status` can tell a delivery that has been running for long."""
    conn.execute("ALTER TABLE outbox ADD COLUMN attempt_started_at TEXT")


MIGRATIONS: tuple[Migration, ...] = (
    _v1_events,
    _v2_indexes_and_append_only,
    _v3_outbox,
    _v4_partner_keys,
    _v5_attempt_started,
)
"""`MIGRATIONS[i]` takes a journal from version `i` to `i + 1`; version 0 is an empty file."""

LATEST_VERSION = len(MIGRATIONS)


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database; 0 for a file that has no journal yet."""
    # One statement, so another process creating the schema meanwhile cannot be half-seen.
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if "schema_version" not in names:
        if names:
            raise JournalError("This file holds a database, but not a Candor journal.")
        return 0
    row = conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    if row is None or not isinstance(row[0], int):
        raise JournalError("The journal's schema version row is missing or damaged.")
    return row[0]


def _check_not_too_new(version: int, target: int) -> None:
    if version > target:
        raise JournalTooNew(
            f"This journal was written by a newer Candor (schema {version}; this version "
            f"reads up to {target}). Update Candor to use it."
        )


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the database up to `len(migrations)` and return the version it was at before.

    Several processes may open the same fresh file at once: the version is re-read under the
    write lock, so each migration runs exactly once. `conn` must be in autocommit mode
    (`isolation_level=None`) so that this function owns the transaction.
    """
    before = read_version(conn)
    target = len(migrations)
    _check_not_too_new(before, target)
    if before == target:
        return before
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = read_version(conn)
        _check_not_too_new(before, target)
        for version in range(before, target):
            migrations[version](conn)
        conn.execute("UPDATE schema_version SET version = ? WHERE id = 1", (target,))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return before
