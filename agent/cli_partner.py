"""`candor init`, `candor partner …`, `candor report send-due|list` and `candor delivery test`.

Consent is the point of these commands. `init` is run by the device owner, interactively (flags
exist for scripted setup and tests, never to skip a step that protects someone): it shows a
sample report at the chosen level before asking for consent, and journals what was agreed.
Nothing is sent to the partner until they have confirmed with the code from their invitation;
revoking and lowering the level are immediate, and journaled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.table import Table

from agent import clock
from agent.config import (
    DETAIL_LEVELS,
    WEEKDAYS,
    CategorySettings,
    Config,
    ConfigError,
    Home,
    format_duration,
    load_config,
    parse_duration,
    save_config,
)
from agent.console import UserError, command_group, out
from agent.journal import Journal
from agent.rulebook import categories_on_disk
from reporter import consent, invitation, notice, schedule, signing, smtp, webhook
from reporter.consent import ConsentState
from reporter.outbox import Outbox
from reporter.sender import Sender, describe

ACTIONS = ("block", "warn", "log", "off")
SUGGESTED_COOLING_OFF = "24h"

LEVEL_HELP = {
    "summary": "counts per category and action, per day and hour of the day "
    "(the default: the least that works)",
    "domains": "the summary, plus the names of blocked and flagged websites",
    "detailed": "the summary and websites, plus the time of each event and search terms. "
    "This can reveal very personal things; choose it only if you are sure",
}


# -- registration ---------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="set up Candor and your accountability partner")
    p.add_argument("--your-name", help="how your partner knows you (used in the invitation)")
    p.add_argument("--partner-name")
    p.add_argument("--partner-email")
    p.add_argument("--detail-level", choices=DETAIL_LEVELS)
    p.add_argument("--device-name")
    p.add_argument("--report-day", choices=WEEKDAYS)
    p.add_argument("--report-time", metavar="HH:MM")
    p.add_argument("--cooling-off", metavar="DURATION", help=f"suggested: {SUGGESTED_COOLING_OFF}")
    p.add_argument(
        "--categories", nargs="+", metavar="NAME[=ACTION]", help="e.g. adult gambling=warn"
    )
    p.add_argument(
        "--yes", action="store_true", help="I have read the sample and agree (scripted setup)"
    )
    p.set_defaults(handler=cmd_init)

    partner = command_group(sub, "partner", "your accountability partner and consent")
    p = partner.add_parser("invite", help="email the invitation and its confirmation code")
    p.set_defaults(handler=cmd_partner_invite)
    p = partner.add_parser("confirm", help="type the code your partner gave you")
    p.add_argument("code")
    p.set_defaults(handler=cmd_partner_confirm)
    p = partner.add_parser("show", help="who receives reports, and what they receive")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_partner_show)
    p = partner.add_parser("revoke", help="stop reporting now (your partner is told once)")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(handler=cmd_partner_revoke)
    p = partner.add_parser("change", help="name a different partner (the current one is told)")
    p.add_argument("--partner-name")
    p.add_argument("--partner-email")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(handler=cmd_partner_change)
    p = partner.add_parser("level", help="change how much the report shares")
    p.add_argument("level", choices=DETAIL_LEVELS)
    p.add_argument("--yes", action="store_true")
    p.set_defaults(handler=cmd_partner_level)
    p = partner.add_parser("renew", help="keep sharing with your partner (asked every 90 days)")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(handler=cmd_partner_renew)

    report = command_group(sub, "report", "weekly reports")
    p = report.add_parser("send-due", help="build and send every report that is due")
    p.add_argument("--retry", action="store_true", help="also retry deliveries that had stopped")
    p.set_defaults(handler=cmd_report_send_due)
    p = report.add_parser("list", help="reports built and their delivery state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_report_list)

    delivery = command_group(sub, "delivery", "email and webhook delivery")
    p = delivery.add_parser("test", help="send a test message (to you, not your partner)")
    p.add_argument("--to", metavar="ADDRESS", help="default: your sender address")
    p.set_defaults(handler=cmd_delivery_test)


# -- small helpers --------------------------------------------------------------------------


def _ask(prompt: str, default: str | None = None) -> str:
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    try:
        answer = input(shown).strip()
    except EOFError:
        raise UserError(f"{prompt}: no answer (run candor init in a terminal)") from None
    if not answer and default is not None:
        return default
    if not answer:
        raise UserError(f"{prompt}: an answer is needed.")
    return answer


def _choose(
    value: str | None, prompt: str, default: str | None, yes: bool, check: Callable[[str], Any]
) -> str:
    """A flag wins; with --yes the default is taken; otherwise ask until the answer is valid."""
    if value is not None:
        _validate(check, value)
        return value
    if yes:
        if default is None:
            raise UserError(f"{prompt}: give it as an option when using --yes.")
        return default
    while True:
        answer = _ask(prompt, default)
        try:
            _validate(check, answer)
        except UserError as exc:
            out.print(str(exc), markup=False)
            continue
        return answer


def _validate(check: Callable[[str], Any], value: str) -> None:
    try:
        check(value)
    except (ValueError, ConfigError) as exc:
        raise UserError(str(exc)) from None


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    return _ask(f"{question} (yes/no)", "no").lower() in ("y", "yes")


def _open(home: Home) -> tuple[Journal, Outbox]:
    journal = Journal(home.journal_file, clock=clock.now)
    return journal, Outbox(journal)


def _state(home: Home) -> ConsentState:
    with Journal(home.journal_file, clock=clock.now) as journal:
        return consent.consent_state(journal)


def _check_email(value: str) -> None:
    Config.model_validate({"partner": {"email": value}})


def _check_name(value: str) -> None:
    if not value.strip() or len(value) > 100:
        raise ValueError("the name must be 1 to 100 characters")


def _check_time(value: str) -> None:
    Config.model_validate({"report": {"time": value}})


def _check_device(value: str) -> None:
    Config.model_validate({"device": {"name": value}})


def _check_categories(values: list[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for item in values:
        name, _, action = item.partition("=")
        action = action or "block"
        if action not in ACTIONS:
            raise UserError(f"{item}: the action must be one of {', '.join(ACTIONS)}.")
        try:
            CategorySettings(action=action)
            Config.model_validate({"categories": {name: {"action": action}}})
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        except ValueError:
            raise UserError(
                f"{name}: a category name is lower-case letters, digits, '-' and '_'."
            ) from None
        chosen[name] = action
    return chosen


# -- the sample report ----------------------------------------------------------------------


def sample_report(home: Home, config: Config, level: str) -> str:
    """This week's report as it would be built now, at `level`: the real thing when the report
    builder is installed, else a plain description of the same contents."""
    shared = config.model_copy(update={"detail_level": level})
    now = clock.now()
    try:
        from reporter.build import build_report
    except ImportError:
        return _described_sample(shared)
    week = schedule.week_of(now, config.report.zone())
    with Journal(home.journal_file, clock=clock.now) as journal:
        built = build_report(home, shared, journal, week, seq=0, prev_report_hash=None, now=now)
    return str(built.text)


def _described_sample(config: Config) -> str:
    lines = [
        f"Weekly report for {config.device.name} (example)",
        "",
        "Blocked or flagged this week, per category: adult 3 (block), gambling 0 (block)",
        "By day: Mon 0, Tue 2, Wed 0, Thu 1, Fri 0, Sat 0, Sun 0",
        "By hour of day: most between 22:00 and 01:00",
        "Days in a row without a block: 2; last week: 5 blocks",
    ]
    if config.detail_level in ("domains", "detailed"):
        lines.append("Websites: example-adult-site.com (2), another.example (1)")
    if config.detail_level == "detailed":
        lines.append("Events: Tue 23:14 example-adult-site.com; searches: (terms, if any)")
    lines += [
        "",
        "Integrity: Candor watched 97% of the time the computer was awake; one gap (asleep);",
        "no rules loosened; nothing looked like getting around the filter; journal intact.",
    ]
    return "\n".join(lines)


def _consent_text(config: Config, level: str, partner_name: str, partner_email: str) -> str:
    day = config.report.day.capitalize()
    return (
        f"You are asking {partner_name} <{partner_email}> to receive a weekly report from "
        f'"{config.device.name}", every {day} at {config.report.time:%H:%M}, showing: '
        f"{LEVEL_HELP[level]}. Every report also has an integrity section (coverage, gaps, "
        "loosened rules, bypass attempts). The sample above is what it looks like. You can see "
        "every report before and after it goes (`candor report preview`, `candor report "
        "list`). You can lower the level or stop at any time, at once, with `candor partner "
        "level` or `candor partner revoke`; if you stop, your partner gets one short email "
        "saying reporting has ended. Nothing is sent until your partner gives you the code "
        "from their invitation."
    )


# -- init -----------------------------------------------------------------------------------


def cmd_init(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
    yes = bool(args.yes)
    out.print("[bold]Setting up Candor[/bold]: a filter you choose, and an honest weekly summary")
    out.print("for one person you trust. Run this yourself, on your own computer.\n")

    # 1. categories and actions
    present = sorted(set(categories_on_disk(home)) | set(config.categories))
    if args.categories:
        chosen = _check_categories(args.categories)
    elif yes:
        chosen = {name: config.categories[name].action for name in config.categories}
    else:
        out.print(
            "Categories (block: a block page; warn: a page you can click through; "
            "log: allowed and counted; off):"
        )
        chosen = {}
        for name in present:
            current = config.categories[name].action if name in config.categories else "block"
            chosen[name] = _choose(None, f"  {name}", current, False, _action_check)
    categories = dict(config.categories)
    for name, action in chosen.items():
        categories[name] = CategorySettings(action=action)

    # 2. the partner
    person = args.your_name
    if person is None and not yes:
        person = _ask("Your first name, as your partner knows you", state.person or "")
    person = (person or state.person or "").strip() or None
    name = _choose(args.partner_name, "Your partner's name", config.partner.name, yes, _check_name)
    email = _choose(
        args.partner_email, "Your partner's email", config.partner.email, yes, _check_email
    )
    if state.status in ("given", "confirmed") and (state.partner_email or "").lower() != (
        email.lower()
    ):
        raise UserError(
            f"You already named {state.partner_name} <{state.partner_email}> as your partner; "
            "use `candor partner change` to name someone else (they will be told)."
        )

    # 3. how much to share
    if not args.detail_level and not yes:
        out.print("\nHow much should the report share?")
        for level, words in LEVEL_HELP.items():
            out.print(f"  {level}: {words}", markup=False)
    level = _choose(
        args.detail_level,
        "Detail level",
        config.detail_level,
        yes,
        lambda v: v in DETAIL_LEVELS or _raise("choose summary, domains or detailed"),
    )
    if level == "detailed" and not args.detail_level and not yes:
        out.print(
            "[bold]Detailed[/bold] reports can reveal very personal things (health, sex "
            "life). Your partner will see them."
        )

    # 4–6. device, schedule, cooling-off
    device = _choose(
        args.device_name, "Name of this computer in reports", config.device.name, yes, _check_device
    )
    day = _choose(
        args.report_day,
        "Report day",
        config.report.day,
        yes,
        lambda v: v in WEEKDAYS or _raise("write a day like sunday"),
    )
    time_text = _choose(
        args.report_time, "Report time (HH:MM)", f"{config.report.time:%H:%M}", yes, _check_time
    )
    current_delay = format_duration(config.cooling_off)
    if not args.cooling_off and not yes:
        out.print(
            "\nA cooling-off delay makes loosening (removing a rule, allowing a site) wait "
            "before it takes effect; tightening is always immediate."
        )
    delay_default = current_delay if config.cooling_off else SUGGESTED_COOLING_OFF
    delay_text = _choose(args.cooling_off, "Cooling-off delay", delay_default, yes, parse_duration)
    delay = parse_duration(delay_text)
    if delay < config.cooling_off:
        raise UserError(
            f"Shortening the cooling-off delay (now {current_delay}) is a loosening change; "
            "change cooling_off in config.toml and it will take effect after the current delay."
        )

    new = config.model_copy(deep=True)
    new.categories = categories
    new.detail_level = level  # type: ignore[assignment]
    new.cooling_off = delay
    new.device.name = device
    new.report.day = day  # type: ignore[assignment]
    new.report.time = time_text  # type: ignore[assignment]
    if (config.partner.email or "").lower() != email.lower():
        new.partner.invited_at = None
        new.partner.confirmed_at = None
    new.partner.name = name
    new.partner.email = email

    # the sample, then consent
    out.print(
        f"\n[bold]This is what {name} would receive[/bold] (a sample of this week, at the "
        f'"{level}" level):\n'
    )
    out.print(sample_report(home, new, level), markup=False)
    text = _consent_text(new, level, name, email)
    out.print("\n" + text + "\n", markup=False)
    typed = None
    if not yes:
        typed = _ask(f"To agree, type {name}'s name (or press Enter to stop)", "")
        if typed.strip().lower() != name.strip().lower():
            out.print("Nothing was changed and nothing will be sent.")
            return 1
    save_config(home, new)
    with Journal(home.journal_file, clock=clock.now) as journal:
        what = {
            "categories": {k: v.action for k, v in sorted(new.categories.items())},
            "report": {"day": day, "time": f"{new.report.time:%H:%M}"},
            "device": device,
            "cooling_off": format_duration(delay),
            "text_sha256": consent.text_digest(text),
            "typed_confirmation": typed is not None,
        }
        if state.status == "confirmed":
            change = "renewed"
            if consent.level_rank(level) < consent.level_rank(state.level):
                change = "lowered"
            elif consent.level_rank(level) > consent.level_rank(state.level):
                change = "raised"
            consent.record(journal, change, name=name, email=email, level=level, **what)  # type: ignore[arg-type]
        else:
            consent.record(
                journal, "given", name=name, email=email, level=level, person=person, **what
            )
    out.print(f"Saved. Consent recorded: reports to {name} at the {level} level.", markup=False)
    if state.status == "confirmed":
        return 0
    if smtp.smtp_ready(new.delivery.smtp):
        out.print(
            "Next: set up email under [delivery.smtp] in config.toml (see docs/delivery.md),"
            " then run `candor partner invite`.",
            markup=False,
        )
    else:
        out.print("Next: run `candor partner invite` to email the invitation.")
    return 0


def _action_check(value: str) -> None:
    if value not in ACTIONS:
        raise ValueError(f"choose one of {', '.join(ACTIONS)}")


def _raise(message: str) -> bool:
    raise ValueError(message)


# -- partner --------------------------------------------------------------------------------


def _key_facts(home: Home) -> tuple[str, str]:
    """(fingerprint, OpenSSH public key line) of this install's signing key."""
    return signing.fingerprint(home), signing.public_key_openssh(home)


