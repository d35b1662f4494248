"""Build one report: the document, its signatures and its two renderings, in one go.

The sender (`reporter.delivery.sender`) calls `build_report` with the next period, `seq` and the
previous report, and stores what comes back; `candor report preview` calls it the same way
(`next_report`) and prints the same bytes. Nothing here sends or stores anything.

`json_bytes` (the attachment) is the document pretty-printed with sorted keys, signature
included, for a person to read; `signed_bytes` is the canonical JSON without the signature,
which is what both detached signatures cover and what `prev_report_hash` hashes.
"""

from __future__ import annotations

import email
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from agent.config import Config, Home
from agent.journal import Journal, format_ts
from agent.journal.events import Heartbeat
from agent.journal.partner import partner_id
from reporter import (
    alert_report,
    anchor_report,
    continuity,
    conversation,
    coverage,
    integrity,
    render_html,
    render_text,
    schedule,
    signing,
)
from reporter import document as doc
from reporter.consent import ConsentState
from reporter.delivery.outbox import Outbox, ReportRecord
from reporter.schedule import PreviousPeriod, ReportPeriod
from reporter.scope import PreviousReport, Scope, parse_time, scope_for
from reporter.summary import week_facts

_REAL_CLOCK_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class BuiltReport:
    """One report in every form it leaves in, built once so all of them agree."""

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
    period: ReportPeriod
    anchors_tar: bytes | None = None
    """Every time-stamp token of the period, for `openssl ts -verify` (None: no token)."""


@dataclass(frozen=True, slots=True)
class NextReport:
    """The report to build next: its number, the link to the one before, and its period."""

    seq: int
    prev_report_hash: str | None
    previous: PreviousReport | None
    period: ReportPeriod
    last: ReportRecord | None = None
    partner: str = ""

    def continuity(self, journal: Journal) -> doc.Continuity | None:
        """Whether it can show that it continues the previous report (None: the first). Asked
        only when the report is built, since it verifies the whole chain: `next_report` runs on
        every delivery pass."""
        if self.last is None:
            return None
        held = held_documents(journal, self.last, self.partner)
        return continuity.check(journal, self.partner, self.last.seq, held)


def report_hash(built: BuiltReport) -> str:
    """SHA-256 of the signed bytes: the next report's `prev_report_hash`."""
    return hashlib.sha256(built.signed_bytes).hexdigest()


