"""The hash chain: how a row's hash is computed, and how the whole chain is checked.

Every row carries the SHA-256 of its own canonical JSON, which includes the previous row's hash,
so changing, deleting or reordering a row breaks the chain from that row on. The chain cannot stop
the machine's owner from rewriting all of history consistently, nor from cutting off its newest
rows; the chain head quoted in each signed weekly report is what catches those. docs/journal.md
has the recipe and a stand-alone verifier.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.journal.canonical import canonical_json
from agent.journal.events import Kind
from agent.journal.schema import COLUMNS

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the very first row."""


def record_hash(seq: int, ts: str, kind: str, body: Mapping[str, Any], prev_hash: str) -> str:
    """The SHA-256 a row with these fields must carry (DESIGN.md, "Journal")."""
    record = {"seq": seq, "ts": ts, "kind": kind, "body": body, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(record)).hexdigest()


class Break(StrEnum):
    """Why verification stopped."""

    HASH_MISMATCH = "hash mismatch"
    PREV_HASH_MISMATCH = "prev_hash mismatch"
    SEQ_GAP = "seq gap"
    CHECKPOINT_MISMATCH = "checkpoint mismatch"
    MALFORMED = "malformed row"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What a chain check found: how far it got, and the first bad row if any."""

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
        """The result as `candor journal verify --json` and the report show it."""
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


def verify_chain(conn: sqlite3.Connection) -> VerifyResult:
    """Check every remaining row's hash, link and seq inside the caller's read transaction."""
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
        for row in conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY seq"):
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
