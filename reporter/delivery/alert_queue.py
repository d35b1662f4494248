"""Immediate alerts, queued and rebuilt: the journal's rows → a signed alert in the outbox.

Each sending pass (the agent's `SenderLoop` and `candor report send-due`, which the installed
OS timer runs) calls `queue_due`: it reads the rows since the last alert, asks
`reporter.alerts.plan` what the next alert tells, and, when it is due, signs it and queues it
with its `alert_queued` row in one transaction, so it is never lost (the outbox delivers it at
least once) and never made twice (the transaction checks no other process queued one meanwhile;
its id and Message-ID come from the rows it covers). An alert whose outbox rows went missing is
rebuilt from its journaled document, signed again to the very same bytes (`rebuild_missing`).

The timer is also what notices a stopped agent: a stopped agent cannot send. The agent's last
heartbeat is compared with this computer's clocks now (its boot id, and the time awake, which
`time.monotonic()` counts and sleep does not), so a computer that slept is told from an agent
that stopped while it was awake, and a reboot after which the agent did not start again counts
from the boot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.config import Config, Home
from agent.journal import Event, Journal, Kind
from agent.journal.events import AlertQueued, Heartbeat
from agent.journal.partner import partner_id
from reporter import alert_settings, alerts, consent, invitation, signing
from reporter.alert_settings import AlertSettings, settings_for
from reporter.delivery import messages
from reporter.delivery.outbox import Outbox
from reporter.document import signed_bytes
from reporter.notice import SignedNotice

Clocks = Callable[[], Heartbeat]
"""This computer's clocks now (`Heartbeat.now`); tests hand in their own."""
AGENT_KINDS = (Kind.HEARTBEAT, Kind.AGENT_START, Kind.AGENT_STOP)


@dataclass(frozen=True, slots=True)
class Context:
    """What a pass hands in: the settled consent, the config in force and the channels."""

    home: Home
    config: Config
    journal: Journal
    outbox: Outbox
    state: consent.ConsentState
    channels: list[tuple[str, str]]


def awake_between(then: Heartbeat, now: Heartbeat) -> timedelta | None:
    """How long this computer has been awake since `then` (a heartbeat), sleep left out; after
    a reboot (another boot id, or where there is none, a monotonic clock that started over),
    the time awake since the boot. None when the clocks cannot tell."""
    if now.monotonic is not None:
        same_boot = then.boot_id == now.boot_id
        if same_boot and then.monotonic is not None and now.monotonic >= then.monotonic:
            return timedelta(seconds=now.monotonic - then.monotonic)
        if not same_boot or then.monotonic is not None:  # a new boot (the clock started over)
            return timedelta(seconds=max(now.monotonic, 0.0))
    if then.wall is not None and now.wall is not None:
        return timedelta(seconds=max(now.wall - then.wall, 0.0))
    return None


def stopped_fact(journal: Journal, clocks: Clocks) -> alerts.Stopped | None:
    """The agent's last sign of life and the time awake since, when the agent is not running
    (its last row is an old heartbeat or a stop); None when it just started or never ran."""
    last = next(journal.latest(AGENT_KINDS, limit=1), None)
    if last is None or last.kind == Kind.AGENT_START:
        return None
    beat = next(journal.latest([Kind.HEARTBEAT], limit=1), None)
    if beat is None:
        return None
    awake = awake_between(Heartbeat.from_body(beat.body), clocks())
    if awake is None:
        return None
    by_person = last.kind == Kind.AGENT_STOP and last.body.get("clean") is True
    return alerts.Stopped(last.seq, last.time, by_person, awake)


def last_alert(journal: Journal, partner: str) -> tuple[Event | None, alerts.LastAlert | None]:
    """The newest `alert_queued` row of `partner`, and where the next alert starts after it."""
    for event in journal.latest([Kind.ALERT_QUEUED]):
        body = event.body
        if body.get("partner_id") != partner:
            continue
        last_seq = int(body.get("last_seq") or 0)
        hard = body.get("hard_through")
        stopped = body.get("stopped_seq")
        return event, alerts.LastAlert(
            at=event.time,
            last_seq=last_seq,
            hard_through=hard if isinstance(hard, int) else last_seq,
            stopped_seq=stopped if isinstance(stopped, int) else None,
        )
    return None, None