def cmd_partner_invite(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
    if state.status not in ("given", "confirmed") or not config.partner.email:
        raise UserError("Name your partner first, with `candor init`.")
    if (state.partner_email or "").lower() != config.partner.email.lower():
        raise UserError(
            f"config.toml names {config.partner.email}, but you agreed to report to "
            f"{state.partner_email}. Use `candor partner change` to name someone else."
        )
    missing = smtp.smtp_ready(config.delivery.smtp)
    if missing:
        raise UserError(missing + "[delivery.smtp] in config.toml (see docs/delivery.md).")
    fingerprint, public_key = _key_facts(home)
    code = invitation.new_code()
    names = sorted(k for k, v in config.categories.items() if v.action != "off")
    mail = invitation.invitation(
        config,
        person=state.person,
        code=code,
        fingerprint=fingerprint,
        public_key=public_key,
        categories=names,
    )
    now = clock.now()
    msg = smtp.new_message(
        sender=smtp.sender_address(config.delivery.smtp),
        to=config.partner.email,
        subject=mail.subject,
        message_id=smtp.message_id(f"candor-invitation-{now:%Y%m%d%H%M%S}"),
        text=mail.text,
        html=mail.html,
        date=now.timestamp(),
    )
    msg.add_attachment(
        public_key.encode() + b"\n",
        maintype="text",
        subtype="plain",
        filename=invitation.key_attachment_name(),
    )
    msg.add_attachment(
        signing.public_key_pem(home).encode(),
        maintype="application",
        subtype="x-pem-file",
        filename=invitation.pem_attachment_name(),
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
        )
    who = config.partner.name or config.partner.email
    out.print(f"Invitation sent to {who} <{config.partner.email}>.", markup=False)
    out.print(
        f"Your signing key's fingerprint is {fingerprint}; check that {who} sees the same.",
        markup=False,
    )
    out.print(f"When {who} tells you the code, run: candor partner confirm CODE", markup=False)
    return 0


def cmd_partner_confirm(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
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
        )
    invitation.forget_code(home)
    due = schedule.next_due(now, config.report, since=now)
    out.print(
        f"Confirmed. {config.partner.name or config.partner.email} will receive a report every "
        f"{config.report.day.capitalize()}; the first is due {due:%A %d %B at %H:%M}.",
        markup=False,
    )
    return 0


def cmd_partner_show(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    journal, outbox = _open(home)
    try:
        state = consent.consent_state(journal)
        last = [r for r in outbox.rows("sent") if r.kind == "report"]
    finally:
        outbox.close()
        journal.close()
    now = clock.now()
    level = consent.effective_level(state, config) if state.status != "none" else None
    facts: dict[str, Any] = {
        **state.as_json(),
        "effective_level": level,
        "renewal_due": state.renewal_due(now),
        "reports_on": consent.may_report(state, config),
        "next_report_due": None,
        "last_report_sent_at": last[-1].sent_at.isoformat() if last and last[-1].sent_at else None,
    }
    if state.status == "confirmed" and state.confirmed_at:
        facts["next_report_due"] = schedule.next_due(
            now, config.report, since=state.confirmed_at
        ).isoformat()
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


def _notice(home: Home, config: Config, mail: Any, *, to: str, key: str) -> str:
    """Queue a notice and try to send it now; the agent keeps trying if that fails."""
    with Sender(home) as sender:
        sender.queue_notice(config, mail, to=to, key=key)
        result = sender.deliver(config)
    if any(row.kind == "notice" for row in result.sent):
        return "sent"
    return "queued"


def cmd_partner_revoke(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
    if state.status not in ("given", "confirmed"):
        out.print("Reporting is not on; there is nothing to stop.")
        return 0
    who = state.partner_name or state.partner_email
    if not _confirm(f"Stop all reports to {who} now?", args.yes):
        out.print("Nothing changed.")
        return 1
    journal, outbox = _open(home)
    try:
        consent.record(
            journal,
            "revoked",
            name=state.partner_name,
            email=state.partner_email,
            level=state.level,
        )
        cancelled = outbox.cancel_reports()
    finally:
        outbox.close()
        journal.close()
    invitation.forget_code(home)
    config.partner.confirmed_at = None
    config.partner.invited_at = None
    save_config(home, config)
    out.print(f"Reporting to {who} has stopped.", markup=False)
    if cancelled:
        out.print(f"{cancelled} unsent report message(s) were withdrawn.")
    if state.status == "confirmed" and state.partner_email:
        sent = notice.send_notice(home, "reporting_ended", queue_failed=True)
        out.print(
            f"{who} {'has been' if sent else 'will be'} sent one short note saying that "
            "reporting has ended.",
            markup=False,
        )
    return 0


def cmd_partner_change(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
    yes = bool(args.yes)
    name = _choose(args.partner_name, "New partner's name", None, yes, _check_name)
    email = _choose(args.partner_email, "New partner's email", None, yes, _check_email)
    if (
        state.partner_email
        and state.status != "revoked"
        and (state.partner_email.lower() == email.lower())
    ):
        raise UserError(f"{email} is already your partner.")
    level = consent.effective_level(state, config) if state.status != "none" else "summary"
    new = config.model_copy(deep=True)
    new.partner.name, new.partner.email = name, email
    new.partner.invited_at = new.partner.confirmed_at = None
    out.print(f"\n[bold]This is what {name} would receive[/bold]:\n")
    out.print(sample_report(home, new, level), markup=False)
    text = _consent_text(new, level, name, email)
    out.print("\n" + text + "\n", markup=False)
    if not yes:
        typed = _ask(f"To agree, type {name}'s name (or press Enter to stop)", "")
        if typed.strip().lower() != name.strip().lower():
            out.print("Nothing was changed.")
            return 1
    now = clock.now()
    journal, outbox = _open(home)
    try:
        consent.record(
            journal,
            "partner_changed",
            name=name,
            email=email,
            level=level,
            previous={"name": state.partner_name, "email": state.partner_email},
            text_sha256=consent.text_digest(text),
        )
        outbox.cancel_reports()
    finally:
        outbox.close()
        journal.close()
    invitation.forget_code(home)
    save_config(home, new)
    out.print(f"{name} <{email}> is now your partner; run `candor partner invite`.", markup=False)
    if state.status == "confirmed" and state.partner_email:
        mail = invitation.no_longer_partner(
            config, person=state.person, when=now, name=state.partner_name
        )
        how = _notice(home, new, mail, to=state.partner_email, key=f"changed-{now:%Y%m%dT%H%M%S}")
        old = state.partner_name or state.partner_email
        out.print(f"{old} {'has been' if how == 'sent' else 'will be'} told.", markup=False)
    return 0


def cmd_partner_level(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
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
        out.print(sample_report(home, config, level), markup=False)
        text = _consent_text(config, level, state.partner_name or "", state.partner_email or "")
        out.print("\n" + text + "\n", markup=False)
        if not _confirm(f"Share more ({level}) with {state.partner_name}?", args.yes):
            out.print("Nothing changed.")
            return 1
    journal, outbox = _open(home)
    try:
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
    finally:
        outbox.close()
        journal.close()
    config.detail_level = level
    save_config(home, config)
    out.print(f"Reports now share: {level}. This took effect at once.")
    if withdrawn:
        out.print(f"Unsent reports rebuilt at the new level: {', '.join(withdrawn)}.")
    return 0


def cmd_partner_renew(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    state = _state(home)
    if state.status not in ("given", "confirmed"):
        raise UserError("There is no partner to renew: run `candor init`.")
    level = consent.effective_level(state, config)
    question = f"Keep sharing {level} reports with {state.partner_name} <{state.partner_email}>?"
    if not _confirm(question, args.yes):
        out.print("Nothing changed. To stop, run `candor partner revoke`.")
        return 1
    with Journal(home.journal_file, clock=clock.now) as journal:
        consent.record(
            journal, "renewed", name=state.partner_name, email=state.partner_email, level=level
        )
    out.print("Thank you. Candor will ask again in 90 days.")
    return 0


# -- reports and delivery -------------------------------------------------------------------


def cmd_report_send_due(home: Home, args: argparse.Namespace) -> int:
    with Sender(home) as sender:
        if args.retry:
            sender.outbox.retry_failed()
        result = sender.run_once()
    lines = describe(result)
    for line in lines or ["Nothing is due."]:
        out.print(line, markup=False)
    if any(permanent for _, _, permanent in result.failed):
        raise UserError(
            "A delivery stopped and needs you: see above, then run `candor "
            "delivery test` and `candor report send-due --retry`."
        )
    return 0


def cmd_report_list(home: Home, args: argparse.Namespace) -> int:
    journal, outbox = _open(home)
    try:
        reports = outbox.reports()
        rows = outbox.rows()
    finally:
        outbox.close()
        journal.close()
    by_seq: dict[int, list[Any]] = {}
    for row in rows:
        if row.report_seq is not None:
            by_seq.setdefault(row.report_seq, []).append(row)
    if args.json:
        doc = {
            "reports": [
                {
                    "seq": r.seq,
                    "week": r.week,
                    "hash": r.hash,
                    "prev_hash": r.prev_hash,
                    "detail_level": r.detail_level,
                    "needs_attention": r.needs_attention,
                    "late_reason": r.late_reason,
                    "due_at": r.due_at.isoformat(),
                    "generated_at": r.generated_at.isoformat(),
                    "deliveries": [_row_json(x) for x in by_seq.get(r.seq, [])],
                }
                for r in reports
            ],
            "notices": [_row_json(x) for x in rows if x.report_seq is None],
        }
        out.print_json(json.dumps(doc))
        return 0
    if not reports and not rows:
        out.print("No reports yet.")
        return 0
    table = Table(show_header=True)
    for column in ("#", "week", "level", "built", "delivery"):
        table.add_column(column)
    for r in reports:
        states = "; ".join(_row_words(x, r.due_at) for x in by_seq.get(r.seq, [])) or "nowhere"
        built = f"{r.generated_at:%d %b %H:%M}" + (" (late)" if r.late_reason else "")
        table.add_row(str(r.seq), r.week, r.detail_level, built, states)
    out.print(table)
    for row in rows:
        if row.report_seq is None:
            out.print(f"{row.subject}: {_row_words(row, None)}", markup=False)
    return 0


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "recipient": row.recipient,
        "message_id": row.message_id,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


def _row_words(row: Any, due: datetime | None) -> str:
    if row.state == "sent" and row.sent_at:
        late = due is not None and row.sent_at - due > schedule.LATE_AFTER
        return f"{row.channel}: sent {row.sent_at:%d %b %H:%M}" + (" (late)" if late else "")
    if row.state == "pending":
        tries = f", {row.attempts} failed tries ({row.last_error})" if row.attempts else ""
        return f"{row.channel}: waiting{tries}"
    if row.state == "failed":
        return f"{row.channel}: STOPPED: {row.last_error}"
    return f"{row.channel}: withdrawn"


def cmd_delivery_test(home: Home, args: argparse.Namespace) -> int:
    config = load_config(home)
    settings = config.delivery.smtp
    now = clock.now()
    worked = False
    if settings.host:
        to = args.to or smtp.sender_address(settings)
        if not to:
            raise UserError("Say where to send the test: --to ADDRESS.")
        text = (
            "This is a test message from Candor. If you can read it, Candor can send email.\n"
            "Your partner did not receive anything.\n"
        )
        msg = smtp.new_message(
            sender=smtp.sender_address(settings),
            to=to,
            subject="Candor delivery test",
            message_id=smtp.message_id(f"candor-test-{now:%Y%m%dT%H%M%S%f}"),
            text=text,
            date=now.timestamp(),
        )
        try:
            smtp.send(settings, msg.as_bytes(), [to])
        except smtp.DeliveryError as exc:
            raise UserError(f"Email does not work yet. {exc}") from None
        out.print(f"Email works: a test message went to {to}.", markup=False)
        worked = True
    if config.delivery.webhook.url:
        from reporter.sender import signing_key

        body = json.dumps({"type": "candor.test", "timestamp": now.isoformat(), "data": {}})
        try:
            webhook.post(
                config.delivery.webhook.url,
                body.encode(),
                webhook_id=f"candor-test-{now:%Y%m%dT%H%M%S%f}",
                key=signing_key(home),
                now=now,
            )
        except smtp.DeliveryError as exc:
            raise UserError(f"The webhook does not work yet. {exc}") from None
        out.print("The webhook works: it accepted a signed test message.")
        worked = True
    if not worked:
        raise UserError("No delivery is set up: add [delivery.smtp] (see docs/delivery.md).")
    journal, outbox = _open(home)
    try:
        again = outbox.retry_failed()
    finally:
        outbox.close()
        journal.close()
    if again:
        out.print(
            f"{again} stopped message(s) will be sent again at the next pass "
            "(or now: `candor report send-due`)."
        )
    return 0


def main() -> int:  # pragma: no cover - a stand-in until agent.cli wires `register`
    from agent import cli

    parser = cli.build_parser()
    with contextlib.suppress(argparse.ArgumentError):
        register(parser._subparsers._group_actions[0])  # type: ignore[union-attr]
    args = parser.parse_args()
    home = cli.resolve_home(args.home)
    home.ensure()
    try:
        return args.handler(home, args)
    except (UserError, ConfigError) as exc:
        print(f"candor: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
