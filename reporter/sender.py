"""Build what is due, queue it once, deliver it in order, retry what will get better.

`Sender.run_once()` is one pass: consent first (nothing leaves without a confirmed partner;
sharing less takes effect before anything is built or sent), then every due week is built and
queued (`reporter.delivery.outbox`), then each channel's oldest message is sent while it is due. The
agent runs it in `SenderLoop` (a thread) at start, every minute or so (which also catches a
wake from sleep), and `candor report send-due` runs it once for the OS timer.

Transient failures are retried with exponential backoff and jitter, honouring Retry-After; a
permanent one (bad login, refused address, a 4xx from the webhook) stops that channel until the
person fixes it, and shows in `candor status` and in the next report (journal `report_failed`).

Crash points, for tests only: with `CANDOR_CRASH_AT=<name>` the process kills itself (SIGKILL)
at that point, as `kill -9` would. Names: `after_build_before_enqueue`, `before_send`,
`after_send_before_mark`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import Config, Home, load_config
from agent.journal import Journal, canonical_json, clock
from reporter import consent, schedule, signing
from reporter.build import BuiltReport, build_report, report_hash
from reporter.delivery import smtp, webhook
from reporter.delivery.outbox import NewMessage, Outbox, OutboxRow, ReportRecord

log = logging.getLogger(__name__)

CRASH_ENV = "CANDOR_CRASH_AT"
CRASH_POINTS = frozenset({"after_build_before_enqueue", "before_send", "after_send_before_mark"})


def crash_point(name: str) -> None:
    """Die here, like `kill -9`, when a test asked for it. Test only."""
    if os.environ.get(CRASH_ENV) != name:
        return
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)


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
        span = min(self.cap, self.base * 2 ** min(attempts, 30))
        if not self.jitter:
            return span
        return span / 2 + (rng or random).uniform(0, span / 2)


@dataclass(slots=True)
class PassResult:
    """What one pass did, for the CLI to tell and the tests to check."""

    built: list[str] = field(default_factory=list)
    sent: list[OutboxRow] = field(default_factory=list)
    failed: list[tuple[OutboxRow, str, bool]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """Why something due could not go (no consent, nothing configured): sentences."""
    next_attempt_at: datetime | None = None


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
    ) -> None:
        self.home = home
        self.backoff = backoff or Backoff()
        self.now = now
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.journal = Journal(home.journal_file, clock=now)
        self.outbox = Outbox(self.journal)

    def close(self) -> None:
        self.outbox.close()
        self.journal.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one pass ----------------------------------------------------------------------------

    def run_once(self) -> PassResult:
        result = PassResult()
        config = load_config(self.home)
        state = self.settle_consent(config)
        if consent.may_report(state, config):
            self.enqueue_due(config, state, result)
        elif state.status == "given":
            result.held.append("Reports start once your partner's code is confirmed.")
        self.deliver(config, result)
        return result

    def settle_consent(self, config: Config) -> consent.ConsentState:
        """Apply a lowered level or a revocation before anything is built or sent."""
        state = consent.consent_state(self.journal)
        if state.status in ("given", "confirmed"):
            lower = consent.effective_level(state, config)
            if lower != state.level:
                consent.record(
                    self.journal,
                    "lowered",
                    name=state.partner_name,
                    email=state.partner_email,
                    level=lower,
                    by="config.toml",
                )
                state = consent.consent_state(self.journal)
            self.outbox.withdraw_above(state.level)
        if state.status in ("none", "revoked"):
            self.outbox.cancel_reports()
        return state

    def enqueue_due(
        self, config: Config, state: consent.ConsentState, result: PassResult
    ) -> list[str]:
        if state.confirmed_at is None:
            return []
        channels = self._channels(config, state)
        if not channels:
            result.held.append(
                "A report is due but no delivery is set up: configure [delivery.smtp]."
            )
            return []
        shared = config.model_copy(update={"detail_level": state.level})
        zone = config.report.zone()
        for _ in range(100):  # each loop builds one week; another process may race us
            now = self.now()
            done = {r.week for r in self.outbox.reports()}
            due = schedule.due_weeks(
                now, config.report, since=state.confirmed_at, done=done, zone=zone
            )
            if not due:
                break
            week = due[0]
            last = self.outbox.last_report()
            seq = (last.seq if last else 0) + 1
            prev = last.hash if last else None
            late = schedule.late_reason(self.journal, week.due_at, now)
            built = build_report(
                self.home,
                shared,
                self.journal,
                week.week,
                seq=seq,
                prev_report_hash=prev,
                now=now,
                late_reason=late,
            )
            crash_point("after_build_before_enqueue")
            record = ReportRecord(
                seq=seq,
                week=week.week,
                hash=report_hash(built),
                prev_hash=prev,
                detail_level=state.level,
                needs_attention=bool(built.needs_attention),
                late_reason=late,
                due_at=week.due_at,
                generated_at=now,
            )
            messages = [
                self._report_message(config, channel, recipient, built, seq)
                for channel, recipient in channels
            ]
            if self.outbox.add_report(record, messages):
                result.built.append(week.week)
        return result.built

    def _channels(self, config: Config, state: consent.ConsentState) -> list[tuple[str, str]]:
        out = []
        if config.delivery.smtp.host and state.partner_email:
            out.append(("email", state.partner_email))
        if config.delivery.webhook.url:
            out.append(("webhook", config.delivery.webhook.url))
        return out

    # -- messages ---------------------------------------------------------------------------

    def _report_message(
        self, config: Config, channel: str, recipient: str, built: BuiltReport, seq: int
    ) -> NewMessage:
        week = str(built.week)
        key = f"candor-report-{week}-{seq}-{_slug(config.device.name)}"
        mid = smtp.message_id(key)
        subject = report_subject(config, built)
        row_id = f"report:{week}:{seq}:{channel}"
        if channel == "email":
            payload = report_email(config, built, to=recipient, message_id=mid, seq=seq).as_bytes()
        else:
            payload = webhook_body(config, built, seq=seq)
        return NewMessage(row_id, "report", channel, recipient, mid, subject, payload, seq)

    def queue_notice(self, config: Config, email: Any, *, to: str, key: str) -> NewMessage:
        """Queue a one-off email to (or about) the partner: the ended or changed notice."""
        mid = smtp.message_id(f"candor-{key}-{_slug(config.device.name)}")
        msg = smtp.new_message(
            sender=smtp.sender_address(config.delivery.smtp),
            to=to,
            subject=email.subject,
            message_id=mid,
            text=email.text,
            html=email.html,
            date=self.now().timestamp(),
        )
        message = NewMessage(
            f"notice:{key}", "notice", "email", to, mid, email.subject, msg.as_bytes()
        )
        self.outbox.add_message(message)
        return message

    # -- delivery ---------------------------------------------------------------------------

    def deliver(self, config: Config, result: PassResult | None = None) -> PassResult:
        result = result or PassResult()
        state = consent.consent_state(self.journal)
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
            if row.kind == "report":
                # read again just before sending: a revocation a moment ago must win
                state = consent.consent_state(self.journal)
                allowed = consent.may_report(state, config)
            if row.kind == "report" and not self._may_send(row, state, config, allowed):
                result.held.append(f"Report #{row.report_seq} is held: no confirmed partner.")
                return
            if not self.outbox.claim(row):
                return  # another process is sending it right now
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
        if row.channel == "email":
            smtp.send(config.delivery.smtp, row.payload, [row.recipient], timeout=self.timeout)
            return
        url = config.delivery.webhook.url
        if not url:
            raise smtp.DeliveryError(
                "The webhook was removed from config.toml; set [delivery.webhook] url again.",
                permanent=True,
            )
        webhook.post(
            url,
            row.payload,
            webhook_id=row.id,
            key=signing.load_private_key(self.home),
            now=self.now(),
            timeout=self.timeout,
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
            if result.next_attempt_at is None or retry_at < result.next_attempt_at:
                result.next_attempt_at = retry_at
        result.failed.append((row, reason, exc.permanent))


# -- what a report looks like on each channel -----------------------------------------------


def report_subject(config: Config, built: BuiltReport) -> str:
    start = schedule.week_monday(str(built.week))
    end = start + timedelta(days=6)
    span = f"{start.day} {start:%b}–{end.day} {end:%b %Y}"
    state = "needs your attention" if built.needs_attention else "all steady"
    late = " (sent late)" if _late(built) else ""
    return f"Candor weekly report, {config.device.name}, {span}: {state}{late}"


def _late(built: BuiltReport) -> bool:
    integrity = built.document.get("integrity")
    return isinstance(integrity, dict) and bool(integrity.get("late"))


def report_email(
    config: Config,
    built: BuiltReport,
    *,
    to: str,
    message_id: str,
    seq: int,
    date: float | None = None,
) -> EmailMessage:
    msg = smtp.new_message(
        sender=smtp.sender_address(config.delivery.smtp),
        to=to,
        subject=report_subject(config, built),
        message_id=message_id,
        text=built.text,
        html=built.html,
        date=date if date is not None else clock.now().timestamp(),
    )
    msg["X-Candor-Report-Seq"] = str(seq)
    msg["X-Candor-Week"] = str(built.week)
    msg["X-Candor-Needs-Attention"] = "yes" if built.needs_attention else "no"
    stem = f"candor-report-{built.week}"
    msg.add_attachment(
        built.json_bytes, maintype="application", subtype="json", filename=f"{stem}.json"
    )
    msg.add_attachment(
        built.signed_bytes, maintype="application", subtype="json", filename=f"{stem}.signed.json"
    )
    msg.add_attachment(
        built.raw_signature,
        maintype="application",
        subtype="octet-stream",
        filename=f"{stem}.signed.json.sig",
    )
    msg.add_attachment(
        built.sshsig.encode("ascii"),
        maintype="text",
        subtype="plain",
        filename=f"{stem}.signed.json.sshsig",
    )
    return msg


def webhook_body(config: Config, built: BuiltReport, *, seq: int) -> bytes:
    """Standard Webhooks' suggested shape: type, timestamp, data. The document is signed on
    its own too, so the receiver can keep it as the partner's copy."""
    body = {
        "type": "candor.report.weekly",
        "timestamp": str(built.document.get("generated_at", "")),
        "data": {
            "device": config.device.name,
            "week": str(built.week),
            "seq": seq,
            "needs_attention": bool(built.needs_attention),
            "document": built.document,
            "sshsig": built.sshsig,
        },
    }
    return canonical_json(body)


