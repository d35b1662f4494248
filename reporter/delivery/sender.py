"""Build what is due, queue it once, deliver it in order, retry what will get better.

`Sender.run_once()` is one pass: consent is settled first, once (nothing leaves without a
confirmed partner; sharing less takes effect before anything is built or sent), then every due
period is built and queued (`reporter.delivery.outbox`), then each channel's oldest message is
sent while it is due. The state settled at the start is handed down the pass; a revocation made
by another process meanwhile still wins, because revoking cancels the pending report rows and
`Outbox.claim` only takes a pending row. The agent runs passes in `SenderLoop`
(`reporter.delivery.loop`) and `candor report send-due` runs one for the OS timer. A notice
(`send_notice`) does not wait for a pass: the person is waiting for it.

Transient failures are retried with exponential backoff and jitter, honouring Retry-After; a
permanent one (bad login, refused address, a 4xx from the webhook) stops that channel until the
person fixes it, and shows in `candor status` and in the next report (journal `report_failed`).

Crash points (`CRASH_POINTS`) mark where a crash must lose nothing. A test hooks them through
the Python API (`on_crash_point`) to kill its child process there, as `kill -9` would; nothing a
person can set makes a shipped process stop at one.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.config import Config, Home, last_good_config
from agent.journal import Journal, clock
from agent.journal.events import Heartbeat, ReportFailed, ReportSent
from agent.journal.partner import partner_id
from reporter import consent, notice, schedule, signing
from reporter.build import build_report, next_report
from reporter.channel import status_note as channel_note
from reporter.delivery import (
    alert_queue,
    messages,
    rebuild,
    send_time,
    smtp,
    unlock_message,
    unlock_send,
    webhook,
)
from reporter.delivery.outbox import NewMessage, Outbox, OutboxRow

log = logging.getLogger(__name__)

CRASH_POINTS = frozenset({"after_build_before_enqueue", "before_send", "after_send_before_mark"})
"""Where a test may stop the process, as `kill -9` would, to prove nothing is lost."""

_crash_hook: Callable[[str], None] | None = None


def on_crash_point(hook: Callable[[str], None] | None) -> None:
    """Call `hook(name)` at each crash point (None: nothing). For tests, through the Python API
    only: the harness in tests/ kills its child process there."""
    global _crash_hook
    _crash_hook = hook


def crash_point(name: str) -> None:
    """A point where a crash must lose nothing; does nothing unless a test hooked it."""
    if _crash_hook is not None:
        _crash_hook(name)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds of (report) clock time before retry number `attempts + 1`.

    Doubling from `base` up to `cap`, with "equal jitter" (half fixed, half random) so many
    computers coming back online at once do not knock on the server together.
    """

    base: float = 60.0
    cap: float = 6 * 3600.0
    jitter: bool = True

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next try, so retries spread out and back off."""
        span = min(self.cap, self.base * 2 ** min(attempts, 30))
        if not self.jitter:
            return span
        return span / 2 + (rng or random).uniform(0, span / 2)


@dataclass(slots=True)
class PassResult:
    """What one pass did, for the CLI to tell and the tests to check."""

    built: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    """What was rebuilt from the journal because its queued copy was gone ("report #3")."""
    sent: list[OutboxRow] = field(default_factory=list)
    failed: list[tuple[OutboxRow, str, bool]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """Why something due could not go (no consent, nothing configured): sentences."""
    next_attempt_at: datetime | None = None
    retry_at: dict[str, datetime] = field(default_factory=dict)
    """When each message that failed this pass (by outbox row id) will be tried again."""
    alerts: list[str] = field(default_factory=list)
    """The immediate alerts queued this pass (their batch ids), rebuilt ones included."""


class Sender:
    """One home's reporting: build due weeks, queue them, deliver. Not thread-safe: one pass at
    a time per object (SQLite keeps separate processes apart)."""

    def __init__(
        self,
        home: Home,
        *,
        backoff: Backoff | None = None,
        now: Callable[[], datetime] = clock.now,
        timeout: float = 30.0,
        rng: random.Random | None = None,
        deadline: float | None = None,
        clocks: alert_queue.Clocks = Heartbeat.now,
    ) -> None:
        self.home = home
        self.clocks = clocks
        """This computer's clocks now, to tell a stopped agent from a sleeping computer
        (`reporter.delivery.alert_queue`); tests hand in their own."""
        self.backoff = backoff or Backoff()
        self.now = now
        self.timeout = timeout
        self.deadline = deadline
        """Seconds one delivery attempt may take in all; None: each channel's shipped limit
        (`smtp.SEND_DEADLINE`, `webhook.POST_DEADLINE`). Tests pass a shorter one."""
        self.rng = rng or random.Random()
        self.journal = Journal(home.journal_file, clock=now)
        self.outbox = Outbox(self.journal)

    def close(self) -> None:
        """Close the outbox and the journal this sender opened."""
        self.outbox.close()
        self.journal.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one pass ----------------------------------------------------------------------------

    def run_once(self) -> PassResult:
        """One pass: settle consent once, build and queue what is due, deliver what may go."""
        result = PassResult()
        config = last_good_config(self.home).config  # status says when config.toml is broken
        state = self.settle_consent(config)
        config = consent.config_in_force(self.journal, state, config)  # the journaled channel
        self.rebuild_missing(config, state, result)
        if consent.may_report(state, config):
            self.queue_alerts(config, state, result)
            self.enqueue_due(config, state, result)
        elif state.status == "given":
            result.held.append("Reports start once your partner's code is confirmed.")
        self.deliver(config, state, result)
        return result

    def settle_consent(self, config: Config) -> consent.ConsentState:
        """Apply a lowered level or a revocation before anything is built or sent; the state
        returned is the pass's, read from the journal once."""
        state = consent.consent_state(self.journal)
        if state.status in ("given", "confirmed"):
            lower = consent.effective_level(state, config)
            if lower != state.level:
                lowered = consent.record(
                    self.journal,
                    "lowered",
                    name=state.partner_name,
                    email=state.partner_email,
                    level=lower,
                    by="config.toml",
                )
                state = consent.apply(state, lowered)
            self.outbox.withdraw_above(state.level)
        if state.status in ("none", "revoked"):
            self.outbox.cancel_reports()
        return state

    def rebuild_missing(
        self, config: Config, state: consent.ConsentState, result: PassResult
    ) -> None:
        """Rebuild and queue what the journal says was queued but the outbox no longer holds
        (`reporter.delivery.rebuild`): notices always, reports while reports may go."""
        rebuilder = rebuild.Rebuilder(self.home, config, self.journal, self.outbox)
        if unlock_send.sheet_lost(self.journal, self.outbox, state):  # codes cannot be rebuilt
            reason = "message_lost"
            unlock_send.issue_sheet(self.journal, self.outbox, config, state, self.now(),
                                    reason=reason)  # fmt: skip
            result.rebuilt.append("the sheet of unlock codes (a new sheet: the lost one is void)")
        for body in rebuild.missing_notices(self.journal, self.outbox):
            if rebuilder.notice(body, state, _notice_channels(config, state)):
                result.rebuilt.append(f"a {str(body.get('notice')).replace('_', ' ')} notice")
        if not consent.may_report(state, config):
            return
        partner = partner_id(state.partner_email)
        rebuild.restore_records(self.journal, self.outbox, partner)
        channels = self._channels(config, state)
        for body in rebuild.missing_reports(self.journal, self.outbox, partner):
            if not channels or rebuild.withdrawn(body, state):
                continue
            if rebuilder.report(body, state, channels, self.now()):
                result.rebuilt.append(f"report #{body['seq']}")

    def queue_alerts(self, config: Config, state: consent.ConsentState, result: PassResult) -> None:
        """Rebuild lost immediate alerts, then queue the next one if it is due."""
        ctx = alert_queue.Context(
            self.home, config, self.journal, self.outbox, state, self._channels(config, state)
        )
        now = self.now()
        result.alerts += alert_queue.withdraw_above(ctx, now)
        result.alerts += alert_queue.rebuild_missing(ctx, now)
        batch = alert_queue.queue_due(ctx, now, self.clocks)
        if batch is not None:
            result.alerts.append(batch)

    def enqueue_due(
        self, config: Config, state: consent.ConsentState, result: PassResult
    ) -> list[str]:
        """Build and queue every period that has ended and has no report yet, oldest first."""
        if state.confirmed_at is None:
            return []
        channels = self._channels(config, state)
        if not channels:
            result.held.append(
                "A report is due but no delivery is set up: configure [delivery.smtp]."
            )
            return []
        shared = config.model_copy(update={"detail_level": state.level})
        for _ in range(100):  # each loop builds one period; another process may race us
            now = self.now()
            upcoming = next_report(self.journal, config, state, now)
            period = upcoming.period
            if period.end > now:
                break
            late = schedule.late_reason(self.journal, period.end, now)
            built = build_report(
                self.home,
                shared,
                self.journal,
                period,
                seq=upcoming.seq,
                prev_report_hash=upcoming.prev_report_hash,
                now=now,
                late_reason=late,
                previous=upcoming.previous,
                confirmed_seq=state.confirmed_seq,
                link=upcoming.continuity(self.journal),
            )
            crash_point("after_build_before_enqueue")
            record = rebuild.report_record(
                built, upcoming.seq, upcoming.prev_report_hash, state, now
            )
            queued = [
                messages.report_message(config, channel, recipient, built, upcoming.seq, record)
                for channel, recipient in channels
            ]
            if self.outbox.add_report(record, queued, rebuild.built_event(built, record)):
                result.built.append(period.id)
        return result.built

    def _channels(self, config: Config, state: consent.ConsentState) -> list[tuple[str, str]]:
        out = []
        if config.delivery.smtp.host and state.partner_email:
            out.append(("email", state.partner_email))
        if config.delivery.webhook.url:
            out.append(("webhook", config.delivery.webhook.url))
        return out

    # -- delivery ---------------------------------------------------------------------------

    def deliver(
        self,
        config: Config,
        state: consent.ConsentState | None = None,
        result: PassResult | None = None,
    ) -> PassResult:
        """Send each channel's due messages in order; `state` is the pass's settled consent
        (read here once when delivering outside a pass, e.g. right after queuing a note)."""
        result = result or PassResult()
        if state is None:
            state = consent.consent_state(self.journal)
        config = consent.sending_config(state, config)
        allowed = consent.may_report(state, config)
        for channel in self.outbox.channels():
            self._drain(channel, config, state, allowed, result)
        return result

    def _drain(
        self,
        channel: str,
        config: Config,
        state: consent.ConsentState,
        allowed: bool,
        result: PassResult,
    ) -> None:
        while (row := self.outbox.head(channel)) is not None:
            if row.state == "failed":
                result.held.append(f"Delivery by {channel} is stopped: {row.last_error}")
                return
            now = self.now()
            if row.next_attempt_at > now:
                if result.next_attempt_at is None or row.next_attempt_at < result.next_attempt_at:
                    result.next_attempt_at = row.next_attempt_at
                return
            if row.kind in ("report", "alert") and not self._may_send(row, state, config, allowed):
                what = f"Report #{row.report_seq}" if row.report_seq else "An alert"
                result.held.append(f"{what} is held: no confirmed partner.")
                return
            if not self.outbox.claim(row):
                return  # another process is sending it, or a revocation cancelled it
            crash_point("before_send")
            try:
                self._send(row, config)
            except smtp.DeliveryError as exc:
                self._failed(row, exc, result)
                return
            crash_point("after_send_before_mark")
            self.outbox.mark_sent(row)
            result.sent.append(row)

    def _may_send(
        self, row: OutboxRow, state: consent.ConsentState, config: Config, allowed: bool
    ) -> bool:
        if not allowed:
            return False
        if row.channel == "email":
            return (state.partner_email or "").lower() == row.recipient.lower()
        return True

    def _send(self, row: OutboxRow, config: Config) -> None:
        now = self.now()
        report = self.outbox.report_of(row) if row.report_seq is not None else None
        late = send_time.late_words(self.journal, row, report, now)
        payload = send_time.wrap(row, now, late, report)
        if row.channel == "email":
            smtp.send(
                config.delivery.smtp,
                payload,
                [row.recipient],
                timeout=self.timeout,
                deadline=self.deadline or smtp.SEND_DEADLINE,
            )
            return
        # The URL the row was queued for: a note to a former webhook goes there, not to the new.
        url = row.recipient or config.delivery.webhook.url
        if not url:
            raise smtp.DeliveryError(
                "The webhook was removed from config.toml; set [delivery.webhook] url again.",
                permanent=True,
            )
        webhook.post(
            url,
            payload,
            webhook_id=row.id,
            key=signing.load_private_key(self.home),
            now=now,
            timeout=self.timeout,
            deadline=self.deadline or webhook.POST_DEADLINE,
        )

    def _failed(self, row: OutboxRow, exc: smtp.DeliveryError, result: PassResult) -> None:
        reason = str(exc)
        if exc.permanent:
            self.outbox.mark_failed(row, reason, permanent=True, retry_at=None)
        else:
            wait = self.backoff.delay(row.attempts, self.rng)
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            retry_at = self.now() + timedelta(seconds=wait)
            self.outbox.mark_failed(row, reason, permanent=False, retry_at=retry_at)
            result.retry_at[row.id] = retry_at
            if result.next_attempt_at is None or retry_at < result.next_attempt_at:
                result.next_attempt_at = retry_at
        result.failed.append((row, reason, exc.permanent))