def plan_now(
    journal: Journal,
    state: consent.ConsentState,
    settings: AlertSettings,
    now: datetime,
    clocks: Clocks,
) -> tuple[alerts.Plan, Event | None]:
    """The next alert as the journal stands now (due or not), and the last alert's row."""
    partner = partner_id(state.partner_email)
    last_row, last = last_alert(journal, partner)
    turned_on = alert_settings.on_since(journal, partner) or settings.seq or 1
    start = max(state.confirmed_seq or 0, turned_on - 1)
    after = max(last.last_seq if last else 0, start)
    hard_from = max(last.hard_through if last else 0, start)
    head = journal.head()  # first: rows written while reading are left for the next alert
    head_seq = head.seq if head else 0
    others = [k for k in alerts.ROW_KINDS if k != Kind.DECISION]
    rows = list(journal.events(kinds=others, after_seq=after))
    if settings.covers("hard_moment"):
        since = now - alerts.HARD_LOOKBACK
        rows += journal.events(kinds=[Kind.DECISION], after_seq=hard_from, since=since)
        rows.sort(key=lambda event: event.seq)
    rows = [event for event in rows if event.seq <= head_seq]
    stopped = stopped_fact(journal, clocks)
    plan = alerts.plan(
        settings,
        rows,
        start_seq=start,
        head_seq=head_seq,
        last=last,
        stopped=stopped,
        now=now,
    )
    return plan, last_row


def queue_due(ctx: Context, now: datetime, clocks: Clocks = Heartbeat.now) -> str | None:
    """Queue the next alert if one is due; returns its batch id, or None."""
    state = ctx.state
    if state.status != "confirmed" or not ctx.channels:
        return None
    partner = partner_id(state.partner_email)
    settings = settings_for(ctx.journal, partner)
    if not settings.on:
        return None
    plan, last_row = plan_now(ctx.journal, state, settings, now, clocks)
    if not plan.due(now):
        return None
    known = last_row.seq if last_row else None

    def unchanged(conn: sqlite3.Connection) -> bool:
        found = conn.execute(
            "SELECT seq, body FROM events WHERE kind = ? ORDER BY seq DESC", (Kind.ALERT_QUEUED,)
        )
        for seq, body in found:
            if json.loads(body).get("partner_id") == partner:
                return seq == known
        return known is None

    return plan.batch if _queue(ctx, plan, settings, now, unchanged) else None


def _queue(
    ctx: Context,
    plan: alerts.Plan,
    settings: AlertSettings,
    now: datetime,
    unchanged: Callable[[sqlite3.Connection], bool],
) -> bool:
    """Sign `plan`'s alert and queue it on every channel with its `alert_queued` row."""
    partner = partner_id(ctx.state.partner_email)
    queued = compose(ctx, plan, settings, now)
    signed = sign(ctx.home, queued.document)
    words = invitation.email_words(queued.subject, queued.text)
    batch = [
        messages.alert_message(ctx.config, signed, words, channel, recipient, now, partner)
        for channel, recipient in ctx.channels
    ]
    return ctx.outbox.add_alert(batch, queued, unchanged)


