"""The durable outbox: what has been built for the partner, and what still has to leave.

Both live in the journal's SQLite file (tables `reports` and `outbox`, added by the journal's v3
migration), written with `synchronous=FULL` inside `BEGIN IMMEDIATE`, because the agent and
`candor report send-due` may both be at work.

A weekly report is built once: its `reports` row (seq, the period's id, hash, prev_hash) and one
`outbox` row per channel are inserted together, holding the exact bytes to send. Delivery is
at-least-once: the row is marked sent only after the server accepted it, so a crash in between
sends the same bytes again, same Message-ID and webhook-id, which the receiving side can
recognise. Nothing is lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from agent.config.durations import rough_duration_words
from agent.journal import Journal, format_ts, parse_ts
from agent.journal.events import (
    AlertQueued,
    EventBody,
    NoticeQueued,
    ReportBuilt,
    ReportFailed,
    ReportSent,
)

State = Literal["pending", "sent", "failed", "cancelled"]
MessageKind = Literal["report", "notice", "test", "unlock_sheet", "alert"]
SECRET_KINDS = ("unlock_sheet",)
"""Kinds whose bytes hold secrets for the partner alone (unlock codes): wiped once they left,
or once withdrawn, so they do not stay on this computer."""
WIPED_PAYLOAD = b"(delivered; its contents were removed from this computer)"
"""What a wiped row holds in place of its bytes."""

_LEVEL_ORDER = {"summary": 0, "domains": 1, "detailed": 2}


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A weekly report that was built (and, through its outbox rows, queued)."""

    seq: int
    period: str
    """The period's id, its last day (`2026-12-06`; column `week`, which for a report built
    before periods holds its ISO week, `2026-W48`); `due_at` is the period's end."""
    hash: str
    prev_hash: str | None
    detail_level: str
    needs_attention: bool
    late_reason: str | None
    due_at: datetime
    generated_at: datetime
    partner_id: str = ""
    """The partner whose chain it belongs to (`agent.journal.partner`). Empty: recorded
    without one (a row written the old way); it belongs to every partner's chain."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to queue. `id` is the idempotency key: queuing it twice keeps the first."""

    id: str
    kind: MessageKind
    channel: str
    recipient: str
    message_id: str
    subject: str
    payload: bytes
    report_seq: int | None = None
    partner_id: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued message as stored: its exact bytes and where its delivery stands."""

    id: str
    kind: str
    report_seq: int | None
    channel: str
    recipient: str
    message_id: str
    subject: str
    payload: bytes
    created_at: datetime
    state: State
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    permanent: bool
    sent_at: datetime | None
    partner_id: str = ""
    attempt_started_at: datetime | None = None
    """When the attempt under way began; None when no attempt is under way."""


_ROW_COLUMNS = (
    "id, kind, report_seq, channel, recipient, message_id, subject, payload, created_at, state, "
    "attempts, next_attempt_at, last_error, permanent, sent_at, partner_id, attempt_started_at"
)
ATTEMPT_STUCK_AFTER = timedelta(minutes=3)
"""An attempt still under way after this long is stuck (each is cut off after a minute)."""
FAILING_LONG_AFTER = timedelta(days=1)
"""A message still not delivered this long after its first failed try is worth a word."""
_REPORT_COLUMNS = (
    "seq, week, hash, prev_hash, detail_level, needs_attention, late_reason, due_at, generated_at, "
    "partner_id"
)


def _row(values: tuple[Any, ...]) -> OutboxRow:
    (
        id_,
        kind,
        seq,
        channel,
        recipient,
        mid,
        subject,
        payload,
        created,
        state,
        attempts,
        next_at,
        error,
        permanent,
        sent,
        partner,
        started,
    ) = values
    return OutboxRow(
        id_,
        kind,
        seq,
        channel,
        recipient,
        mid,
        subject,
        bytes(payload),
        parse_ts(created),
        state,
        attempts,
        parse_ts(next_at),
        error,
        bool(permanent),
        parse_ts(sent) if sent else None,
        partner,
        parse_ts(started) if started else None,
    )


def _report(values: tuple[Any, ...]) -> ReportRecord:
    seq, week, hash_, prev, level, attention, late, due, generated, partner = values
    return ReportRecord(
        seq,
        week,
        hash_,
        prev,
        level,
        bool(attention),
        late,
        parse_ts(due),
        parse_ts(generated),
        partner,
    )


class Outbox:
    """The outbox of one journal file; shares the journal's clock and records into its chain."""

    def __init__(
        self, journal: Journal, *, partner_id: str | None = None, busy_timeout: float = 10.0
    ) -> None:
        self.journal = journal
        self.partner_id = partner_id
        """The partner whose report chain this outbox reads and extends (None: every one)."""
        self.clock: Callable[[], datetime] = journal.clock
        self._conn = sqlite3.connect(
            journal.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._conn.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        """Close the outbox's own connection (the journal stays open)."""
        self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- reports ---------------------------------------------------------------------------

    def reports(self) -> list[ReportRecord]:
        """Every report built, in sequence order, for listing and for what is due."""
        rows = self._conn.execute(f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY seq")
        return [_report(r) for r in rows.fetchall()]

    def last_report(self) -> ReportRecord | None:
        """The newest report of this partner: the next one's sequence number and previous hash."""
        where, params = self._partner_filter()
        row = self._conn.execute(
            f"SELECT {_REPORT_COLUMNS} FROM reports{where} ORDER BY seq DESC LIMIT 1", params
        ).fetchone()
        return None if row is None else _report(row)

    def report(self, seq: int) -> ReportRecord | None:
        """Report `seq` of this partner's chain, or None."""
        where, params = self._partner_filter()
        joiner = " AND" if where else " WHERE"
        row = self._conn.execute(
            f"SELECT {_REPORT_COLUMNS} FROM reports{where}{joiner} seq = ?", (*params, seq)
        ).fetchone()
        return None if row is None else _report(row)

    def _partner_filter(self) -> tuple[str, tuple[Any, ...]]:
        if self.partner_id is None:
            return "", ()
        return " WHERE partner_id IN (?, '')", (self.partner_id,)

    def has_period(self, period: str) -> bool:
        """Whether `period` already has a report, so no period is built twice."""
        return self._has_period(self._conn, period, self.partner_id or "")

    def add_report(
        self, record: ReportRecord, messages: list[NewMessage], built: ReportBuilt | None = None
    ) -> bool:
        """Insert a built report and its messages, and journal `built`, all or nothing (without
        `built`, as Candor did before it journaled reports: for tests of older homes).

        False (and nothing written) when that period is already there or another process took
        this `seq` meanwhile; the caller then looks again at what is due.
        """
        now = format_ts(self.clock())

        def insert(conn: sqlite3.Connection) -> bool:
            last = conn.execute(
                "SELECT max(seq) FROM reports WHERE partner_id IN (?, '')", (record.partner_id,)
            ).fetchone()[0]
            if (last or 0) != record.seq - 1:
                return False
            if self._has_period(conn, record.period, record.partner_id):
                return False
            self._insert_report(conn, record, messages, now)
            return True

        if built is None:
            with self._write() as conn:
                return insert(conn)
        return self.journal.append_with(built, insert) is not None

    def restore_report(
        self, record: ReportRecord, messages: list[NewMessage], built: ReportBuilt
    ) -> bool:
        """Put back a report whose queued copy went missing, with its seq, and journal `built`
        (`rebuilt`) in the same transaction. False when its messages are there after all."""
        now = format_ts(self.clock())

        def insert(conn: sqlite3.Connection) -> bool:
            found = conn.execute(
                "SELECT 1 FROM outbox WHERE report_seq = ? AND partner_id IN (?, '')",
                (record.seq, record.partner_id),
            ).fetchone()
            if found is not None:
                return False
            conn.execute(
                "DELETE FROM reports WHERE partner_id IN (?, '') AND (seq = ? OR week = ?)",
                (record.partner_id, record.seq, record.period),
            )
            self._insert_report(conn, record, messages, now)
            return True

        return self.journal.append_with(built, insert) is not None

    def restore_record(self, record: ReportRecord) -> bool:
        """Put back a report's row alone (it left; its messages are gone); False if there."""
        now = format_ts(self.clock())
        with self._write() as conn:
            found = conn.execute(
                "SELECT 1 FROM reports WHERE partner_id IN (?, '') AND (seq = ? OR week = ?)",
                (record.partner_id, record.seq, record.period),
            ).fetchone()
            if found is not None:
                return False
            self._insert_report(conn, record, [], now)
        return True

    def _insert_report(
        self, conn: sqlite3.Connection, record: ReportRecord, messages: list[NewMessage], now: str
    ) -> None:
        conn.execute(
            f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.seq,
                record.period,
                record.hash,
                record.prev_hash,
                record.detail_level,
                int(record.needs_attention),
                record.late_reason,
                format_ts(record.due_at),
                format_ts(record.generated_at),
                record.partner_id,
            ),
        )
        for message in messages:
            self._insert(conn, message, now)

    @staticmethod
    def _has_period(conn: sqlite3.Connection, period: str, partner: str) -> bool:
        found = conn.execute(
            "SELECT 1 FROM reports WHERE week = ? AND partner_id IN (?, '')", (period, partner)
        ).fetchone()
        return found is not None

    # -- messages --------------------------------------------------------------------------

    def add_message(self, message: NewMessage) -> bool:
        """Queue a message that is not part of a weekly report (a notice); False if known."""
        with self._write() as conn:
            return self._insert(conn, message, format_ts(self.clock()))

    def add_notice(self, messages: list[NewMessage], queued: NoticeQueued) -> bool:
        """Queue a notice's messages and journal `queued` in one transaction; False if known."""
        now = format_ts(self.clock())

        def insert(conn: sqlite3.Connection) -> bool:
            return any([self._insert(conn, message, now) for message in messages])

        return self.journal.append_with(queued, insert) is not None

    def add_alert(
        self,
        messages: list[NewMessage],
        queued: AlertQueued,
        unchanged: Callable[[sqlite3.Connection], bool],
    ) -> bool:
        """Queue an immediate alert's messages and journal `queued` in one transaction, unless
        `unchanged` says another process queued an alert meanwhile; False if nothing was added."""
        now = format_ts(self.clock())

        def insert(conn: sqlite3.Connection) -> bool:
            if not unchanged(conn):
                return False
            return any([self._insert(conn, message, now) for message in messages])

        return self.journal.append_with(queued, insert) is not None

    def cancel_alert(self, row_prefix: str) -> int:
        """Cancel an alert's unsent messages (ids starting with `row_prefix`): it is replaced
        by one at a lower detail level, since sharing less is never delayed."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET state = 'cancelled' WHERE kind = 'alert' AND id LIKE ? "
                "AND state IN ('pending', 'failed')",
                (row_prefix.replace("%", "") + "%",),
            ).rowcount

    def add_with(self, messages: list[NewMessage], event: EventBody) -> bool:
        """Queue messages and journal `event` in one transaction (an unlock sheet: its hashes
        and its message land together); False, and no row, if all were queued already."""
        now = format_ts(self.clock())

        def insert(conn: sqlite3.Connection) -> bool:
            return any([self._insert(conn, message, now) for message in messages])

        return self.journal.append_with(event, insert) is not None

    def withdraw_secret(self, row_ids: list[str]) -> int:
        """Cancel unsent rows carrying secrets and wipe their bytes (a sheet replaced before it
        left); rows already sent were wiped when they left. How many were withdrawn."""
        if not row_ids:
            return 0
        marks = ", ".join("?" * len(row_ids))
        with self._write() as conn:
            return conn.execute(
                f"UPDATE outbox SET state = 'cancelled', payload = ? WHERE id IN ({marks}) "
                "AND state IN ('pending', 'failed')",
                (WIPED_PAYLOAD, *row_ids),
            ).rowcount

    def has_message_id(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is in the outbox, in any state."""
        found = self._conn.execute(
            "SELECT 1 FROM outbox WHERE message_id = ?", (message_id,)
        ).fetchone()
        return found is not None

    def settle_notice(self, row_id: str, *, sent: bool, keep: bool, error: str | None) -> None:
        """After a notice was tried at once: sent, kept for the agent to retry (`keep`), or
        given up by the person (cancelled, so it is not rebuilt)."""
        now = format_ts(self.clock())
        if sent:
            sql = "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, "
            sql += "last_error = NULL WHERE id = ? AND state IN ('pending', 'cancelled')"
            params: tuple[Any, ...] = (now, row_id)
        else:
            state = "pending" if keep else "cancelled"
            sql = "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ? "
            sql += "WHERE id = ? AND state = 'pending'"
            params = (state, error, row_id)
        with self._write() as conn:
            conn.execute(sql, params)

    def has_report_rows(self, seq: int, partner_id: str) -> bool:
        """Whether report `seq` of that partner has any outbox row, in any state."""
        found = self._conn.execute(
            "SELECT 1 FROM outbox WHERE report_seq = ? AND partner_id IN (?, '')",
            (seq, partner_id),
        ).fetchone()
        return found is not None

    @staticmethod
    def _insert(conn: sqlite3.Connection, m: NewMessage, now: str) -> bool:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (id, kind, report_seq, channel, recipient, message_id, "
            "subject, payload, created_at, state, attempts, next_attempt_at, partner_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            (
                m.id,
                m.kind,
                m.report_seq,
                m.channel,
                m.recipient,
                m.message_id,
                m.subject,
                m.payload,
                now,
                now,
                m.partner_id,
            ),
        )
        return cursor.rowcount == 1

    def get(self, row_id: str) -> OutboxRow | None:
        """One message by its id, for tests and for the CLI's detail."""
        row = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM outbox WHERE id = ?", (row_id,)
        ).fetchone()
        return None if row is None else _row(row)

    def rows(self, state: State | None = None) -> list[OutboxRow]:
        """Messages, oldest first, optionally in one state, for listing and status."""
        sql = f"SELECT {_ROW_COLUMNS} FROM outbox"
        params: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (state,)
        return [_row(r) for r in self._conn.execute(sql + " ORDER BY rowid", params).fetchall()]

    def report_payloads(self, report_seq: int) -> list[tuple[str, bytes]]:
        """(channel, bytes) of every message queued for report `report_seq`, oldest first:
        where the next report finds the previous one's chain head and key. Empty when the
        file has no outbox to read."""
        try:
            where, params = self._partner_filter()
            found = self._conn.execute(
                "SELECT channel, payload FROM outbox"
                + (where + " AND" if where else " WHERE")
                + " report_seq = ? ORDER BY rowid",
                (*params, report_seq),
            ).fetchall()
        except sqlite3.Error:
            return []
        return [(str(channel), bytes(payload)) for channel, payload in found]

    def channels(self) -> list[str]:
        """Channels with something still to send, so a pass visits only those."""
        found = self._conn.execute(
            "SELECT DISTINCT channel FROM outbox WHERE state IN ('pending', 'failed') "
            "ORDER BY channel"
        )
        return [r[0] for r in found.fetchall()]

    def head(self, channel: str) -> OutboxRow | None:
        """The oldest unsent message of a channel: messages leave in order, one at a time.

        A `failed` head blocks its channel until the person fixes the cause and retries, so
        the partner never receives week 49 while week 48 is stuck.
        """
        row = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM outbox WHERE channel = ? "
            "AND state IN ('pending', 'failed') ORDER BY rowid LIMIT 1",
            (channel,),
        ).fetchone()
        return None if row is None else _row(row)

    def claim(self, row: OutboxRow, lease: timedelta = timedelta(minutes=5)) -> bool:
        """Take a due message for sending, so that the agent and `candor report send-due`
        (often woken by the OS timer at the same report time) do not both send it. If this
        process dies while holding it, the lease runs out and the message goes next pass."""
        now = self.clock()
        with self._write() as conn:
            taken = conn.execute(
                "UPDATE outbox SET next_attempt_at = ?, attempt_started_at = ? WHERE id = ? "
                "AND state = 'pending' AND next_attempt_at = ? AND next_attempt_at <= ?",
                (
                    format_ts(now + lease),
                    format_ts(now),
                    row.id,
                    format_ts(row.next_attempt_at),
                    format_ts(now),
                ),
            ).rowcount
        return taken == 1

    # -- outcomes --------------------------------------------------------------------------

    def mark_sent(self, row: OutboxRow) -> None:
        """Journal `report_sent`, then mark the row. A crash in between means one resend of
        the same bytes, and the journal truthfully shows two sends."""
        now = self.clock()
        report = None if row.report_seq is None else self.report_of(row)
        late = None if report is None else max(int((now - report.due_at).total_seconds()), 0)
        self.journal.append(
            ReportSent(
                channel=row.channel,
                message_kind=row.kind,
                message_id=row.message_id,
                attempts=row.attempts + 1,
                seq=row.report_seq,
                partner_id=row.partner_id or None,
                week=report.period if report and "-W" in report.period else None,
                period=report.period if report and "-W" not in report.period else None,
                late_seconds=late,
            )
        )
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, "
                "last_error = NULL, attempt_started_at = NULL WHERE id = ? AND state != 'sent'",
                (format_ts(now), row.id),
            )
            if row.kind in SECRET_KINDS:  # the codes leave this computer with the message
                conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (WIPED_PAYLOAD, row.id))

    def mark_failed(
        self, row: OutboxRow, reason: str, *, permanent: bool, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retry at `retry_at`, or stop (`permanent`) until retried."""
        self.journal.append(
            ReportFailed(
                channel=row.channel,
                message_kind=row.kind,
                reason=reason,
                permanent=permanent,
                attempts=row.attempts + 1,
                seq=row.report_seq,
            )
        )
        state = "failed" if permanent else "pending"
        next_at = format_ts(retry_at or self.clock())
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, "
                "permanent = ?, next_attempt_at = ?, attempt_started_at = NULL "
                "WHERE id = ? AND state IN ('pending', 'failed')",
                (state, reason, int(permanent), next_at, row.id),
            )

    def retry_failed(self) -> int:
        """Put messages stopped by a permanent failure back in line (after the person fixed it)."""
        now = format_ts(self.clock())
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET state = 'pending', permanent = 0, next_attempt_at = ? "
                "WHERE state = 'failed'",
                (now,),
            ).rowcount

    def cancel_reports(self, *, except_recipient: str | None = None) -> int:
        """Cancel unsent report and alert messages (consent revoked, or another recipient)."""
        sql = (
            "UPDATE outbox SET state = 'cancelled' WHERE kind IN ('report', 'alert') "
            "AND state IN ('pending', 'failed')"
        )
        params: tuple[Any, ...] = ()
        if except_recipient is not None:
            sql += " AND recipient != ? AND channel = 'email'"
            params = (except_recipient,)
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    def withdraw_above(self, level: str) -> list[str]:
        """Sharing less is never delayed: drop unsent reports built at a higher detail level.

        A report none of whose messages has left is removed with all later unsent ones, so they
        are built again, at the lower level, with the same sequence numbers. Messages of a
        report already delivered elsewhere are only cancelled. Returns the periods withdrawn.
        """
        limit = _LEVEL_ORDER[level]
        withdrawn: list[str] = []
        with self._write() as conn:
            reports = [
                _report(r)
                for r in conn.execute(f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY seq")
            ]
            sent = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT report_seq FROM outbox WHERE state = 'sent' "
                    "AND report_seq IS NOT NULL"
                )
            }
            last_sent = max(sent, default=0)
            start: int | None = None
            for report in reports:
                if _LEVEL_ORDER.get(report.detail_level, 2) <= limit:
                    continue
                if report.seq > last_sent:
                    start = report.seq if start is None else start
                else:  # part of it, or a later report, already left: cancel, do not renumber
                    conn.execute(
                        "UPDATE outbox SET state = 'cancelled' WHERE report_seq = ? "
                        "AND state IN ('pending', 'failed')",
                        (report.seq,),
                    )
            if start is not None:
                for report in reports:
                    if report.seq >= start:
                        conn.execute("DELETE FROM outbox WHERE report_seq = ?", (report.seq,))
                        conn.execute("DELETE FROM reports WHERE seq = ?", (report.seq,))
                        withdrawn.append(report.period)
        return withdrawn

    def report_of(self, row: OutboxRow) -> ReportRecord | None:
        """The report a queued message belongs to (None for a notice)."""
        found = self._conn.execute(
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE seq = ? AND partner_id IN (?, '')",
            (row.report_seq, row.partner_id),
        ).fetchone()
        return None if found is None else _report(found)

    def problems(self, now: datetime | None = None) -> list[str]:
        """Plain sentences for `candor status`: deliveries stopped, struggling, or stuck."""
        now = now or self.clock()
        out = []
        for row in self.rows("failed"):
            out.append(
                f"Delivery of {_what(row)} by {row.channel} stopped: {row.last_error}. Fix it, "
                "then run `candor delivery test` and `candor report send-due --retry`."
            )
        for row in self.rows("pending"):
            started = row.attempt_started_at
            if started is not None and now - started > ATTEMPT_STUCK_AFTER:
                out.append(
                    f"Delivery of {_what(row)} by {row.channel} has been under way for "
                    f"{rough_duration_words(now - started)} and has not finished: the process "
                    "sending it may be stuck or was stopped. Candor takes it up again by itself; "
                    "if this note stays, restart Candor."
                )
            elif row.attempts >= 3 or (
                row.attempts >= 1 and now - row.created_at > FAILING_LONG_AFTER
            ):
                out.append(
                    f"Delivery of {_what(row)} by {row.channel} keeps failing, for "
                    f"{rough_duration_words(now - row.created_at)} now ({_tries(row.attempts)}; "
                    f"last: {row.last_error}); Candor keeps trying."
                )
        return out


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _what(row: OutboxRow) -> str:
    if row.kind in SECRET_KINDS:
        return "the sheet of unlock codes"
    if row.report_seq:
        return f"report #{row.report_seq}"
    return "an alert" if row.kind == "alert" else f"a {row.kind}"