def signing_key(home: Home) -> Ed25519PrivateKey:
    return signing.load_private_key(home)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "device"


def send_due(home: Home, **options: Any) -> PassResult:
    """`candor report send-due`: one full pass, then done."""
    with Sender(home, **options) as sender:
        return sender.run_once()


class SenderLoop:
    """The agent's sender: a daemon thread running `Sender.run_once` at start, then every
    `interval` seconds of the report clock (at most a minute of real time apart, so a wake
    from sleep is noticed quickly), or sooner when a retry falls due."""

    def __init__(
        self,
        home: Home,
        *,
        interval: float = 300.0,
        backoff: Backoff | None = None,
        now: Callable[[], datetime] = clock.now,
        max_real_wait: float = 60.0,
        on_pass: Callable[[PassResult], None] | None = None,
    ) -> None:
        self.home = home
        self.interval = interval
        self.backoff = backoff
        self.now = now
        self.max_real_wait = max_real_wait
        self.on_pass = on_pass
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="candor-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poke(self) -> None:
        """Run a pass now (e.g. after a resume from sleep, or a consent change)."""
        self._wake.set()

    def _run(self) -> None:
        try:
            sender = Sender(self.home, backoff=self.backoff, now=self.now)
        except Exception as exc:  # e.g. a journal from a newer Candor: say so, do not crash
            log.exception("report sender cannot start")
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        try:
            while not self._stop.is_set():
                wait = self.interval
                try:
                    result = sender.run_once()
                    self.last_error = None
                    if self.on_pass is not None:
                        self.on_pass(result)
                    if result.next_attempt_at is not None:
                        until = (result.next_attempt_at - self.now()).total_seconds()
                        wait = min(wait, max(until, 0.0))
                except Exception as exc:  # keep the agent's sender alive; say what went wrong
                    log.exception("report sender pass failed")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                real = min(clock.real_seconds(wait), self.max_real_wait)
                self._wake.wait(max(real, 0.005))
                self._wake.clear()
        finally:
            sender.close()


