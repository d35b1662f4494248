"""The weekly report document: the one source every rendering, signature and check reads.

The models are the edge: a document is built from them, and a file handed to `candor verify`
or a renderer is read back through them, so a field the reader does not know is an error here
rather than a silent gap on the partner's screen. Only JSON-native values appear (no floats),
so the canonical bytes are the same whichever JSON library a partner's tool uses.

What is signed: the canonical JSON (sorted keys, no spaces, UTF-8) of the document without its
`signature` field. `domains` and `searches` are absent (not empty) at levels that do not share
them, so a partner can tell "not shared" from "nothing happened".

`candor.report/2` documents cover a period (the seven days ending at the report time) and the
journal rows after the previous report's (`rows`); `candor.report/1` documents, built before
periods, covered an ISO week (`period.week`). Both are read and verified; only /2 is built.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.journal import canonical_json

SCHEMA = "candor.report/2"
"""This shape: a period `{start, end}` and the journal rows it covers."""
WEEK_SCHEMA = "candor.report/1"
"""Reports built before periods: an ISO week, counted by time. Still read and verified."""
SCHEMAS = (WEEK_SCHEMA, SCHEMA)

DetailLevel = Literal["summary", "domains", "detailed"]
GapKind = Literal["asleep", "off", "agent_not_running", "agent_stopped", "clock_changed", "no_data"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Counts(_Model):
    """Blocked, warned and noted counts: the unit every summary line is made of."""

    block: int = 0
    warn: int = 0
    log: int = 0

    @property
    def total(self) -> int:
        """All three counts together."""
        return self.block + self.warn + self.log


class CategoryCounts(Counts):
    """One category's counts, with the action it had, so a partner sees its weight."""

    category: str
    action: str | None = None
    """The category's configured action at report time (None: no longer configured)."""


class DayCounts(Counts):
    """One day's counts in the person's time zone."""

    date: str
    weekday: str
    outside_period: bool | None = None
    """True for a day outside the period that holds rows the report covers (a clock anomaly)."""


class Origins(_Model):
    """The counts split by who chose the page: the person opened it, a page they visited pulled
    it in (an image, a script, a frame), or Candor could not tell (a refused connection, or a
    record made before Candor told them apart)."""

    opened: Counts
    pulled_in: Counts
    unknown: Counts


class Summary(_Model):
    """The counts every detail level shares: per category, day and hour, streak, trend."""

    totals: Counts
    categories: list[CategoryCounts]
    days: list[DayCounts]
    """Every calendar day the period touches, first to last, in the person's time zone (the
    first and last are partial), then any day outside it that holds covered rows."""
    hours: list[Counts]
    """Twenty-four entries, hour 0 first, in the person's time zone."""
    streak_days: int
    """Whole days without a block, counting back from the period's last day."""
    previous_week: Counts | None
    """The previous report's totals, for the change; None when Candor has no record of it."""
    unblock_requests: int
    warn_continues: int
    searches_flagged: int
    temporary_allows: int
    origins: Origins | None = None
    """Who chose the pages: the person, or other pages (absent in reports built before)."""
    looked_up: int | None = None
    """Blocked names programs looked up through Candor's DNS: not visits (browsers look names
    up ahead of one), so not in the counts above. Absent in reports built before."""
    help_searches: int | None = None
    """Searches for help or recovery ("porn addiction help"), counted at every level; their
    terms are never in the summary. Absent when none (and in reports built before)."""


class DomainEntry(Counts):
    """One blocked or flagged site, at the levels that share site names."""

    host: str
    category: str | None
    times: list[str] | None = None
    """Only at the detailed level: when each recorded event happened (RFC 3339, UTC)."""
    opened: int | None = None
    """How many of the counts are pages the person opened (absent in reports built before)."""
    pulled_in: int | None = None
    """How many were pulled in by a page the person visited; the rest: not known."""
    pulled_in_by: list[str] | None = None
    """The hosts of the pages that pulled it in most often (up to three), when they said."""