def send_due(home: Home, **options: Any) -> PassResult:
    """`candor report send-due`: one full pass, then done."""
    with Sender(home, **options) as sender:
        return sender.run_once()


def describe(result: PassResult) -> list[str]:
    """Plain lines for the CLI."""
    lines = [f"Rebuilt {what}: its queued copy was gone." for what in result.rebuilt]
    lines += [f"Built the report for the period ending {day}." for day in result.built]
    lines += [f"Queued an immediate alert for your partner ({b})." for b in result.alerts]
    for row in result.sent:
        what = row_what(row)
        lines.append(f"{what} sent by {row.channel} to {shown_recipient(row)}.")
    for row, reason, permanent in result.failed:
        what = row_what(row)
        tail = "Stopped until you fix it." if permanent else "Candor will try again."
        retry = result.retry_at.get(row.id)
        if not permanent and retry is not None:
            tail = f"Candor will try again at {retry.astimezone():%a %d %b %H:%M}."
        lines.append(f"{what} not sent by {row.channel}: {reason} {tail}")
    lines.extend(dict.fromkeys(result.held))
    return lines


def row_what(row: OutboxRow) -> str:
    """A queued message as the CLI names it: "Report #3", "An alert", "A notice"."""
    if row.report_seq:
        return f"Report #{row.report_seq}"
    if row.kind == unlock_message.KIND:
        return "The sheet of unlock codes"
    return "An alert" if row.kind == "alert" else "A notice"