def status_notes(home: Home) -> list[str]:
    """Sentences for `candor status`: stopped or struggling deliveries, a consent renewal or
    confirmation waiting, and the test clock (which makes every time shown untrue)."""
    now = clock.now()
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        notes = outbox.problems()
        state = consent.consent_state(journal)
    who = state.partner_name or state.partner_email
    if state.renewal_due(now):
        notes.append(
            f"It has been 90 days since you agreed to share reports with {who}: keep sharing "
            "(`candor partner renew`), change the level, or stop (`candor partner revoke`)."
        )
    if state.status == "given":
        notes.append(f"Reports start once {who} confirms: `candor partner confirm CODE`.")
    if clock.test_clock_active():
        notes.append(f"The test clock is on ({clock.TEST_NOW_ENV}): report times are not real.")
    return notes


def describe(result: PassResult) -> list[str]:
    """Plain lines for the CLI."""
    lines = [f"Built the report for {week}." for week in result.built]
    for row in result.sent:
        what = f"Report #{row.report_seq}" if row.report_seq else "A notice"
        lines.append(f"{what} sent by {row.channel} to {row.recipient}.")
    for row, reason, permanent in result.failed:
        what = f"Report #{row.report_seq}" if row.report_seq else "A notice"
        tail = "Stopped until you fix it." if permanent else "Candor will try again."
        lines.append(f"{what} not sent by {row.channel}: {reason} {tail}")
    lines.extend(dict.fromkeys(result.held))
    return lines
