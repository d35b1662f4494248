"""`candor alerts ...`: the partner's immediate alerts, chosen by the person and journaled.

`show` prints what is chosen, `on` / `off` choose (each choice is an `alerts_chosen` row: the
journal, not config.toml, says what is in force), and `preview` prints the exact words the
partner would get now, or a sample of each kind when nothing is waiting.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import datetime, timedelta

from agent.cli.console import UserError, out, usable_settings
from agent.config import Config, Home
from agent.journal import Journal, clock
from agent.journal.events import Heartbeat
from agent.journal.partner import partner_id
from reporter import alert_settings, alerts, consent, invitation
from reporter.alert_settings import AlertSettings
from reporter.delivery import alert_queue


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds `candor alerts`' actions."""
    actions = parser.add_subparsers(metavar="ACTION")
    p = actions.add_parser("show", help="what the partner's immediate alerts cover")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=cmd_show)
    p = actions.add_parser("on", help="send your partner short alerts soon after things happen")
    p.add_argument(
        "--only",
        choices=("weakened", "hard-moments"),
        help="only alerts when protection is weakened, or only for hard moments "
        "(default: both, or what was chosen before)",
    )
    p.add_argument(
        "--hard-moments",
        metavar="N/Mm",
        default=None,
        help="a hard moment: N blocked page visits within M minutes (default 5/10m)",
    )
    p.add_argument(
        "--quiet", metavar="HH:MM-HH:MM", help="your partner's quiet hours ('none': no quiet hours)"
    )
    p.add_argument(
        "--zone", metavar="ZONE", help="the quiet hours' time zone (default: the report's)"
    )
    p.set_defaults(handler=cmd_on)
    p = actions.add_parser("off", help="stop immediate alerts (the weekly report says so)")
    p.set_defaults(handler=cmd_off)
    p = actions.add_parser("preview", help="print the alert exactly as it would be sent now")
    p.set_defaults(handler=cmd_preview)


def _partner(journal: Journal) -> consent.ConsentState:
    state = consent.consent_state(journal)
    if state.partner_email is None or state.status in ("none", "revoked"):
        raise UserError(
            "There is no accountability partner to alert; run `candor init` to invite one."
        )
    return state


def settings_words(settings: AlertSettings) -> str:
    """What the alerts cover, in one plain sentence."""
    return alert_settings.describe(settings)


def cmd_show(home: Home, args: argparse.Namespace) -> int:
    """`candor alerts show`."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
        settings = alert_settings.settings_for(journal, partner_id(state.partner_email))
    if args.json:
        out.print_json(json.dumps(settings.as_json()))
        return 0
    out.print(settings_words(settings), markup=False)
    return 0


def _zone_name(config: Config) -> str:
    return str(getattr(config.report.zone(), "key", None) or "UTC")


def chosen(current: AlertSettings, args: argparse.Namespace, config: Config) -> AlertSettings:
    """The settings `candor alerts on ...` asks for, from those in force."""
    triggers = current.triggers if current.on else alert_settings.TRIGGERS
    if args.only == "weakened":
        triggers = ("weakened",)
    elif args.only == "hard-moments":
        triggers = ("hard_moment",)
    count, minutes = current.hard_count, current.hard_minutes
    if args.hard_moments:
        try:
            count, minutes = alert_settings.parse_hard(args.hard_moments)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    quiet = current.quiet
    if args.quiet is not None:
        quiet = None if args.quiet.lower() == "none" else args.quiet
        if quiet is not None and alert_settings.parse_quiet(quiet) is None:
            raise UserError(f"“{args.quiet}” is not a span of quiet hours: write e.g. 22:00-07:00")
    zone = args.zone or (current.zone if current.seq is not None else _zone_name(config))
    if alert_settings.zone_of(zone).key != zone:
        raise UserError(f"“{zone}” is not a time zone Candor knows (e.g. Europe/Berlin).")
    return AlertSettings(True, triggers, count, minutes, quiet, zone)


def _record(home: Home, args: argparse.Namespace, on: bool) -> int:
    config = usable_settings(home)
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = _partner(journal)
        partner = partner_id(state.partner_email)
        current = alert_settings.settings_for(journal, partner)
        wanted = chosen(current, args, config) if on else replace(current, on=False)
        change = alert_settings.compare(current, wanted)
        if change == "same":
            out.print(f"Nothing changed. {settings_words(current)}", markup=False)
            return 0
        journal.append(wanted.as_body(partner, change, by="candor alerts"))
    out.print(settings_words(wanted), markup=False)
    name = state.partner_name or "Your partner"
    if alert_settings.is_widening(change) and state.status == "confirmed":
        out.print(f"{name} gets a short signed note saying so with the next delivery pass.")
    elif state.status == "confirmed":
        out.print("This takes effect now; the next weekly report says so in plain words.")
    else:
        out.print(f"{name} will read this in the invitation before confirming.")
    return 0


def cmd_on(home: Home, args: argparse.Namespace) -> int:
    """`candor alerts on`."""
    return _record(home, args, on=True)


def cmd_off(home: Home, args: argparse.Namespace) -> int:
    """`candor alerts off`: takes effect at once."""
    return _record(home, args, on=False)


def samples(now_seq: int, now: datetime) -> list[alerts.Plan]:
    """One sample alert per trigger, for a preview when nothing is waiting."""
    at = now - timedelta(minutes=5)
    items = [
        alerts.Item("weakened", "agent_stopped", now_seq, at),
        alerts.Item("hard_moment", "blocked_visits", now_seq, at, count=5),
    ]
    return [alerts.Plan((item,), now_seq, now_seq, now_seq, now) for item in items]


def cmd_preview(home: Home, args: argparse.Namespace) -> int:
    """`candor alerts preview`: the exact words now, or a sample of each kind."""
    config = usable_settings(home)
    now = clock.now()
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = _partner(journal)
        config = consent.sending_config(state, config)
        settings = alert_settings.settings_for(journal, partner_id(state.partner_email))
        plan, _ = alert_queue.plan_now(journal, state, settings, now, Heartbeat.now)
        head = journal.head()
    person = invitation.person_name(config, state.person)
    out.print(settings_words(settings), markup=False)
    if state.status == "confirmed" and plan.items:
        wait = "" if plan.due(now) else f" (it waits until {plan.due_at.astimezone():%H:%M})"
        plans, lead = [plan], f"This alert would be sent now{wait}:"
    else:
        plans = [  # a sample of each kind chosen (of both while alerts are off)
            each
            for each in samples(head.seq if head else 0, now)
            if not settings.on or settings.covers(each.items[0].trigger)
        ]
        lead = "Nothing is waiting. Samples, at the level your partner agreed to:"
        if state.status != "confirmed":
            lead = "Nothing is sent before your partner confirms. Samples, at the level chosen:"
    out.print(lead, markup=False)
    for each in plans:
        words = alerts.words(
            each,
            person=person,
            partner=state.partner_name,
            device=config.device.name,
            level=state.level,
            zone=settings.zone,
            now=now,
        )
        out.print(f"\nSubject: {words.subject}\n\n{words.text}", markup=False)
    return 0