def shown_recipient(row: OutboxRow) -> str:
    """Where a message goes, as printed: a webhook's address without its token (query,
    user:password), an email address as it is."""
    return webhook.shown_url(row.recipient) if row.channel == "webhook" else row.recipient


def status_notes(home: Home) -> list[str]:
    """Sentences for `candor status`: stopped or struggling deliveries, a consent renewal or
    confirmation waiting."""
    now = clock.now()
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        notes = outbox.problems()
        state = consent.consent_state(journal)
    config = last_good_config(home).config
    ignored = channel_note(state.channel, state.status == "confirmed", config)
    notes.extend([ignored] if ignored else [])
    who = state.partner_name or state.partner_email
    if state.renewal_due(now):
        notes.append(
            f"It has been 90 days since you agreed to share reports with {who}: keep sharing "
            "(`candor partner renew`), change the level, or stop (`candor partner revoke`)."
        )
    if state.status == "given":
        notes.append(f"Reports start once {who} confirms: `candor partner confirm CODE`.")
    return notes


# -- a notice, sent at once ---------------------------------------------------------------------


def send_notice(
    home: Home,
    kind: str,
    *,
    queue_failed: bool = False,
    timeout: float = 30.0,
    waited: bool = True,
    deadline: float | None = None,
) -> bool:
    """Sign and send the `kind` notice to the confirmed partner on every configured channel.

    It is journaled (`notice_queued`) and put in the outbox together, then sent at once, not
    behind reports: the person is waiting (uninstall asks before going on without it). True
    when at least one channel delivered it (the partner has been told). Each attempt is
    journaled as `report_sent` or `report_failed` (body `kind: "notice"`, `notice`, `channel`,
    and the reason). With `queue_failed`, a channel that fails keeps the same signed message in
    the outbox for the agent to retry; without, the person gave it up (its row is cancelled, so
    it is not rebuilt). `waited=False`: the person chose not to wait, and the notice says so.
    False, with a sentence on stderr, when there is no one to tell or no way. `deadline`:
    seconds each channel's attempt may take in all (None: the channel's shipped limit).
    """
    if kind not in notice.KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    config = last_good_config(home).config
    now = clock.now()
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
        config = consent.sending_config(state, config)
        if not notice.partner_to_tell(state, kind):
            _say("No partner has confirmed, so no notice was sent.")
            return False
        channels = _notice_channels(config, state)
        if not channels:
            _say(
                "No delivery is set up ([delivery.smtp] or [delivery.webhook]): no notice was sent."
            )
            return False
        facts = notice.NoticeFacts(waited=waited)
        signed = notice.build_notice(home, config, journal, state, kind, now, facts)
        words = notice.notice_words(config, state, kind, now, facts)
        partner = partner_id(state.partner_email)
        queued = [
            messages.notice_message(config, signed, words, channel, recipient, now, partner)
            for channel, recipient in channels
        ]
        delivered = False
        with Outbox(journal) as outbox:
            rebuild.queue_notice(outbox, queued, signed, partner, facts)
            for message in queued:
                limits = (timeout, deadline)
                error = _deliver_notice(home, config, journal, message, kind, now, limits)
                delivered = delivered or error is None
                outbox.settle_notice(message.id, sent=error is None, keep=queue_failed, error=error)
    return delivered


