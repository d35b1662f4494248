"""The outbox, rebuilt from the journal: a queued report or notice that was deleted still goes.

Every report is journaled as `report_built` (its seq, partner, period, the rows it covers, its
hash and the previous report's) in the same transaction as its outbox rows, and every notice as
`notice_queued` before it is tried. Each sending pass compares the journal with the outbox: a
report or notice the journal says was queued, that never left (`report_sent`) and that has no
outbox row any more, is built again, over the same rows, with the same sequence number and
previous-report hash (a notice: the same time and Message-ID), marked "rebuilt" in the document
and in words the partner reads, journaled again with its new hash, and queued. It then leaves
late, saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.config import Config, Home
from agent.config.durations import rough_duration_words
from agent.journal import Journal, Kind, format_ts, parse_ts
from agent.journal.events import NoticeQueued, ReportBuilt
from agent.journal.partner import partner_id
from reporter import consent, continuity, invitation, notice
from reporter import document as doc
from reporter.build import (
    BuiltReport,
    build_report,
    held_documents,
    previous_report,
    report_hash,
)
from reporter.delivery import messages
from reporter.delivery.outbox import NewMessage, Outbox, ReportRecord
from reporter.schedule import ReportPeriod

REBUILT_REPORT = "this report's queued copy was deleted and Candor rebuilt it"
FORMER_CHANNEL_NOTES = frozenset({"partner_changed", "channel_changed"})
"""`notice_queued`'s kinds for the unsigned note on the former channel: someone else receives
the reports, or the same partner's reports move to another channel."""
"""Why a rebuilt report is late, in the partner's words."""


def report_record(
    built: BuiltReport, seq: int, prev_hash: str | None, state: consent.ConsentState, now: datetime
) -> ReportRecord:
    """The outbox's row for a report just built."""
    integrity = built.document.get("integrity", {})
    return ReportRecord(
        seq=seq,
        period=built.period.id,
        hash=report_hash(built),
        prev_hash=prev_hash,
        detail_level=str(built.document.get("detail_level")),
        needs_attention=bool(built.needs_attention),
        late_reason=integrity.get("late_reason") if isinstance(integrity, dict) else None,
        due_at=built.period.end,
        generated_at=now,
        partner_id=partner_id(state.partner_email),
    )


def built_event(built: BuiltReport, record: ReportRecord, *, rebuilt: bool = False) -> ReportBuilt:
    """The `report_built` row journaled with the report's outbox rows."""
    document = built.document
    rows = document.get("rows") or {}
    return ReportBuilt(
        seq=record.seq,
        partner_id=record.partner_id,
        period=record.period,
        start=format_ts(built.period.start),
        end=format_ts(built.period.end),
        after_seq=int(rows.get("after_seq", 0)),
        last_seq=int(rows.get("last_seq", 0)),
        chain_head=document.get("chain_head"),
        hash=record.hash,
        prev_hash=record.prev_hash,
        detail_level=record.detail_level,
        rebuilt=True if rebuilt else None,
    )


def missing_reports(journal: Journal, outbox: Outbox, partner: str) -> list[Mapping[str, Any]]:
    """`report_built` bodies of this partner's reports that never left and have no outbox row."""
    newest = _newest_builds(journal, partner)
    if not newest:
        return []
    sent = _sent(journal, "report", "seq")
    return [
        body
        for seq, body in sorted(newest.items())
        if seq not in sent and not outbox.has_report_rows(seq, partner)
    ]


