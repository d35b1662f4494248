"""What the journal holds: the kinds of event, a row as read back, and a row about to be written.

The kinds are the contract between the agent, which writes events, and the reporter, which reads
them; add a kind here and only here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent.journal.canonical import canonical_json
from agent.journal.clock import Clock, format_ts, parse_ts


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
class Draft:
    """An event that has its time and a validated body but no place in the chain yet."""

    ts: str
    kind: str
    body: dict[str, Any]
    body_text: str


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise ValueError(f"unknown journal event kind {kind!r}; known kinds: {known}")
    return str(Kind(kind))


def make_draft(
    kind: str,
    body: Mapping[str, Any] | None,
    ts: datetime | None,
    clock: Clock,
    *,
    internal: bool = False,
) -> Draft:
    kind = check_kind(kind)
    if kind == Kind.CHECKPOINT and not internal:
        raise ValueError("checkpoint rows are written only by Journal.prune()")
    body = {} if body is None else body
    if not isinstance(body, Mapping) or not all(isinstance(key, str) for key in body):
        raise ValueError(f"a journal body must be a JSON object with string keys, got {body!r}")
    try:
        text = canonical_json(dict(body)).decode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"a journal body must be plain JSON ({e})") from None
    return Draft(format_ts(ts or clock()), kind, json.loads(text), text)