def withdraw_above(ctx: Context, now: datetime) -> list[str]:
    """Sharing less is never delayed: an alert not yet delivered that was made at a higher
    detail level than the one now in force is cancelled and made again at this level (the same
    rows and items, a new id). Returns the new alerts' batch ids."""
    mine = partner_id(ctx.state.partner_email)
    level = ctx.state.level
    settings = settings_for(ctx.journal, mine)
    done: list[str] = []
    for event in list(ctx.journal.events(kinds=[Kind.ALERT_QUEUED])):
        body = event.body
        document = body.get("document")
        if body.get("partner_id") != mine or not isinstance(document, dict):
            continue
        if consent.level_rank(str(document.get("detail_level"))) <= consent.level_rank(level):
            continue
        if ctx.outbox.cancel_alert(f"alert:{mine[:12]}:{body.get('batch')}:") == 0:
            continue
        items = tuple(
            alerts.item_from_json(item, event.time)
            for item in body.get("items") or ()
            if isinstance(item, Mapping)
        )
        plan = alerts.Plan(
            items,
            int(body.get("after_seq") or 0),
            int(body.get("last_seq") or 0),
            int(body.get("hard_through") or 0),
            now,
            stopped_seq=body.get("stopped_seq"),
            redone_at=level,
        )
        if _queue(ctx, plan, settings, now, lambda conn: True):
            done.append(plan.batch)
    return done


def compose(ctx: Context, plan: alerts.Plan, settings: AlertSettings, now: datetime) -> AlertQueued:
    """The `alert_queued` row of `plan`: its words and unsigned document, at the level."""
    state = ctx.state
    level = state.level
    person = invitation.person_name(ctx.config, state.person)
    words = alerts.words(
        plan,
        person=person,
        partner=state.partner_name,
        device=ctx.config.device.name,
        level=level,
        zone=settings.zone,
        now=now,
    )
    head = next(ctx.journal.events(after_seq=plan.last_seq - 1, limit=1), None)
    chain_head = {"seq": head.seq, "hash": head.hash} if head else None  # the last row covered
    document = alerts.document(
        plan,
        device=ctx.config.device.name,
        partner={"name": state.partner_name, "email": state.partner_email},
        level=level,
        now=now,
        chain_head=chain_head,
        when=alerts.when_words(plan, now, level),
    )
    partner = partner_id(state.partner_email)
    return AlertQueued(
        partner_id=partner,
        batch=plan.batch,
        message_id=f"candor-alert-{partner[:12]}-{plan.batch}",
        after_seq=plan.after_seq,
        last_seq=plan.last_seq,
        items=[item.as_json(level) for item in plan.items],
        document=document,
        subject=words.subject,
        text=words.text,
        hard_through=plan.hard_through,
        stopped_seq=plan.stopped_seq,
    )


def sign(home: Home, document: Mapping[str, Any]) -> SignedNotice:
    """Sign an alert document (Ed25519 is deterministic: the same document, the same bytes)."""
    key = signing.load_private_key(home)
    signed = signed_bytes(dict(document))
    raw = signing.sign_raw(key, signed)
    full = {**document, "signature": signing.signature_field(key, raw)}
    return SignedNotice("alert", full, signed, raw, signing.sshsig(key, signed))


def rebuild_missing(ctx: Context, now: datetime) -> list[str]:
    """Queue again every alert the journal says was queued, that never left and whose outbox
    rows are gone: the same document, signature and Message-ID. Returns their batch ids."""
    sent = {
        (e.body.get("channel"), e.body.get("message_id"))
        for e in ctx.journal.events(kinds=[Kind.REPORT_SENT])
        if e.body.get("kind") == "alert"
    }
    mine = partner_id(ctx.state.partner_email)
    done: list[str] = []
    for event in ctx.journal.events(kinds=[Kind.ALERT_QUEUED]):
        body = event.body
        if body.get("partner_id") != mine or not isinstance(body.get("document"), dict):
            continue
        signed = sign(ctx.home, body["document"])
        words = invitation.email_words(str(body.get("subject")), str(body.get("text")))
        missing = [
            message
            for channel, recipient in ctx.channels
            if (
                message := messages.alert_message(
                    ctx.config, signed, words, channel, recipient, now, mine
                )
            )
            and (channel, message.message_id) not in sent
            and ctx.outbox.get(message.id) is None
        ]
        if missing:
            for message in missing:
                ctx.outbox.add_message(message)
            done.append(str(body.get("batch")))
    return done