def restore_records(journal: Journal, outbox: Outbox, partner: str) -> list[int]:
    """Put back the `reports` row of a report that left, or whose messages are still queued,
    when only its row was deleted, from its `report_built` row: the next report keeps its
    number and its link (and says whether it can show it continues it). Returns the seqs."""
    newest = _newest_builds(journal, partner)
    sent = _sent(journal, "report", "seq")
    restored = []
    for seq, body in sorted(newest.items()):
        if outbox.report(seq) is not None:
            continue
        if seq not in sent and not outbox.has_report_rows(seq, partner):
            continue  # nothing of it is left: `missing_reports` rebuilds it whole
        record = ReportRecord(
            seq=seq,
            period=str(body["period"]),
            hash=str(body["hash"]),
            prev_hash=body.get("prev_hash"),
            detail_level=str(body.get("detail_level")),
            needs_attention=False,
            late_reason=None,
            due_at=parse_ts(str(body["end"])),
            generated_at=parse_ts(str(body["end"])),
            partner_id=partner,
        )
        if outbox.restore_record(record):
            restored.append(seq)
    return restored


def _newest_builds(journal: Journal, partner: str) -> dict[int, Mapping[str, Any]]:
    newest: dict[int, Mapping[str, Any]] = {}
    for event in journal.events(kinds=[Kind.REPORT_BUILT]):
        if event.body.get("partner_id") == partner and isinstance(event.body.get("seq"), int):
            newest[event.body["seq"]] = event.body
    return newest


def missing_notices(journal: Journal, outbox: Outbox) -> list[Mapping[str, Any]]:
    """`notice_queued` bodies of notices that never left and have no outbox row."""
    queued = {
        str(e.body.get("message_id")): e.body for e in journal.events(kinds=[Kind.NOTICE_QUEUED])
    }
    if not queued:
        return []
    sent = _sent(journal, "notice", "message_id")
    return [
        body for mid, body in queued.items() if mid not in sent and not outbox.has_message_id(mid)
    ]


def _sent(journal: Journal, message_kind: str, key: str) -> set[Any]:
    return {
        e.body.get(key)
        for e in journal.events(kinds=[Kind.REPORT_SENT])
        if e.body.get("kind") == message_kind
    }


@dataclass(frozen=True, slots=True)
class Rebuilder:
    """What a rebuild needs from the sending pass: the home, its settings and files."""

    home: Home
    config: Config
    journal: Journal
    outbox: Outbox

    def report(
        self,
        body: Mapping[str, Any],
        state: consent.ConsentState,
        channels: list[tuple[str, str]],
        now: datetime,
    ) -> str | None:
        """Rebuild one report over the rows its `report_built` row names, queue it, and
        journal it again (`rebuilt`). Its period id, or None when it was not put back."""
        seq = int(body["seq"])
        partner = str(body["partner_id"])
        zone = self.config.report.zone()
        period = ReportPeriod(parse_ts(str(body["start"])), parse_ts(str(body["end"])), zone)
        before = self.outbox.report(seq - 1) if seq > 1 else None
        previous = previous_report(self.journal, before, zone)
        link = None
        if before is not None:
            held = held_documents(self.journal, before, partner)
            link = continuity.check(self.journal, partner, before.seq, held)
        late = f"Sent {rough_duration_words(now - period.end)} late: {REBUILT_REPORT}."
        rebuilt = doc.Rebuilt(
            reason=(
                "Its queued copy was deleted, so Candor rebuilt it from its journal over the "
                "same rows, with the same number; its wording and hash differ from the lost "
                "copy's."
            ),
            original_hash=str(body["hash"]),
        )
        shared = self.config.model_copy(update={"detail_level": state.level})
        built = build_report(
            self.home, shared, self.journal,
            period, seq=seq, prev_report_hash=body.get("prev_hash"), now=now, late_reason=late,
            previous=previous, rows=(int(body["after_seq"]), int(body["last_seq"])),
            rebuilt=rebuilt, link=link,
        )  # fmt: skip
        record = report_record(built, seq, body.get("prev_hash"), state, now)
        queued = [
            messages.report_message(self.config, channel, recipient, built, seq, record)
            for channel, recipient in channels
        ]
        event = built_event(built, record, rebuilt=True)
        return period.id if self.outbox.restore_report(record, queued, event) else None

    def notice(
        self,
        body: Mapping[str, Any],
        state: consent.ConsentState,
        channels: list[tuple[str, str]],
    ) -> bool:
        """Rebuild one notice with its first time, head and Message-ID, queue it, journal it."""
        kind = str(body.get("notice"))
        when = parse_ts(str(body["time"]))
        if kind in FORMER_CHANNEL_NOTES:
            return self._note(body, when)
        if kind not in notice.KINDS:
            return False
        head = body.get("chain_head")
        facts = notice.NoticeFacts(
            waited=body.get("waited") is not False,
            rebuilt=True,
            chain_head=dict(head) if isinstance(head, Mapping) else None,
        )
        signed = notice.build_notice(self.home, self.config, self.journal, state, kind, when, facts)
        words = notice.notice_words(self.config, state, kind, when, facts)
        partner = str(body.get("partner_id") or "")
        queued = [
            messages.notice_message(self.config, signed, words, channel, recipient, when, partner)
            for channel, recipient in channels
        ]
        return queue_notice(self.outbox, queued, signed, partner, facts) is not None

    def _note(self, body: Mapping[str, Any], when: datetime) -> bool:
        """Rebuild a note to the former channel, signed again with its first time and head."""
        fields = [body.get(name) for name in ("recipient", "subject", "text")]
        if not all(isinstance(value, str) for value in fields):
            return False
        to, subject, text = (str(value) for value in fields)
        words = invitation.with_note(invitation.Email(subject, text, ""), notice.REBUILT)
        who = body.get("partner") if isinstance(body.get("partner"), Mapping) else {}
        channel = "webhook" if body.get("channel") == "webhook" else "email"
        email = who.get("email") or (to if channel == "email" else None)
        former = consent.ConsentState(partner_name=who.get("name"), partner_email=email)
        head = body.get("chain_head")
        facts = notice.NoticeFacts(
            rebuilt=True, chain_head=dict(head) if isinstance(head, Mapping) else None
        )
        kind = str(body.get("notice"))
        signed = notice.build_notice(
            self.home, self.config, self.journal, former, kind, when, facts
        )
        message = messages.note_message(self.config, signed, words, channel, to, when)
        partner = str(body.get("partner_id") or "")
        return queue_note(self.outbox, message, signed, words, former, partner, rebuilt=True)


