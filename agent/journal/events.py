"""What the journal holds: the kinds of event, a typed body for each, and a row as read back.

This is the contract between the agent, which writes events, and the reporter, which reads them.
A row is written from one of the typed bodies below (`Journal.append`, `JournalWriter.submit`),
never from an ad-hoc dict, so each body has one shape and one owner. Add a kind here and only
here. Optional fields marked `omit_if_none` are left out of the body when they are None, exactly
as the rows written so far look.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self

from agent.journal.clock import parse_ts


class Kind(StrEnum):
    """Every kind of event the journal accepts. Add new kinds here, and only here."""

    DECISION = "decision"
    SEARCH = "search"
    WARN_CONTINUE = "warn_continue"
    UNBLOCK_REQUEST = "unblock_request"
    ALLOW_GRANTED = "allow_granted"
    ALLOW_ENDED = "allow_ended"
    PINNED_PASSTHROUGH = "pinned_passthrough"
    AGENT_START = "agent_start"
    AGENT_STOP = "agent_stop"
    HEARTBEAT = "heartbeat"
    RULES_CHANGED = "rules_changed"
    RULES_APPLIED = "rules_applied"
    """The rule set, lists and settings put into force, and what still waits: the record the
    agent, `candor status` and `candor rules test` rebuild the cooling-off from."""
    CONFIG_CHANGED = "config_changed"
    BYPASS_SUSPECTED = "bypass_suspected"
    CONSENT_CHANGED = "consent_changed"
    REPORT_SENT = "report_sent"
    REPORT_FAILED = "report_failed"
    REPORT_BUILT = "report_built"
    """A report was built and queued: what the outbox is rebuilt from if its rows go missing."""
    NOTICE_QUEUED = "notice_queued"
    """A signed notice was made for the partner: rebuilt and sent if its outbox row goes missing."""
    EVENTS_LOST = "events_lost"
    """The writer had to drop events (the disk kept failing); body: count, first_ts, last_ts."""
    JOURNAL_UNWRITABLE = "journal_unwritable"
    """The agent could not write the journal for a while (a full disk): written once it can."""
    CHECKPOINT = "checkpoint"
    """Written only by `Journal.prune()`; body: seq and hash of the last pruned row."""
    ANCHOR = "anchor"
    """An RFC 3161 time-stamp token over the chain head (agent/journal/anchors.py)."""
    ANCHOR_FAILED = "anchor_failed"
    """No time-stamp token this time, and why (offline, refused, bad reply): at most hourly."""
    LIST_REFRESH = "list_refresh"
    """A subscribed list was checked: updated (counts), unchanged, failed or not downloaded
    (downloads off); failures at most once a day per list."""
    UNLOCK_SHEET_ISSUED = "unlock_sheet_issued"
    """A numbered sheet of one-time unlock codes went to the partner: only salted scrypt hashes
    of its codes are kept (`reporter.unlock_sheet`)."""
    UNLOCK_SHEET_VOIDED = "unlock_sheet_voided"
    """A sheet's unused codes stopped working (a new sheet replaced it, or its message was lost)."""
    UNLOCK_USED = "unlock_used"
    """A partner's code was used: what it unlocked, by sheet and number (reported)."""
    UNLOCK_REFUSED = "unlock_refused"
    """A code was typed and refused (wrong, used, or from a replaced sheet): reported too."""
    ALERTS_CHOSEN = "alerts_chosen"
    """The person chose the partner's immediate alerts (on or off, which, quiet hours): the
    settings in force are the newest row for the partner (`reporter.alert_settings`)."""
    ALERT_QUEUED = "alert_queued"
    """An immediate alert was made for the partner and queued, with the rows it covers: what
    the next alert starts after, and what is rebuilt if its outbox rows go missing."""


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
        """`ts` as an aware UTC datetime."""
        return parse_ts(self.ts)

    def as_json(self) -> dict[str, Any]:
        """The row as `candor journal show --json` prints it."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "body": self.body,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


# --- typed bodies ---------------------------------------------------------------------------------

OMIT_IF_NONE = {"omit_if_none": True}
"""Field metadata: leave the key out of the body when the value is None."""


def optional(default: Any = None) -> Any:
    """A body field that is left out of the row when it is None."""
    return field(default=default, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBody:
    """The typed body of one event; `kind` says which row it becomes."""

    kind: ClassVar[Kind]

    def as_body(self) -> dict[str, Any]:
        """The body as the row holds it: every field, optional ones only when set."""
        body: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_if_none"):
                continue
            body[f.name] = value
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(EventBody):
    """The proxy blocked, warned about or logged a host (never an allowed one)."""

    kind: ClassVar[Kind] = Kind.DECISION
    decision: str
    category: str | None
    action: str | None
    rule: str | None
    source: str | None
    host: str
    path: str | None = optional()
    """Only at the "detailed" level, without the query string."""
    request: str | None = optional()
    """`navigation` (the person opened the page), `subresource` (a page pulled it in: an image,
    a script, a frame) or `unknown` (refused on the connection, before any request). Absent in
    rows written before it was recorded: read as unknown."""
    referrer: str | None = optional()
    """For a subresource: the host of the page that pulled it in, when the page said."""
    hosts: int | None = optional()
    """A grouped row: `host` is a site (registrable domain), or `*` for other sites, and this
    many more distinct hosts under it were decided and not recorded one by one. Absent: one."""
    sites: int | None = optional()
    """In a grouped row for other sites (`host` is `*`): how many sites those hosts were on."""
    via: str | None = optional()
    """`dns`: a program looked the name up through Candor's DNS (browsers look names up ahead
    of a visit, so this is not a page). Absent: a connection or a request to the proxy."""


VIA_DNS = "dns"
"""`Decision.via` of a name looked up through Candor's DNS."""


