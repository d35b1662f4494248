"""Whether a report can show that it continues the one before it, checked, not assumed.

A report says "continues report #N" only if this computer still holds #N's signed bytes, they
hash to what the journal's `report_built` row for #N recorded, and the journal's chain verifies
from #N's head (the row #N ended at is there, with the same hash, and every row since links).
Otherwise it says plainly that it cannot show it, and why in a few words. The partner's own
proof stays `candor verify --previous` over the reports in their mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.journal import Journal, Kind
from reporter import document as doc


def recorded_build(journal: Journal, partner: str, seq: int) -> Mapping[str, Any] | None:
    """The body of the newest `report_built` row for report `seq` of `partner`, or None."""
    for event in journal.latest([Kind.REPORT_BUILT]):
        body = event.body
        if body.get("seq") == seq and body.get("partner_id") == partner:
            return body
    return None


def check(journal: Journal, partner: str, seq: int, held: list[dict[str, Any]]) -> doc.Continuity:
    """Whether a report following #`seq` can show it continues it; `held` are the documents of
    #`seq` this computer still has (from its queued messages)."""
    built = recorded_build(journal, partner, seq)
    recorded = built.get("hash") if built else None
    match = next((d for d in held if doc.document_hash(d) == recorded), None)
    head = _head(match if match is not None else built)
    link = doc.PreviousLink(seq=seq, hash=recorded, chain_head=head)
    reason = _why_not(journal, recorded, held, match, head)
    return doc.Continuity(previous=link, shown=reason is None, reason=reason)


def _why_not(
    journal: Journal,
    recorded: Any,
    held: list[dict[str, Any]],
    match: dict[str, Any] | None,
    head: doc.ChainHead | None,
) -> str | None:
    if not isinstance(recorded, str):
        return "the journal has no record of its hash"
    if not held:
        return "its signed copy is no longer on this computer"
    if match is None:
        return "the copy kept on this computer does not match the hash the journal recorded"
    if head is None or not chain_continues_from(journal, head):
        return "the journal's chain does not verify from the row it ended at"
    return None


def _head(source: Mapping[str, Any] | None) -> doc.ChainHead | None:
    head = source.get("chain_head") if source else None
    if not isinstance(head, Mapping):
        return None
    seq, digest = head.get("seq"), head.get("hash")
    if not isinstance(seq, int) or not isinstance(digest, str):
        return None
    return doc.ChainHead(seq=seq, hash=digest)


def chain_continues_from(journal: Journal, head: doc.ChainHead) -> bool:
    """Whether the row `head` names is in the journal with that hash and the chain verifies."""
    row = next(journal.events(after_seq=head.seq - 1, limit=1), None)
    if row is None or row.seq != head.seq or row.hash != head.hash:
        return False
    return journal.verify().ok