def queue_note(
    outbox: Outbox,
    message: NewMessage,
    signed: notice.SignedNotice,
    words: invitation.Email,
    former: consent.ConsentState,
    partner: str | None = None,
    *,
    rebuilt: bool = False,
) -> bool:
    """Journal `notice_queued` for a signed note on the former channel, with its words and the
    head it names, and queue it, together, so a deleted copy is rebuilt."""
    event = NoticeQueued(
        notice=signed.kind,
        partner_id=partner if partner is not None else partner_id(former.partner_email),
        time=str(signed.document["time"]),
        message_id=message.message_id,
        chain_head=signed.document.get("chain_head"),
        rebuilt=True if rebuilt else None,
        recipient=message.recipient,
        channel=message.channel,
        key=signed.stem,
        subject=words.subject,
        text=words.text,
        partner={"name": former.partner_name, "email": former.partner_email},
    )
    return outbox.add_notice([message], event)


def queue_notice(
    outbox: Outbox,
    queued: list[NewMessage],
    signed: notice.SignedNotice,
    partner: str,
    facts: notice.NoticeFacts,
) -> NoticeQueued | None:
    """Journal `notice_queued` and put the notice's messages in the outbox, together."""
    if not queued:
        return None
    event = NoticeQueued(
        notice=signed.kind,
        partner_id=partner,
        time=str(signed.document["time"]),
        message_id=queued[0].message_id,
        chain_head=signed.document.get("chain_head"),
        waited=False if not facts.waited else None,
        rebuilt=True if facts.rebuilt else None,
    )
    return event if outbox.add_notice(queued, event) else None


def withdrawn(body: Mapping[str, Any], state: consent.ConsentState) -> bool:
    """Whether a report was built at a level above the one consented to now: its rows were
    withdrawn on purpose (sharing less), and the next pass builds it again at the lower level."""
    return consent.level_rank(str(body.get("detail_level"))) > consent.level_rank(state.level)