class MoreHosts(Counts):
    """Hosts not listed one by one, grouped: under one site, or (`site` None) on other sites."""

    category: str | None
    site: str | None
    """The registrable domain they are under; None: the other sites together."""
    hosts: int
    sites: int | None = None
    """For the other sites: how many sites those hosts were on."""
    opened: int
    pulled_in: int
    pulled_in_by: list[str] | None = None


class SearchEntry(_Model):
    """One search in a watched category, at the detailed level only."""

    time: str
    engine: str | None
    category: str | None
    decision: str | None
    terms: str | None


class Gap(_Model):
    """A stretch of the week Candor did not see, and why, so the partner can ask about it."""

    kind: GapKind
    start: str
    end: str
    minutes: int
    asleep_minutes: int = 0
    awake_minutes: int = 0
    """Minutes the computer was awake and Candor recorded nothing."""
    flagged: bool
    note: str = ""


class Coverage(_Model):
    """How much of the time the computer was (or may have been) on Candor was watching."""

    monitored_minutes: int
    awake_minutes: int
    """Minutes the computer was known to be awake (watched or not)."""
    no_record_minutes: int | None = None
    """Minutes nobody can account for (no heartbeat on either side): they count as not watched."""
    percent: int | None
    """monitored ÷ (awake + no record), rounded down; None when there is nothing to divide by."""


class ChangeEntry(_Model):
    """A change that made filtering less strict (or is waiting to), with when and what."""

    time: str
    kind: str
    """`rules`, `setting`, `temporary_allow`, `took_effect` or `pending`."""
    category: str | None = None
    description: str
    detail: list[str] | None = None
    """Rule texts or host names, only at levels that share domains."""
    pending_until: str | None = None
    while_stopped: bool = False


class ClockAnomaly(_Model):
    """Covered rows stamped clearly before or after the period: counted all the same."""

    side: Literal["before", "after"]
    count: int
    decisions: int
    """How many of them are blocked, warned or noted pages."""
    earliest: str
    latest: str


class ZoneChange(_Model):
    """The report's time zone changed (periods still meet end to start)."""

    time: str
    previous: str | None
    current: str | None


class BypassEntry(_Model):
    """Something Candor noticed that can get around the filter."""

    time: str
    what: str
    detail: str | None = None


class Passthroughs(_Model):
    """Apps that refused Candor's certificate and so passed unfiltered."""

    count: int
    hosts: list[str] | None = None
    """Only at levels that share domains."""
    programs: list[str] | None = None
    """The programs that refused, where the computer could tell; only with `hosts` (left out
    of the JSON when absent, as in reports written before it was recorded)."""


class JournalCheck(_Model):
    """The journal's own check: intact, and continuing what the last report named."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    detail: str
    extends_previous: bool | None
    """Does the journal still contain the previous report's chain head? None: no previous head
    known, or it was pruned."""
    previous_chain_head: dict[str, Any] | None
    started_at: str | None
    """The time of the oldest row kept: a recent date means a new (or reset) journal."""


class ConsentInfo(_Model):
    """When the person last agreed to share, and whether renewal is due."""

    last_given: str | None
    renewal_due: bool
    person: str | None = None
    """The person's name as given at `candor init` (absent: none given, or an older report)."""


class KeyInfo(_Model):
    """The signing key and its history, so a new key (a reinstall) is visible."""

    fingerprint: str
    created_at: str | None
    new_this_period: bool
    previous_fingerprints: list[str]
    changed_since_previous_report: bool | None


class AgentInfo(_Model):
    """How often Candor started, and how often it had stopped without a clean stop."""

    starts: int
    unclean_stops: int


class Integrity(_Model):
    """Everything that weakens or supports trust in the counts; no setting removes it."""

    coverage: Coverage
    gaps: list[Gap]
    loosening: list[ChangeEntry]
    pending: list[ChangeEntry]
    tightening: int
    bypass: list[BypassEntry]
    pinned_passthroughs: Passthroughs
    journal: JournalCheck
    consent: ConsentInfo
    signing_key: KeyInfo
    agent: AgentInfo
    delivery_failures: int
    events_lost: int
    late: bool
    late_reason: str | None
    clock_anomalies: list[ClockAnomaly] | None = None
    zone_changes: list[ZoneChange] | None = None
    attention: list[str]
    """Plain sentences: what the partner may want to ask about. Empty: all steady."""


