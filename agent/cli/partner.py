"""`candor partner ...`: invite and confirm the partner, show, change, lower, renew or revoke.

Consent is the point: nothing is sent until the partner has confirmed with the code from their
invitation; revoking and lowering the level are immediate, and journaled.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from agent.cli import partner_channel, unlock
from agent.cli.consent import (
    LEVEL_HELP,
    check_email,
    check_name,
    consent_now,
    consent_text,
    sample_report,
)
from agent.cli.console import UserError, out, usable_settings
from agent.cli.prompts import ask, choose, confirm
from agent.config import DETAIL_LEVELS, Config, Home, editing_config, load_config, save_config
from agent.journal import Journal, clock
from agent.journal.partner import partner_id
from reporter import consent, invitation, signing, unlock_sheet
from reporter.alert_settings import describe, settings_for
from reporter.build import next_report
from reporter.channel import Channel, status_note
from reporter.delivery import messages, smtp, unlock_send
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import send_notice

YES_HELP = "I have read what this changes and agree (scripted use)"
"""The help of every `--yes`: it stands for the person's agreement, never a default."""


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor partner`."""
    partner = parser.add_subparsers(metavar="ACTION")
    p = partner.add_parser("invite", help="email the invitation and its confirmation code")
    p.set_defaults(handler=editing_config(cmd_partner_invite))
    p = partner.add_parser("confirm", help="type the code your partner gave you")
    p.add_argument("code", help="the code from your partner's confirmation")
    p.set_defaults(handler=editing_config(cmd_partner_confirm))
    p = partner.add_parser("show", help="who receives reports, and what they receive")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=cmd_partner_show)
    p = partner.add_parser("revoke", help="stop reporting now (your partner is told once)")
    p.add_argument("--yes", action="store_true", help=YES_HELP)
    p.set_defaults(handler=editing_config(cmd_partner_revoke))
    p = partner.add_parser("change", help="name a different partner (the current one is told)")
    p.add_argument("--partner-name", help="the new partner's name")
    p.add_argument("--partner-email", help="where the new partner's reports go")
    partner_channel.add_channel_options(p)
    p.add_argument("--yes", action="store_true", help=YES_HELP)
    p.set_defaults(handler=editing_config(cmd_partner_change))
    p = partner.add_parser("level", help="change how much the report shares")
    p.add_argument("level", choices=DETAIL_LEVELS, help="summary shares least, detailed most")
    p.add_argument("--yes", action="store_true", help=YES_HELP)
    p.set_defaults(handler=editing_config(cmd_partner_level))
    p = partner.add_parser("renew", help="keep sharing with your partner (asked every 90 days)")
    p.add_argument("--yes", action="store_true", help=YES_HELP)
    p.set_defaults(handler=editing_config(cmd_partner_renew))
    p = partner.add_parser("codes", help="send your partner a new sheet of unlock codes")
    p.set_defaults(handler=cmd_partner_codes)


def _key_facts(home: Home) -> tuple[str, str]:
    """(fingerprint, OpenSSH public key line) of this install's signing key."""
    return signing.fingerprint(home), signing.public_key_openssh(home)


def alert_words(home: Home, state: consent.ConsentState) -> str:
    """The immediate alerts the person chose for this partner, for the invitation."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        return describe(settings_for(journal, partner_id(state.partner_email)))


def cmd_partner_invite(home: Home, args: argparse.Namespace) -> int:
    """`candor partner invite`: email the invitation, the key fingerprint and a code."""
    config = load_config(home)
    state = consent_now(home)
    if state.status not in ("given", "confirmed") or not config.partner.email:
        raise UserError("Name your partner first, with `candor init`.")
    if (state.partner_email or "").lower() != config.partner.email.lower():
        raise UserError(
            f"config.toml names {config.partner.email}, but you agreed to report to "
            f"{state.partner_email}. Use `candor partner change` to name someone else."
        )
    moved = status_note(state.channel, state.status == "confirmed", config)
    if moved:
        raise UserError(moved)
    missing = smtp.smtp_ready(config.delivery.smtp)
    if missing:
        raise UserError(missing + "[delivery.smtp] in config.toml (see docs/delivery.md).")
    fingerprint, public_key = _key_facts(home)
    code = invitation.new_code()
    names = sorted(k for k, v in config.categories.items() if v.action != "off")
    now = clock.now()
    mail = invitation.invitation(
        config,
        now=now,
        person=state.person,
        code=code,
        fingerprint=fingerprint,
        public_key=public_key,
        categories=names,
        where=Channel.from_config(config).words(),
        alerts=alert_words(home, state),
    )
    msg = messages.invitation_email(
        config,
        mail,
        to=config.partner.email,
        public_key=public_key,
        public_key_pem=signing.public_key_pem(home),
        now=now,
    )
    invitation.remember_code(home, config.partner.email, code, now)
    try:
        smtp.send(config.delivery.smtp, msg.as_bytes(), [config.partner.email])
    except smtp.DeliveryError as exc:
        invitation.forget_code(home)
        raise UserError(f"The invitation was not sent. {exc}") from None
    config.partner.invited_at = now
    save_config(home, config)
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(
            journal,
            "invited",
            name=state.partner_name,
            email=state.partner_email,
            level=state.level,
            channel=invited_channel(config).as_body(),
        )
    who = config.partner.name or config.partner.email
    out.print(f"Invitation sent to {who} <{config.partner.email}>.", markup=False)
    out.print(
        f"Your signing key's fingerprint is {fingerprint}; check that {who} sees the same.",
        markup=False,
    )
    out.print(f"When {who} tells you the code, run: candor partner confirm CODE", markup=False)
    return 0


def invited_channel(config: Config) -> Channel:
    """The channel the invitation went out on, journaled with it (the password only hashed)."""
    try:
        password = smtp.read_password(config.delivery.smtp)
    except smtp.DeliveryError:
        password = None
    return Channel.from_config(config, password)


def cmd_partner_confirm(home: Home, args: argparse.Namespace) -> int:
    """`candor partner confirm CODE`: the code the partner read back; reports start."""
    config = load_config(home)
    state = consent_now(home)
    if state.status == "confirmed":
        out.print(f"{state.partner_name} has already confirmed; reports are on.", markup=False)
        return 0
    if state.status != "given" or not config.partner.email:
        raise UserError("There is no invitation to confirm: run `candor init`, then invite.")
    if not invitation.invitation_pending(home):
        raise UserError("No invitation has been sent yet: run `candor partner invite`.")
    if not invitation.code_matches(home, config.partner.email, args.code):
        raise UserError(
            f"That code does not match the invitation sent to {config.partner.email}. Check it "
            "with your partner, or send a new invitation with `candor partner invite`."
        )
    now = clock.now()
    config.partner.confirmed_at = now
    save_config(home, config)
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(
            journal,
            "confirmed",
            name=state.partner_name,
            email=state.partner_email,
            level=state.level,
            channel=(state.channel or invited_channel(config)).as_body(),
        )
    invitation.forget_code(home)
    first, check_by = invitation.first_report_words(config, now)
    who = config.partner.name or config.partner.email
    out.print(
        f"Confirmed. {who} will receive a report every {config.report.day.capitalize()}; the "
        f"first is due {first}. If it has not come by {check_by}, {who} may check in with you.",
        markup=False,
    )
    out.print(unlock.sheet_sentence(home, "confirmed"), markup=False)
    return 0


def cmd_partner_show(home: Home, args: argparse.Namespace) -> int:
    """`candor partner show`: who receives reports, what they share, what is due."""
    config = usable_settings(home)
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        state = consent.consent_state(journal)
        last = [r for r in outbox.rows("sent") if r.kind == "report"]
        sheet = unlock_sheet.current_sheet(journal, partner_id(state.partner_email))
    now = clock.now()
    level = consent.effective_level(state, config) if state.status != "none" else None
    facts: dict[str, Any] = {
        **state.as_json(),
        "effective_level": level,
        "renewal_due": state.renewal_due(now),
        "reports_on": consent.may_report(state, consent.sending_config(state, config)),
        "channel_ignored": status_note(state.channel, state.status == "confirmed", config),
        "next_report_due": None,
        "last_report_sent_at": last[-1].sent_at.isoformat() if last and last[-1].sent_at else None,
        "unlock_sheet": None
        if sheet is None
        else {"sheet": sheet.number, "codes": len(sheet.hashes), "used": sorted(sheet.used)},
    }
    if state.status == "confirmed" and state.confirmed_at:
        with Journal(home.journal_file, clock=clock.now) as journal:
            upcoming = next_report(journal, config, state, now)
        facts["next_report_due"] = upcoming.period.end.isoformat()
    if args.json:
        out.print_json(json.dumps(facts))
        return 0
    if state.status == "none":
        out.print("No partner yet. Run `candor init` to name one.")
        return 0
    who = f"{state.partner_name} <{state.partner_email}>"
    words = {
        "given": "named; waiting for their confirmation code",
        "confirmed": "confirmed; weekly reports are on",
        "revoked": "reporting stopped",
    }[state.status]
    out.print(f"Partner: {who} ({words})", markup=False)
    out.print(f"Shares: {level} — {LEVEL_HELP.get(level or '', '')}", markup=False)
    if state.channel is not None:
        out.print(f"Reports go by: {state.channel.words()}", markup=False)
    if facts["channel_ignored"]:
        out.print(facts["channel_ignored"], markup=False)
    if sheet is not None and state.status == "confirmed":
        used = f"{len(sheet.used)} of {len(sheet.hashes)} used"
        out.print(f"Unlock codes: sheet {sheet.number} ({used}); `candor partner codes` sends a "
                  "new one", markup=False)  # fmt: skip
    if state.renewed_at:
        out.print(f"Consent last given or renewed: {state.renewed_at:%d %B %Y}")
    if facts["renewal_due"]:
        out.print(
            "It has been 90 days: keep sharing? Run `candor partner renew`, or change or "
            "stop with `candor partner level` / `candor partner revoke`."
        )
    if facts["next_report_due"]:
        due = datetime.fromisoformat(facts["next_report_due"])
        out.print(f"Next report due: {due.astimezone(config.report.zone()):%A %d %B %H:%M}")
    return 0


def cmd_partner_revoke(home: Home, args: argparse.Namespace) -> int:
    """`candor partner revoke`: stop reporting at once; the partner is told once."""
    config = load_config(home)
    state = consent_now(home)
    if state.status not in ("given", "confirmed"):
        out.print("Reporting is not on; there is nothing to stop.")
        return 0
    who = state.partner_name or state.partner_email
    if not confirm(f"Stop all reports to {who} now?", args.yes):
        out.print("Nothing changed.")
        return 1
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        consent.record(
            journal,
            "revoked",
            name=state.partner_name,
            email=state.partner_email,
            level=state.level,
        )
        cancelled = outbox.cancel_reports()
        unlock_send.void_for_revocation(journal, outbox, state.partner_email)
    invitation.forget_code(home)
    config.partner.confirmed_at = None
    config.partner.invited_at = None
    save_config(home, config)
    out.print(f"Reporting to {who} has stopped.", markup=False)
    if cancelled:
        out.print(f"{cancelled} unsent report message(s) were withdrawn.")
    if state.status == "confirmed" and state.partner_email:
        sent = send_notice(home, "reporting_ended", queue_failed=True)
        out.print(
            f"{who} {'has been' if sent else 'will be'} sent one short note saying that "
            "reporting has ended.",
            markup=False,
        )
    return 0


def cmd_partner_change(home: Home, args: argparse.Namespace) -> int:
    """`candor partner change`: name someone else, or move reports to a new mail server or
    webhook, after a sample and fresh consent; the former channel is told."""
    config = load_config(home)
    state = consent_now(home)
    yes = bool(args.yes)
    keep = partner_channel.moving(args, state, config)
    same_name = (config.partner.name or state.partner_name) if keep else None
    same_email = (config.partner.email or state.partner_email) if keep else None
    name = choose(args.partner_name, "New partner's name", same_name, yes, check_name)
    email = choose(args.partner_email, "New partner's email", same_email, yes, check_email)
    level = consent.effective_level(state, config) if state.status != "none" else "summary"
    new = partner_channel.new_channel_config(config, args)
    new.partner.name, new.partner.email = name, email
    new.partner.invited_at = new.partner.confirmed_at = None
    same_partner = bool(state.partner_email) and state.partner_email.lower() == email.lower()
    if same_partner and state.status != "revoked" and partner_channel.same_channel(state, new):
        raise UserError(f"{email} is already your partner, and reports already go there.")
    out.print(f"\n[bold]This is what {name} would receive[/bold]:\n")
    out.print(sample_report(home, new, level), markup=False)
    text = consent_text(new, level, name, email)
    out.print("\n" + text + "\n", markup=False)
    out.print(f"Reports would go by: {Channel.from_config(new).words()}", markup=False)
    if not yes:
        typed = ask(f"To agree, type {name}'s name (or press Enter to stop)", "")
        if typed.strip().lower() != name.strip().lower():
            out.print("Nothing was changed.")
            return 1
    now = clock.now()
    previous: dict[str, Any] = {"name": state.partner_name, "email": state.partner_email}
    if state.channel is not None:
        previous["channel"] = state.channel.as_body()
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        consent.record(
            journal,
            "partner_changed",
            name=name,
            email=email,
            level=level,
            previous=previous,
            text_sha256=consent.text_digest(text),
            channel=Channel.from_config(new).as_body(),
        )
        outbox.cancel_reports()
    invitation.forget_code(home)
    save_config(home, new)
    out.print(f"{name} <{email}> is now your partner; run `candor partner invite`.", markup=False)
    if state.status == "confirmed" and state.partner_email:
        how = partner_channel.tell_former_channel(home, config, state, new, now)
        old = state.partner_name or state.partner_email
        out.print(f"{old} {'has been' if how == 'sent' else 'will be'} told.", markup=False)
    return 0


def cmd_partner_level(home: Home, args: argparse.Namespace) -> int:
    """`candor partner level L`: share less at once, or more after fresh consent."""
    config = load_config(home)
    state = consent_now(home)
    level = args.level
    if state.status in ("none", "revoked"):
        config.detail_level = level
        save_config(home, config)
        out.print(f"Detail level set to {level}. Nothing is shared until you name a partner.")
        return 0
    current = consent.effective_level(state, config)
    if level == current:
        out.print(f"Reports already share: {level}.")
        return 0
    lowering = consent.level_rank(level) < consent.level_rank(current)
    text = ""
    if not lowering:
        out.print(f"\n[bold]This is what your partner would receive at {level}[/bold]:\n")
        out.print(sample_report(home, config, level, state), markup=False)
        text = consent_text(config, level, state.partner_name or "", state.partner_email or "")
        out.print("\n" + text + "\n", markup=False)
        if not confirm(f"Share more ({level}) with {state.partner_name}?", args.yes):
            out.print("Nothing changed.")
            return 1
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        extra = {"text_sha256": consent.text_digest(text)} if text else {}
        consent.record(
            journal,
            "lowered" if lowering else "raised",
            name=state.partner_name,
            email=state.partner_email,
            level=level,
            **extra,
        )
        withdrawn = outbox.withdraw_above(level) if lowering else []
    config.detail_level = level
    save_config(home, config)
    out.print(f"Reports now share: {level}. This took effect at once.")
    if withdrawn:
        out.print(f"Unsent reports rebuilt at the new level: {', '.join(withdrawn)}.")
    return 0


def cmd_partner_renew(home: Home, args: argparse.Namespace) -> int:
    """`candor partner renew`: keep sharing (asked every 90 days)."""
    config = load_config(home)
    state = consent_now(home)
    if state.status not in ("given", "confirmed"):
        raise UserError("There is no partner to renew: run `candor init`.")
    level = consent.effective_level(state, config)
    question = f"Keep sharing {level} reports with {state.partner_name} <{state.partner_email}>?"
    if not confirm(question, args.yes):
        out.print("Nothing changed. To stop, run `candor partner revoke`.")
        return 1
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(
            journal, "renewed", name=state.partner_name, email=state.partner_email, level=level
        )
    out.print("Thank you. Candor will ask again in 90 days.")
    return 0


def cmd_partner_codes(home: Home, args: argparse.Namespace) -> int:
    """`candor partner codes`: a new sheet of unlock codes for the partner; the old one is void."""
    state = consent_now(home)
    if state.status != "confirmed":
        raise UserError(
            "Unlock codes go to a confirmed partner: invite and confirm one first "
            "(`candor partner invite`, then `candor partner confirm CODE`)."
        )
    try:
        number, replaced, delivered = unlock.issue_and_send(home, "asked")
    except unlock_send.NoPartnerForCodes as exc:
        raise UserError(str(exc)) from None
    old = f" Sheet {replaced} no longer works." if replaced else ""
    how = "has been sent to" if delivered else "is queued for"
    who = state.partner_name or state.partner_email
    out.print(f"Sheet {number} of unlock codes {how} {who}.{old}", markup=False)
    return 0