def pretty_json(document: dict[str, Any]) -> bytes:
    """A document as a person reads it in the attachment: indented, keys sorted, UTF-8."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def next_report(journal: Journal, config: Config, state: ConsentState, now: datetime) -> NextReport:
    """The next report as the outbox would build it: after the last one, or the first."""
    # The first follows the partner's confirmation, or now when nobody has confirmed.
    zone = config.report.zone()
    partner = partner_id(state.partner_email)
    with Outbox(journal, partner_id=partner) as outbox:
        last = outbox.last_report()
    previous = previous_report(journal, last, zone)
    since = state.confirmed_at or now
    period = schedule.next_period(
        config.report, zone, since=since, previous=previous.period if previous else None
    )
    seq = last.seq + 1 if last else 1
    return NextReport(seq, last.hash if last else None, previous, period, last, partner)


def build_report(
    home: Home,
    config: Config,
    journal: Journal,
    period: ReportPeriod,
    *,
    seq: int,
    prev_report_hash: str | None,
    now: datetime,
    late_reason: str | None = None,
    previous: PreviousReport | None = None,
    confirmed_seq: int | None = None,
    rows: tuple[int, int] | None = None,
    rebuilt: doc.Rebuilt | None = None,
    link: doc.Continuity | None = None,
) -> BuiltReport:
    """Build and sign the report for `period` at the consented level, from the rows it covers."""
    # It covers the rows after `previous`'s (`reporter.scope`: see `next_report` for how the
    # sender finds it); without one, those stamped in `period`, from the partner's
    # confirmation row (`confirmed_seq`) if that is earlier. A rebuild names its `rows`
    # (after, last) as the journal recorded them.
    level = config.detail_level
    if rows is not None:
        scope = Scope(period.start, period.end, period.zone, now, rows[0], rows[1])
    else:
        scope = scope_for(journal, period, now, previous=previous, confirmed_seq=confirmed_seq)
    key = signing.load_private_key(home)
    facts = week_facts(journal, config, scope, level, previous.totals if previous else None)
    section = integrity.build_integrity(
        home, journal, scope, level,
        previous_head=previous.chain_head if previous else None,
        previous_key=previous.key if previous else None,
        late_reason=late_reason, current=_current_clocks(now),
    )  # fmt: skip
    anchors = anchor_report.read_anchors(journal, scope, period.id, seq)
    head = next(journal.events(after_seq=scope.last_seq - 1, limit=1), None)
    if head is not None and head.seq != scope.last_seq:
        head = None  # no row yet: an empty journal
    model = doc.Document(
        schema=doc.SCHEMA,
        seq=seq,
        device=config.device.name,
        period=doc.Period(
            start=period.start.astimezone(period.zone).isoformat(),
            end=period.end.astimezone(period.zone).isoformat(),
            timezone=_zone_name(period.zone),
        ),
        rows=doc.Rows(after_seq=scope.after_seq, last_seq=scope.last_seq, count=scope.count),
        generated_at=format_ts(now),
        prev_report_hash=prev_report_hash,
        chain_head=doc.ChainHead(seq=head.seq, hash=head.hash) if head else None,
        detail_level=level,
        partner=doc.Partner(name=config.partner.name, email=config.partner.email),
        summary=facts.summary,
        domains=facts.domains,
        more_domains=facts.more_domains,
        searches=facts.searches,
        integrity=section,
        rebuilt=rebuilt,
        continuity=link,
        anchors=anchors.section,
        alerts=alert_report.section(journal, scope, level, partner_id(config.partner.email)),
        conversation=conversation.conversation(facts.summary, section),
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
        period=period,
        anchors_tar=anchors.attachment,
    )


def previous_report(
    journal: Journal, record: ReportRecord | None, zone: tzinfo
) -> PreviousReport | None:
    """What the next report needs from the last one built: where its period and rows ended."""
    if record is None:
        return None
    found = previous_document(journal, record.seq, record.hash, record.partner_id)
    before_periods = _is_week(record.period)
    end = schedule.week_bounds(record.period, zone)[1] if before_periods else record.due_at
    from_document = previous_from_document(found, record.seq)
    if from_document is not None:
        end = from_document.period.end
    return PreviousReport(
        seq=record.seq,
        period=PreviousPeriod(end=end, due=record.due_at),
        chain_head=from_document.chain_head if from_document else None,
        key=from_document.key if from_document else None,
        totals=from_document.totals if from_document else None,
        before_periods=before_periods,
    )


def _is_week(period_id: str) -> bool:
    try:
        schedule.week_monday(period_id)
    except ValueError:
        return False
    return True


def previous_from_document(found: Mapping[str, Any] | None, seq: int) -> PreviousReport | None:
    """Report `seq` as its own document describes it (None without a document)."""
    if found is None:
        return None
    period = found.get("period") if isinstance(found.get("period"), dict) else {}
    end = parse_time(period.get("end"))
    if end is None:
        return None
    signature = found.get("signature")
    summary = found.get("summary") if isinstance(found.get("summary"), dict) else {}
    head = found.get("chain_head")
    return PreviousReport(
        seq=seq,
        period=PreviousPeriod(end=end, due=end),
        chain_head=head if isinstance(head, dict) else None,
        key=signature.get("key") if isinstance(signature, dict) else None,
        totals=summary.get("totals") if isinstance(summary.get("totals"), dict) else None,
        before_periods=found.get("schema") == doc.WEEK_SCHEMA,
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
    journal: Journal, seq: int, expected_hash: str | None, partner: str | None = None
) -> dict[str, Any] | None:
    """Report `seq` as the outbox holds it (from its queued email or webhook body), if its
    signed bytes hash to `expected_hash`; None when there is no outbox or no such report."""
    with Outbox(journal, partner_id=partner or None) as outbox:
        payloads = outbox.report_payloads(seq)
    for channel, payload in payloads:
        found = _document_in(channel, payload)
        if found is None:
            continue
        if expected_hash is None or doc.document_hash(found) == expected_hash:
            return found
    return None


def held_documents(journal: Journal, record: ReportRecord, partner: str) -> list[dict[str, Any]]:
    """Every copy of report `record` this computer still holds in its queued messages."""
    with Outbox(journal, partner_id=partner) as outbox:
        payloads = outbox.report_payloads(record.seq)
    found = (_document_in(channel, payload) for channel, payload in payloads)
    return [d for d in found if d is not None]


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