class Period(_Model):
    """The seven days ending at the report day and time, in the person's time zone."""

    start: str
    end: str
    timezone: str
    week: str | None = None
    """Only in `candor.report/1` documents: the ISO week they covered."""


class Rows(_Model):
    """The journal rows covered: after the previous report's `chain_head`, through this one's."""

    after_seq: int
    last_seq: int
    count: int


class ChainHead(_Model):
    """The journal row the report ends at, so the next report can be checked against it."""

    seq: int
    hash: str


class Partner(_Model):
    """Who the report is for, as consented to."""

    name: str | None
    email: str | None


AnchorGapReason = Literal["offline", "refused", "bad_reply", "not_asked", "off"]
"""Why hours have no anchor. Hours when Candor was not running are not listed here: the
integrity section's gaps already say them."""


class AnchorToken(_Model):
    """One RFC 3161 token over the chain head: the journal up to `head_seq` existed at `time`."""

    time: str
    """The time-stamping authority's time in the token."""
    tsa: str
    head_seq: int
    head_hash: str
    """The head's hash when the token was asked for; the token covers SHA-256 of this text."""
    token: str
    """The authority's reply (DER TimeStampResp), base64: `openssl ts -verify -in` reads it."""


class AnchorGap(_Model):
    """Hours of the period with no time anchor, and why."""

    start: str
    end: str
    reason: AnchorGapReason


class AnchorSetting(_Model):
    """Time anchoring was turned off (or on again)."""

    time: str
    enabled: bool


class Anchors(_Model):
    """Public time anchors of the period: one token per day and the latest here, every token of
    the period in the attachment, and the hours without one."""

    enabled: bool
    """Whether anchoring was on at the end of the period."""
    count: int
    """Tokens in the period (all of them in the attachment)."""
    tokens: list[AnchorToken]
    missing: list[AnchorGap]
    changes: list[AnchorSetting]
    attachment: str | None = None
    """The attachment's file name (a tar of .tsr, .head and .digest files and a README)."""
    attachment_sha256: str | None = None


class Conversation(_Model):
    """A few kind observations on the week and one open question, to start the partner's
    check-in (`reporter.conversation`): only what the summary level already shows."""

    notes: list[str]
    """Up to three short sentences, the most important first (none when nothing was recorded)."""
    question: str
    """One good open question for the check-in."""


class Signature(_Model):
    """The document's Ed25519 signature and the fingerprint of the key that made it."""

    alg: Literal["ed25519"] = "ed25519"
    key: str
    value: str
    """Base64 of the 64-byte Ed25519 signature over the signed bytes."""


class Rebuilt(_Model):
    """A report rebuilt from the journal because its queued copy went missing."""

    reason: str
    """A plain sentence for the partner."""
    original_hash: str
    """The hash the journal recorded for the copy that was lost."""


class PreviousLink(_Model):
    """The report this one follows: its number, hash and the journal row it ended at."""

    seq: int
    hash: str | None
    chain_head: ChainHead | None


class Continuity(_Model):
    """Whether this computer could show that this report continues the previous one."""

    previous: PreviousLink
    shown: bool
    """True only if the previous report's signed bytes are held, hash to what the journal
    recorded, and the journal's chain verifies from its head to this report's."""
    reason: str | None = None
    """When not shown: why, in a few words."""


class AlertChange(_Model):
    """The person changed the partner's immediate alerts (narrowing takes effect at once)."""

    time: str
    change: str
    """`on`, `off`, `widened`, `narrowed` or `changed`."""
    words: str
    """The settings after it, in plain words."""


class AlertsSection(_Model):
    """The partner's immediate alerts over the report's rows: whether they were on, how many
    were sent and of what kind, and the person's changes to them (`reporter.alert_report`)."""

    on: bool
    words: str
    sent: int
    kinds: dict[str, int]
    """Items told per trigger: `weakened`, `hard_moment`, `alerts_on`."""
    times: list[str] | None = None
    """When each alert was made; only at the `detailed` level."""
    changes: list[AlertChange]