def is_lookup(body: Mapping[str, Any]) -> bool:
    """Whether a `decision` row is a name looked up through Candor's DNS, not a visit."""
    return body.get("via") == VIA_DNS


def decisions_in(body: Mapping[str, Any]) -> int:
    """How many decisions a `decision` row stands for: a grouped row's `hosts`, otherwise one."""
    hosts = body.get("hosts")
    return hosts if type(hosts) is int and hosts > 0 else 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Search(EventBody):
    """A search on an engine Candor watches matched a category or asked for help (or, when
    detailed, any search)."""

    kind: ClassVar[Kind] = Kind.SEARCH
    engine: str
    category: str | None
    decision: str
    terms: str | None = optional()
    """Only at the "detailed" level."""
    help: bool | None = optional()
    """True for a help-seeking search (allowed whatever keywords say; counted in the report at
    every level, its terms kept only at the "detailed" level)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PageAction(EventBody):
    """Something the person did on a page Candor showed: the rule and where it came from."""

    host: str
    category: str | None
    rule: str | None
    source: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WarnContinue(PageAction):
    """The person chose "continue" on a warn page."""

    kind: ClassVar[Kind] = Kind.WARN_CONTINUE


@dataclass(frozen=True, slots=True, kw_only=True)
class UnblockRequest(PageAction):
    """The person said "I think this is a mistake" on a page."""

    kind: ClassVar[Kind] = Kind.UNBLOCK_REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowGranted(EventBody):
    """`candor allow HOST --for D --reason R`: a host let through at once, for a short time.

    The journal is the only record of a temporary allow: the agent and every command rebuild
    the allows in force from these rows (and `allow_ended`), never from a file."""

    kind: ClassVar[Kind] = Kind.ALLOW_GRANTED
    host: str
    duration: str
    seconds: int
    until: str
    granted_at: str | None = optional()
    """When it was granted (ISO time; absent in rows written before it was kept)."""
    reason: str | None = optional()
    """What the person typed; the report shows it only at levels that share domains."""
    boot_id: str | None = optional()
    uptime: float | None = optional()
    """The computer's time since boot when granted: the allow also ends once that much real
    time has passed, whatever the wall clock says."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowEnded(EventBody):
    """`candor allow HOST --end`: a temporary allow ended before its time (tightening)."""

    kind: ClassVar[Kind] = Kind.ALLOW_ENDED
    host: str
    ended_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PinnedPassthrough(EventBody):
    """A client refused Candor's certificate for a host; it passes through from now on."""

    kind: ClassVar[Kind] = Kind.PINNED_PASSTHROUGH
    host: str
    client: str | None = optional()
    """The address the refusing client connected from; only that client passes through."""
    program: str | None = optional()
    """The refusing program's name, when the system can tell (Linux: /proc)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStart(EventBody):
    """The agent started; whether the run before it had stopped cleanly."""

    kind: ClassVar[Kind] = Kind.AGENT_START
    version: str
    rules_fingerprint: str
    previous_stop_clean: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStop(EventBody):
    """The agent stopped cleanly (a crash leaves no row: the next start says so)."""

    kind: ClassVar[Kind] = Kind.AGENT_STOP
    version: str
    clean: bool


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(EventBody):
    """Clocks that let a report tell a sleeping machine from a stopped agent (every minute).

    The one owner of the heartbeat's shape: the agent writes `Heartbeat.now()`, the report reads
    rows back with `Heartbeat.from_body`.
    """

    kind: ClassVar[Kind] = Kind.HEARTBEAT
    wall: float | None = optional()
    """`time.time()` (always written; None only in a damaged row)."""
    monotonic: float | None = optional()
    """`time.monotonic()`: stops while the computer sleeps (None only in a damaged row)."""
    boottime: float | None = optional()
    """`CLOCK_BOOTTIME`: keeps counting while the computer sleeps (Linux)."""
    boot_id: str | None = optional()
    """Changes at every boot (Linux)."""

    @classmethod
    def now(cls) -> Self:
        """This process's clocks, read now."""
        boottime: float | None = None
        boot_id: str | None = None
        with contextlib.suppress(AttributeError, OSError):
            boottime = time.clock_gettime(time.CLOCK_BOOTTIME)
        with contextlib.suppress(OSError):
            boot_id = BOOT_ID.read_text().strip() or None
        return cls(wall=time.time(), monotonic=time.monotonic(), boottime=boottime, boot_id=boot_id)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """A heartbeat row's clocks; a clock that is missing or damaged reads as None."""

        def number(key: str) -> float | None:
            value = body.get(key)
            return float(value) if isinstance(value, int | float) else None

        boot_id = body.get("boot_id")
        return cls(
            wall=number("wall"),
            monotonic=number("monotonic"),
            boottime=number("boottime"),
            boot_id=boot_id if isinstance(boot_id, str) and boot_id else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesChanged(EventBody):
    """Rules were added (tightening) or removed (loosening), or a waiting loosening applied."""

    kind: ClassVar[Kind] = Kind.RULES_CHANGED
    while_stopped: bool
    changes: Sequence[Mapping[str, Any]]
    """Per category: tightening, loosening, appeared, disappeared, pending_until."""
    took_effect: Sequence[Mapping[str, Any]] | None = optional()
    """Loosenings whose cooling-off wait ended (`PendingItem` shapes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesApplied(EventBody):
    """What was put into force: every rule by identity, every imported list's hash and entry
    count, the settings that loosen or tighten, and the loosenings still waiting.

    Written (with the change rows it follows) before the rules it describes take effect. The
    newest row is the applied state: files under `state/` are only caches of it."""

    kind: ClassVar[Kind] = Kind.RULES_APPLIED
    fingerprint: str
    rules: Mapping[str, Mapping[str, str]]
    """Per category, each rule's canonical text → where it is (`adult.txt:12`)."""
    lists: Mapping[str, Mapping[str, Any]]
    """Per imported list (`lists/adult/x`): category, hash, entries, exceptions."""
    settings: Mapping[str, Any] | None
    pending: Sequence[Mapping[str, Any]]
    """Each waiting loosening: what, category, value, held, source, since, until, and the
    boot and uptime it was first seen at."""
    config: str | None = optional()
    """The digest of the settings put into force (`agent.config.last_good`): their copy under
    `state/` is used, once checked against it, while config.toml is broken."""
    config_problem: str | None = optional()
    """Why config.toml was not used (those settings stayed in force instead), while it is so."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanged(EventBody):
    """A setting that matters to accountability changed, or a waiting loosening applied."""

    kind: ClassVar[Kind] = Kind.CONFIG_CHANGED
    changes: Sequence[Mapping[str, Any]]
    """Each: what, from, to, loosening, and pending_until while it waits."""
    while_stopped: bool | None = optional()
    took_effect: Sequence[Mapping[str, Any]] | None = optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class BypassSuspected(EventBody):
    """Something looked like a way around Candor (DoH, the wiring undone, a quiet stretch)."""

    kind: ClassVar[Kind] = Kind.BYPASS_SUSPECTED
    what: str
    host: str | None = optional()
    detail: str | None = optional()
    problems: Sequence[Mapping[str, str]] | None = optional()
    source: str | None = optional()
    restored: Sequence[str] | None = optional()
    """With `what` = CAPTURE_RESTORED: the capture findings no longer found (their `what`s)."""


CAPTURE_REMOVED = "capture_removed"
"""`BypassSuspected.what`: Candor's nftables table is gone (deleted, or the ruleset flushed)."""
CAPTURE_CHANGED = "capture_changed"
"""`BypassSuspected.what`: the table is there but differs from the one installed."""
CAPTURE_TAKEN_OVER = "capture_taken_over"
"""`BypassSuspected.what`: another program holds a port the capture sends traffic to."""
PROBE_MISSING = "probe_missing"
"""`BypassSuspected.what`: the root timer's probe, made as an ordinary user, stopped arriving."""
CAPTURE_RESTORED = "capture_restored"
"""`BypassSuspected.what`: every capture finding above cleared again (listed in `restored`)."""
CAPTURE_FINDINGS = {
    CAPTURE_REMOVED: "table",
    CAPTURE_CHANGED: "table",
    CAPTURE_TAKEN_OVER: "ports",
    PROBE_MISSING: "probe",
}
"""Each capture finding and the part of the capture it is about: a part has at most one finding
at a time, and one `capture_restored` row ends it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentChanged(EventBody):
    """Consent was given, confirmed, renewed, raised, lowered or revoked, or the partner or
    their channel changed (`channel_adopted`: an older home's channel, journaled once)."""

    kind: ClassVar[Kind] = Kind.CONSENT_CHANGED
    change: str
    partner: Mapping[str, str | None]
    """{name, email}."""
    level: str
    person: str | None = optional()
    by: str | None = optional()
    previous: Mapping[str, Any] | None = optional()
    """The former partner {name, email}, and their `channel` when one was journaled."""
    text_sha256: str | None = optional()
    typed_confirmation: bool | None = optional()
    categories: Mapping[str, str] | None = optional()
    report: Mapping[str, str] | None = optional()
    device: str | None = optional()
    cooling_off: str | None = optional()
    channel: Mapping[str, Any] | None = optional()
    """Where reports go, a consent fact: {email, smtp: {host, port, username, password_sha256}
    | None, webhook: {url} | None} (`reporter.channel`); secrets only as SHA-256."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSent(EventBody):
    """A report or notice left on one channel."""

    kind: ClassVar[Kind] = Kind.REPORT_SENT
    channel: str
    message_kind: str
    message_id: str
    attempts: int
    seq: int | None = optional()
    week: str | None = optional()
    """The ISO week of a report built before periods (older rows)."""
    period: str | None = optional()
    """A report's period id: the last day it covers (`2026-12-06`)."""
    late_seconds: int | None = optional()
    notice: str | None = optional()
    partner_id: str | None = optional()
    """The partner whose chain the report belongs to (`agent.journal.partner`)."""

    def as_body(self) -> dict[str, Any]:
        """The row's body; `message_kind` is stored as `kind`, as rows always were."""
        return _with_message_kind(EventBody.as_body(self))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFailed(EventBody):
    """A report or notice could not be delivered on one channel this time (or ever)."""

    kind: ClassVar[Kind] = Kind.REPORT_FAILED
    channel: str
    message_kind: str
    reason: str
    permanent: bool
    attempts: int
    seq: int | None = optional()
    notice: str | None = optional()

    def as_body(self) -> dict[str, Any]:
        """The row's body; `message_kind` is stored as `kind`, as rows always were."""
        return _with_message_kind(EventBody.as_body(self))


def _with_message_kind(body: dict[str, Any]) -> dict[str, Any]:
    body["kind"] = body.pop("message_kind")
    return body


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsLost(EventBody):
    """The writer had to drop events because the disk kept failing."""

    kind: ClassVar[Kind] = Kind.EVENTS_LOST
    count: int
    first_ts: str
    last_ts: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalUnwritable(EventBody):
    """The agent's writes to the journal failed from `since` to `until` (ISO times), so what
    happened then was held in memory and written late (or, past the backlog, counted in an
    `events_lost` row); no change to the rules took effect meanwhile."""

    kind: ClassVar[Kind] = Kind.JOURNAL_UNWRITABLE
    since: str
    until: str
    reason: str
    """Why, in a few words: "the disk is full" (`agent.journal.store.write_failure_words`)."""
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint(EventBody):
    """Written only by `Journal.prune()`: where verification starts after old rows went."""

    kind: ClassVar[Kind] = Kind.CHECKPOINT
    seq: int
    hash: str
    pruned: int
    before: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBuilt(EventBody):
    """A report was built and queued, written in the same transaction as its outbox rows, so
    the journal alone can rebuild a report whose queued copy was deleted."""

    kind: ClassVar[Kind] = Kind.REPORT_BUILT
    seq: int
    partner_id: str
    """The partner the report chain belongs to (`reporter.partner_id`)."""
    period: str
    """The period's id (its last day)."""
    start: str
    end: str
    """The period's bounds (ISO times)."""
    after_seq: int
    last_seq: int
    """The journal rows covered: `after_seq < seq <= last_seq`."""
    chain_head: Mapping[str, Any] | None
    """{seq, hash} of the last row covered."""
    hash: str
    """SHA-256 of the report's signed bytes."""
    prev_hash: str | None
    detail_level: str
    rebuilt: bool | None = optional()
    """True when this build replaced a queued copy that had gone missing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeQueued(EventBody):
    """A signed notice was made for the partner (before any attempt to send it), so it is
    rebuilt and sent if its outbox row goes missing."""

    kind: ClassVar[Kind] = Kind.NOTICE_QUEUED
    notice: str
    """Its kind: `uninstalled` or `reporting_ended`."""
    partner_id: str
    time: str
    """The notice's own time (its document's `time`): a rebuild keeps it, and its Message-ID."""
    message_id: str
    chain_head: Mapping[str, Any] | None
    waited: bool | None = optional()
    """False when the person chose not to wait for its delivery (`uninstall --without-notice`)."""
    rebuilt: bool | None = optional()
    recipient: str | None = optional()
    channel: str | None = optional()
    key: str | None = optional()
    subject: str | None = optional()
    text: str | None = optional()
    """For a note on the former channel (`partner_changed`, `channel_changed`): to whom and
    how, the key its Message-ID is made from, and its words, to rebuild it."""
    partner: Mapping[str, Any] | None = optional()
    """For a note on the former channel: the former partner's name and email, as its signed
    document names them (absent from notes journaled before they were signed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor(EventBody):
    """A time-stamping authority signed the chain head's hash: the head existed at `gen_time`.

    The token covers SHA-256 of `head_hash` (its 64 hex characters as ASCII), so only that
    hash left the computer; `candor verify` and `openssl ts -verify` check it against the row."""

    kind: ClassVar[Kind] = Kind.ANCHOR
    tsa: str
    """The authority's URL."""
    head_seq: int
    head_hash: str
    """The journal row the token covers, as it was when the token was asked for."""
    gen_time: str
    """The authority's time in the token (ISO, UTC)."""
    token: str
    """The authority's whole reply (a DER TimeStampResp, what `openssl ts -verify -in` reads),
    base64."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorFailed(EventBody):
    """No token this time: written at most once an hour (or when the reason changes)."""

    kind: ClassVar[Kind] = Kind.ANCHOR_FAILED
    reason: str
    """offline (no answer), refused (an answer that was not a token), bad_reply (a token that
    did not match what was asked)."""
    detail: str
    tsa: str | None = optional()
    """The last authority tried."""
    head_seq: int | None = optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRefresh(EventBody):
    """How a subscribed list's refresh went, and when it last succeeded: the report says so
    when a list has gone stale. Its rules effect (entries added, lost and held) is in the
    `rules_changed` and `rules_applied` rows the new copy brings."""

    kind: ClassVar[Kind] = Kind.LIST_REFRESH
    list: str
    """`lists/<category>/<name>`."""
    outcome: str
    """`updated`, `unchanged`, `failed` or `off` (downloads are turned off)."""
    last_good: str | None
    """When the list's copy in force was last confirmed from its source (ISO, UTC), if ever."""
    entries: int | None = optional()
    before: int | None = optional()
    added: int | None = optional()
    removed: int | None = optional()
    """Entries the new copy lost (held for the cooling-off delay)."""
    reason: str | None = optional()


# --- unlock codes (reporter.unlock_sheet) -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockSheetIssued(EventBody):
    """A sheet of one-time unlock codes was made for a partner; the plain codes are only in the
    outgoing message, never here: per code, its number, salt and scrypt hash."""

    kind: ClassVar[Kind] = Kind.UNLOCK_SHEET_ISSUED
    partner_id: str
    sheet: int
    """The sheet's number for this partner, from 1."""
    count: int
    params: Mapping[str, int]
    """scrypt's {n, r, p, dklen}, so a later Candor can check codes hashed with other costs."""
    codes: Sequence[Mapping[str, Any]]
    """Each: {number, salt, hash} (hex)."""
    message_ids: Sequence[str]
    """The outbox rows that carry the sheet (one per channel), wiped once delivered."""
    replaces: int | None = optional()
    reason: str | None = optional()
    """Why a new sheet: `confirmed`, `asked` (`candor partner codes`) or `message_lost`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockSheetVoided(EventBody):
    """A sheet's codes no longer work."""

    kind: ClassVar[Kind] = Kind.UNLOCK_SHEET_VOIDED
    partner_id: str
    sheet: int
    reason: str
    """`replaced`, `message_lost` or `revoked`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockUsed(EventBody):
    """Code `number` of sheet `sheet` was used once: pending loosenings applied early, or a
    longer temporary allow granted (its `allow_granted` row follows)."""

    kind: ClassVar[Kind] = Kind.UNLOCK_USED
    partner_id: str
    sheet: int
    number: int
    unlocked: str
    """`pending` (every waiting loosening applied now) or `allow`."""
    pending: Sequence[Mapping[str, Any]] | None = optional()
    """With `pending`: the loosenings applied early (what, category, value, since, until)."""
    host: str | None = optional()
    duration: str | None = optional()
    until: str | None = optional()
    """With `allow`: the host and how long."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockRefused(EventBody):
    """A code was refused: `wrong` (no unused code of the current sheet), `used`, `voided`, or
    `no_sheet`. The typed text is never kept."""

    kind: ClassVar[Kind] = Kind.UNLOCK_REFUSED
    partner_id: str
    reason: str
    sheet: int | None = optional()
    number: int | None = optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsChosen(EventBody):
    """The person turned the partner's immediate alerts on or off, or changed what they cover."""

    kind: ClassVar[Kind] = Kind.ALERTS_CHOSEN
    partner_id: str
    change: str
    """`on`, `off`, `widened`, `narrowed` or `changed` (compared with the settings before)."""
    on: bool
    triggers: Sequence[str]
    """`weakened` (protection weakened) and/or `hard_moment` (many blocked pages quickly)."""
    hard_count: int
    hard_minutes: int
    """A hard moment: at least `hard_count` blocked page visits within `hard_minutes`."""
    quiet: str | None
    """Quiet hours `HH:MM-HH:MM` in `zone`, or None."""
    zone: str
    """The time zone quiet hours are read in (the partner's, or the report's)."""
    by: str | None = optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertQueued(EventBody):
    """An immediate alert was signed and queued (in the same transaction as its outbox rows)."""

    kind: ClassVar[Kind] = Kind.ALERT_QUEUED
    partner_id: str
    batch: str
    """The alert's idempotency id: queuing the same batch twice keeps the first."""
    message_id: str
    after_seq: int
    last_seq: int
    """The journal rows it covers: `after_seq < seq <= last_seq`."""
    items: Sequence[Mapping[str, Any]]
    """What it tells: each {trigger, what, count, seq...} (`reporter.alerts.Item`)."""
    document: Mapping[str, Any]
    """The unsigned alert document (`candor-notice/1`, kind `alert`): a rebuild signs the very
    same bytes."""
    subject: str
    text: str
    hard_through: int | None = optional()
    """Blocked visits up to this row can no longer make a hard moment."""
    stopped_seq: int | None = optional()
    """The agent's last row when this alert said the agent had stopped (said once per stop)."""
    rebuilt: bool | None = optional()
