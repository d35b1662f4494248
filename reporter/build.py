"""Build one week's report: the document, its signatures and its two renderings, in one go.

The sender (`reporter.delivery.sender`) calls `build_report` with the next `seq` and the
previous report's hash, and stores what comes back; `candor report preview` calls it the same
way and prints the same bytes. Nothing here sends or stores anything.

`json_bytes` (the attachment) is the document pretty-printed with sorted keys, signature
included, for a person to read; `signed_bytes` is the canonical JSON without the signature,
which is what both detached signatures cover and what `prev_report_hash` hashes.
"""

from __future__ import annotations

import email
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.config import Config, Home
from agent.journal import Journal, format_ts
from agent.journal.events import Heartbeat
from reporter import coverage, integrity, render_html, render_text, schedule, signing
from reporter import document as doc
from reporter.delivery.outbox import Outbox
from reporter.summary import Window, week_facts

_REAL_CLOCK_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class BuiltReport:
    """One week's report in every form it leaves in, built once so all of them agree."""

    document: dict[str, Any]
    """The full JSON document, `signature` included."""
    signed_bytes: bytes
    """Canonical JSON of the document without `signature`: what was signed."""
    json_bytes: bytes
    """The document as attached: pretty-printed (indent 2, sorted keys), signature included."""
    text: str
    html: str
    raw_signature: bytes
    """64-byte Ed25519 signature over `signed_bytes` (for openssl pkeyutl -rawin)."""
    sshsig: str
    """Armored SSHSIG over `signed_bytes`, namespace `candor-report`."""
    needs_attention: bool
    week: str


def report_hash(built: BuiltReport) -> str:
    """SHA-256 of the signed bytes: the next report's `prev_report_hash`."""
    return hashlib.sha256(built.signed_bytes).hexdigest()


def due_week(now: datetime, config: Config) -> str:
    """The ISO week whose report is due at or before `now`: the latest week that has ended and
    whose report day and time have passed."""
    zone = config.report.zone()
    week = schedule.week_of(now - timedelta(days=14), zone)
    last = week
    while schedule.due_at(week, config.report, zone) <= now:
        last = week
        week = schedule.next_week(week)
    return last


def pretty_json(document: dict[str, Any]) -> bytes:
    """A document as a person reads it in the attachment: indented, keys sorted, UTF-8."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def build_report(
    home: Home,
    config: Config,
    journal: Journal,
    week: str,
    *,
    seq: int,
    prev_report_hash: str | None,
    now: datetime,
    late_reason: str | None = None,
    previous_chain_head: dict[str, Any] | None = None,
    previous_key: str | None = None,
) -> BuiltReport:
    """Build and sign the report for `week` at `config.detail_level` (the level consented to).

    `previous_chain_head` and `previous_key` come from the previous report; when not given they
    are read from the outbox's copy of report `seq - 1`, when there is one."""
    zone = config.report.zone()
    start, end = schedule.week_bounds(week, zone)
    window = Window(start=start, end=end, zone=zone, now=now)
    level = config.detail_level
    if previous_chain_head is None and previous_key is None and seq > 1:
        previous = previous_document(journal, seq - 1, prev_report_hash)
        if previous is not None:
            previous_chain_head = previous.get("chain_head")
            signature = previous.get("signature")
            previous_key = signature.get("key") if isinstance(signature, dict) else None
    key = signing.load_private_key(home)
    facts = week_facts(journal, config, window, level)
    head = journal.head()
    section = integrity.build_integrity(
        home, journal, window, level,
        previous_head=previous_chain_head, previous_key=previous_key,
        late_reason=late_reason, current=_current_clocks(now),
    )  # fmt: skip
    model = doc.Document(
        schema=doc.SCHEMA,
        seq=seq,
        device=config.device.name,
        period=doc.Period(
            week=week, start=start.isoformat(), end=end.isoformat(), timezone=_zone_name(zone)
        ),
        generated_at=format_ts(now),
        prev_report_hash=prev_report_hash,
        chain_head=doc.ChainHead(seq=head.seq, hash=head.hash) if head else None,
        detail_level=level,
        partner=doc.Partner(name=config.partner.name, email=config.partner.email),
        summary=facts.summary,
        domains=facts.domains,
        searches=facts.searches,
        integrity=section,
    )
    unsigned = model.as_json()
    signed = doc.signed_bytes(unsigned)
    raw = signing.sign_raw(key, signed)
    document = {**unsigned, "signature": signing.signature_field(key, raw)}
    final = doc.read_document(document)
    return BuiltReport(
        document=document,
        signed_bytes=signed,
        json_bytes=pretty_json(document),
        text=render_text.render(final),
        html=render_html.render(final),
        raw_signature=raw,
        sshsig=signing.sshsig(key, signed),
        needs_attention=bool(section.attention),
        week=week,
    )


def _zone_name(zone: Any) -> str:
    return str(getattr(zone, "key", None) or zone)


def _current_clocks(now: datetime) -> coverage.Clocks | None:
    """This process's clocks as a heartbeat taken now, when `now` is the real time (not a
    test clock): it explains a trailing gap when the agent is not running at report time."""
    beat = Heartbeat.now()
    assert beat.wall is not None
    if abs(beat.wall - now.timestamp()) > _REAL_CLOCK_SLACK.total_seconds():
        return None
    return coverage.Clocks.read(datetime.fromtimestamp(beat.wall, UTC), beat)


def previous_document(
    journal: Journal, seq: int, expected_hash: str | None
) -> dict[str, Any] | None:
    """Report `seq` as the outbox holds it (from its queued email or webhook body), if its
    signed bytes hash to `expected_hash`; None when there is no outbox or no such report."""
    with Outbox(journal) as outbox:
        payloads = outbox.report_payloads(seq)
    for channel, payload in payloads:
        found = _document_in(channel, payload)
        if found is None:
            continue
        if expected_hash is None or doc.document_hash(found) == expected_hash:
            return found
    return None


def _document_in(channel: str, payload: bytes) -> dict[str, Any] | None:
    try:
        if channel == "email":
            message = email.message_from_bytes(payload)
            for part in message.walk():
                name = part.get_filename() or ""
                if name.endswith(".json") and not name.endswith(".signed.json"):
                    data = part.get_payload(decode=True)
                    if isinstance(data, bytes):
                        found = json.loads(data)
                        return found if isinstance(found, dict) else None
            return None
        body = json.loads(payload)
        found = body.get("data", {}).get("document")
        return found if isinstance(found, dict) else None
    except (ValueError, AttributeError, TypeError):
        return None