def pending_notices(home: Home) -> int:
    """How many notice messages wait in the outbox (e.g. after a try that failed)."""
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        return sum(row.kind == "notice" for row in outbox.rows("pending"))


def _notice_channels(config: Config, state: consent.ConsentState) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    email = state.partner_email or ""
    if config.delivery.smtp.host and (config.partner.email or "").lower() == email.lower():
        out.append(("email", email))
    if config.delivery.webhook.url:
        out.append(("webhook", config.delivery.webhook.url))
    return out


def _deliver_notice(
    home: Home, config: Config, journal: Journal, message: NewMessage, kind: str, now: datetime,
    limits: tuple[float, float | None],
) -> str | None:  # fmt: skip
    """Send one notice message now; None when it left, else why not (both journaled).
    `limits`: seconds per step, and in all (None: the channel's shipped limit)."""
    timeout, deadline = limits
    try:
        if message.channel == "email":
            smtp.send(
                config.delivery.smtp,
                message.payload,
                [message.recipient],
                timeout=timeout,
                deadline=deadline or smtp.SEND_DEADLINE,
            )
        else:
            webhook.post(
                message.recipient,
                message.payload,
                webhook_id=message.id,
                key=signing.load_private_key(home),
                now=now,
                timeout=timeout,
                deadline=deadline or webhook.POST_DEADLINE,
            )
    except smtp.DeliveryError as exc:
        failed = ReportFailed(
            channel=message.channel,
            message_kind="notice",
            notice=kind,
            reason=str(exc),
            permanent=exc.permanent,
            attempts=1,
        )
        journal.append(failed)
        _say(f"The notice was not sent by {message.channel}: {exc}")
        return str(exc)
    sent = ReportSent(
        channel=message.channel,
        message_kind="notice",
        notice=kind,
        message_id=message.message_id,
        attempts=1,
    )
    journal.append(sent)
    return None


def _say(sentence: str) -> None:
    """For the person running the command; the journal holds the record."""
    print(sentence, file=sys.stderr, flush=True)