class Document(_Model):
    """The weekly report as signed and sent; text and HTML are renderings of it."""

    schema_: str = Field(alias="schema")
    seq: int
    device: str
    period: Period
    rows: Rows | None = None
    """Always in `candor.report/2`; absent from the older shape."""
    generated_at: str
    prev_report_hash: str | None
    chain_head: ChainHead | None
    detail_level: DetailLevel
    partner: Partner
    summary: Summary
    domains: list[DomainEntry] | None = None
    more_domains: list[MoreHosts] | None = None
    """With `domains`: the hosts not listed there, grouped by site (absent in older reports)."""
    searches: list[SearchEntry] | None = None
    integrity: Integrity
    rebuilt: Rebuilt | None = None
    continuity: Continuity | None = None
    anchors: Anchors | None = None
    """Public time anchors (absent in reports built before them)."""
    conversation: Conversation | None = None
    """For your conversation: notes and one question (absent in reports built before it)."""
    signature: Signature | None = None
    alerts: AlertsSection | None = None
    """Immediate alerts (absent when the person never chose them)."""

    @model_validator(mode="after")
    def _one_shape(self) -> Document:
        """A document has the whole shape its `schema` names, and no other."""
        if self.schema_ not in SCHEMAS:
            raise ValueError(f"unknown schema {self.schema_!r}")
        i = self.integrity
        newer = (self.rows, i.clock_anomalies, i.zone_changes, i.coverage.no_record_minutes)
        if self.schema_ == SCHEMA and (self.period.week is not None or None in newer):
            raise ValueError(f"a {SCHEMA} document has rows, anomalies and no week")
        if self.schema_ == WEEK_SCHEMA and (self.period.week is None or self.rows is not None):
            raise ValueError(f"a {WEEK_SCHEMA} document has a week and no rows")
        return self

    def as_json(self) -> dict[str, Any]:
        """The document as JSON: absent levels and a missing signature are left out."""
        data = self.model_dump(mode="json", by_alias=True)
        for optional in ("domains", "searches", "signature", "rows", "rebuilt", "continuity",
                         "anchors", "conversation"):  # fmt: skip
            if data.get(optional) is None:
                data.pop(optional, None)
        if data["period"].get("week") is None:
            data["period"].pop("week", None)
        if data["integrity"]["pinned_passthroughs"].get("programs") is None:
            data["integrity"]["pinned_passthroughs"].pop("programs", None)
        if data["integrity"]["consent"].get("person") is None:
            data["integrity"]["consent"].pop("person", None)
        if data.get("alerts") is None:
            data.pop("alerts", None)
        _drop_unset_origins(data)
        return data


def _drop_unset_origins(data: dict[str, Any]) -> None:
    """Leave out what reports built before origins were recorded do not have."""
    if data.get("more_domains") is None:
        data.pop("more_domains", None)
    if data["summary"].get("origins") is None:
        data["summary"].pop("origins", None)
    if data["summary"].get("looked_up") is None:
        data["summary"].pop("looked_up", None)
    if data["summary"].get("help_searches") is None:
        data["summary"].pop("help_searches", None)
    for entry in data.get("domains") or []:
        for name in ("opened", "pulled_in", "pulled_in_by"):
            if entry.get(name) is None:
                entry.pop(name, None)
    for entry in data.get("more_domains") or []:
        if entry.get("pulled_in_by") is None:
            entry.pop("pulled_in_by", None)
        if entry.get("sites") is None:
            entry.pop("sites", None)


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What the signature covers: the canonical JSON of everything but `signature`."""
    return canonical_json({k: v for k, v in document.items() if k != "signature"})


def document_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the signed bytes: the next report's `prev_report_hash`."""
    return hashlib.sha256(signed_bytes(document)).hexdigest()


def read_document(data: dict[str, Any]) -> Document:
    """Validate a document read from a file; raises pydantic.ValidationError."""
    return Document.model_validate(data)
