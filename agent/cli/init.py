"""`candor init`: categories, partner, detail level, report day and cooling-off, then consent.

The device owner runs it, interactively: it shows a sample report at the chosen level before
asking for consent, and journals what was agreed. Nothing is sent to the partner until they have
confirmed with the code from their invitation (`candor partner invite` / `confirm`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import timedelta

from agent.cli.category import CATEGORY_WORDS
from agent.cli.consent import (
    LEVEL_HELP,
    check_email,
    check_name,
    consent_now,
    consent_text,
    sample_report,
)
from agent.cli.console import UserError, out
from agent.cli.prompts import ask, choose, confirm, one_of, setting_check
from agent.config import (
    DETAIL_LEVELS,
    CategorySettings,
    Config,
    ConfigError,
    Home,
    editing_config,
    format_duration,
    load_config,
    parse_duration,
    save_config,
)
from agent.journal import Journal, clock
from agent.policy.rulebook import categories_on_disk
from reporter import consent
from reporter.consent import ConsentState
from reporter.delivery import smtp

ACTIONS = ("block", "warn", "log", "off")
SUGGESTED_COOLING_OFF = "24h"


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the options of `candor init` (each answers one question of the wizard)."""
    p = parser
    p.add_argument("--your-name", help="how your partner knows you (used in the invitation)")
    p.add_argument("--partner-name", help="your partner's name, as you call them")
    p.add_argument("--partner-email", help="where your partner's reports go")
    p.add_argument(
        "--partner-contact",
        metavar="HOW",
        help='a button on the block page to reach them: "email", "sms:+NUMBER", "tel:+NUMBER" '
        'or "none"',
    )
    p.add_argument(
        "--detail-level", choices=DETAIL_LEVELS, help="how much the report shares (summary: least)"
    )
    p.add_argument("--device-name", help="this computer's name in reports")
    p.add_argument("--report-day", metavar="DAY", help="the day the weekly report is sent (Sunday)")
    p.add_argument("--report-time", metavar="HH:MM", help="the time it is sent, e.g. 18:00")
    p.add_argument("--cooling-off", metavar="DURATION", help=f"suggested: {SUGGESTED_COOLING_OFF}")
    p.add_argument(
        "--categories", nargs="+", metavar="NAME[=ACTION]", help="e.g. adult gambling=warn"
    )
    p.add_argument(
        "--lists",
        nargs="+",
        metavar="NAME",
        help="lists to subscribe to: catalogue names, 'recommended' (for the categories that "
        "are not off) or 'none'; asked at a terminal, none with --yes",
    )
    p.add_argument(
        "--yes", action="store_true", help="I have read the sample and agree (scripted setup)"
    )
    p.set_defaults(handler=editing_config(cmd_init))


@dataclass(frozen=True, slots=True)
class Partner:
    """Who the person names, and how they introduce themselves in the invitation."""

    person: str | None
    name: str
    email: str


def cmd_init(home: Home, args: argparse.Namespace) -> int:
    """Ask every question, show the sample and the consent text, then save and journal."""
    config = load_config(home)
    state = consent_now(home)
    yes = bool(args.yes)
    out.print("[bold]Setting up Candor[/bold]: a filter you choose, and an honest weekly summary")
    out.print("for one person you trust. Run this yourself, on your own computer.\n")
    new = config.model_copy(deep=True)
    new.categories = _categories(home, config, args, yes)
    partner = _partner(config, state, args, yes)
    new.detail_level = _level(config, args, yes)  # type: ignore[assignment]
    _schedule(new, config, args, yes)
    new.cooling_off = _delay(config, args, yes)
    if (config.partner.email or "").lower() != partner.email.lower():
        new.partner.invited_at = None
        new.partner.confirmed_at = None
    new.partner.name = partner.name
    new.partner.email = partner.email
    new.partner.contact = _contact(config, partner, args, yes)  # type: ignore[assignment]
    level = new.detail_level
    out.print(
        f"\n[bold]This is what {partner.name} would receive[/bold] (a sample of this week, at "
        f'the "{level}" level):\n'
    )
    out.print(sample_report(home, new, level, person=partner.person), markup=False)
    text = consent_text(new, level, partner.name, partner.email)
    out.print("\n" + text + "\n", markup=False)
    typed = None
    if not yes:
        typed = ask(f"To agree, type {partner.name}'s name (or press Enter to stop)", "")
        if typed.strip().lower() != partner.name.strip().lower():
            out.print("Nothing was changed and nothing will be sent.")
            return 1
    save_config(home, new)
    _subscribe(home, new, args, yes)
    _record(home, new, state, partner, text, typed_confirmation=typed is not None)
    out.print(
        f"Saved. Consent recorded: reports to {partner.name} at the {level} level.", markup=False
    )
    if state.status != "confirmed":
        if sys.stdin.isatty() and smtp.smtp_ready(new.delivery.smtp):
            _offer_delivery(home)
        _next_step(load_config(home))
    return 0


def _offer_delivery(home: Home) -> None:
    """Step 7, at a terminal: email for the reports, tested before it is saved."""
    from agent.cli.delivery_setup import blank_answers, cmd_delivery_setup

    if not confirm("\nSet up email for the reports now? Candor sends you a test first", False):
        return
    try:
        cmd_delivery_setup(home, blank_answers())
    except UserError as exc:
        out.print(f"{exc} You can try again with `candor delivery setup`.", markup=False)


def _categories(
    home: Home, config: Config, args: argparse.Namespace, yes: bool
) -> dict[str, CategorySettings]:
    """Step 1: each category's action."""
    present = sorted(set(categories_on_disk(home)) | set(config.categories))
    if args.categories:
        chosen = check_categories(args.categories)
    elif yes:
        chosen = {name: config.categories[name].action for name in config.categories}
    else:
        out.print(
            "Categories (block: a block page; warn: a page you can click through; "
            "log: allowed and counted; off):"
        )
        pick = one_of(ACTIONS, f"choose one of {', '.join(ACTIONS)}")
        chosen = {}
        for name in present:
            current = config.categories[name].action if name in config.categories else "block"
            if name in CATEGORY_WORDS:
                out.print(f"  {name}: {CATEGORY_WORDS[name]}", markup=False)
            chosen[name] = choose(None, f"  {name}", current, False, pick)
    categories = dict(config.categories)
    for name, action in chosen.items():
        categories[name] = CategorySettings(action=action)  # type: ignore[arg-type]
    return categories


def _subscribe(home: Home, config: Config, args: argparse.Namespace, yes: bool) -> None:
    """Subscribe to the recommended lists of each category in use (asked), or those named.
    Nothing is downloaded here: the agent fetches them (unless downloads are off)."""
    from agent.policy.subscriptions import Wanted, subscribe
    from rules.catalogue import by_name, recommended

    used = [name for name, c in config.categories.items() if c.action != "off"]
    chosen = []
    if args.lists:
        for name in args.lists:
            if name == "none":
                continue
            if name == "recommended":
                chosen += [e for category in used for e in recommended(category)]
                continue
            entry = by_name(name)
            if entry is None:
                raise UserError(f"'{name}' is not in the catalogue (see `candor lists available`).")
            chosen.append(entry)
    elif not yes:
        for category in used:
            offer = recommended(category)
            if not offer:
                continue
            names = ", ".join(f"{e.name} ({e.licence}, about {e.entries:,})" for e in offer)
            answer = ask(f"Keep {category} up to date with {names}? (y/n)", "y")
            if answer.strip().lower() in ("", "y", "yes"):
                chosen += offer
    for entry in dict.fromkeys(chosen):
        subscribe(home, Wanted.of(entry))
        out.print(f"Subscribed to {entry.name} ({entry.category}).", markup=False)
    if chosen and not config.lists.downloads:
        out.print("Downloads are off ([lists] downloads = false): nothing will be fetched.")


def _partner(config: Config, state: ConsentState, args: argparse.Namespace, yes: bool) -> Partner:
    """Step 2: the partner; naming someone else once consent is given is `partner change`."""
    person = args.your_name
    if person is None and not yes:
        person = ask("Your first name, as your partner knows you", state.person or "")
    person = (person or state.person or "").strip() or None
    name = choose(args.partner_name, "Your partner's name", config.partner.name, yes, check_name)
    email = choose(
        args.partner_email, "Your partner's email", config.partner.email, yes, check_email
    )
    named = (state.partner_email or "").lower()
    if state.status in ("given", "confirmed") and named != email.lower():
        raise UserError(
            f"You already named {state.partner_name} <{state.partner_email}> as your partner; "
            "use `candor partner change` to name someone else (they will be told)."
        )
    return Partner(person, name, email)


def _contact(config: Config, partner: Partner, args: argparse.Namespace, yes: bool) -> str | None:
    """Step 2b: a one-tap way to reach the partner from the block page (asked at a terminal)."""
    current = config.partner.contact or "none"
    if args.partner_contact is None and (yes or not sys.stdin.isatty()):
        return config.partner.contact
    if args.partner_contact is None:
        out.print(
            f"\nThe block page can show a button to reach {partner.name} in one tap: email "
            "(their address), a text (sms:+NUMBER), a call (tel:+NUMBER), or none."
        )
    answer = choose(args.partner_contact, "Button on the block page", current, yes, check_contact)
    return None if answer.strip().lower() in ("", "none") else answer


def _level(config: Config, args: argparse.Namespace, yes: bool) -> str:
    """Step 3: how much the report shares."""
    if not args.detail_level and not yes:
        out.print("\nHow much should the report share?")
        for level, words in LEVEL_HELP.items():
            out.print(f"  {level}: {words}", markup=False)
    check = one_of(DETAIL_LEVELS, "choose summary, domains or detailed")
    level = choose(args.detail_level, "Detail level", config.detail_level, yes, check)
    if level == "detailed" and not args.detail_level and not yes:
        out.print(
            "[bold]Detailed[/bold] reports can reveal very personal things (health, sex "
            "life). Your partner will see them."
        )
    return level


def _schedule(new: Config, config: Config, args: argparse.Namespace, yes: bool) -> None:
    """Steps 4 and 5: the computer's name in reports, and the report day and time."""
    new.device.name = choose(
        args.device_name, "Name of this computer in reports", config.device.name, yes, check_device
    )
    new.report.day = choose(args.report_day, "Report day", config.report.day, yes, check_day)  # type: ignore[assignment]
    new.report.time = choose(  # type: ignore[assignment]
        args.report_time, "Report time (like 18:00 or 6pm)", f"{config.report.time:%H:%M}",
        yes, check_time,
    )  # fmt: skip


def _delay(config: Config, args: argparse.Namespace, yes: bool) -> timedelta:
    """Step 6: the cooling-off delay; shortening it here would skip its own wait."""
    current_delay = format_duration(config.cooling_off)
    if not args.cooling_off and not yes:
        out.print(
            "\nA cooling-off delay makes loosening (removing a rule, allowing a site) wait "
            "before it takes effect; tightening is always immediate."
        )
    delay_default = current_delay if config.cooling_off else SUGGESTED_COOLING_OFF
    delay_text = choose(args.cooling_off, "Cooling-off delay", delay_default, yes, parse_duration)
    delay = parse_duration(delay_text)
    if delay < config.cooling_off:
        raise UserError(
            f"Shortening the cooling-off delay (now {current_delay}) is a loosening change; "
            "change cooling_off in config.toml and it will take effect after the current delay."
        )
    return delay


def _record(
    home: Home,
    new: Config,
    state: ConsentState,
    partner: Partner,
    text: str,
    *,
    typed_confirmation: bool,
) -> None:
    """Journal what was agreed: given the first time, renewed, lowered or raised after."""
    level = new.detail_level
    what = {
        "categories": {k: v.action for k, v in sorted(new.categories.items())},
        "report": {"day": new.report.day, "time": f"{new.report.time:%H:%M}"},
        "device": new.device.name,
        "cooling_off": format_duration(new.cooling_off),
        "text_sha256": consent.text_digest(text),
        "typed_confirmation": typed_confirmation,
    }
    with Journal(home.journal_file, clock=clock.now) as journal:
        if state.status == "confirmed":
            change = "renewed"
            if consent.level_rank(level) < consent.level_rank(state.level):
                change = "lowered"
            elif consent.level_rank(level) > consent.level_rank(state.level):
                change = "raised"
            consent.record(
                journal, change, name=partner.name, email=partner.email, level=level, **what
            )  # type: ignore[arg-type]
        else:
            consent.record(
                journal,
                "given",
                name=partner.name,
                email=partner.email,
                level=level,
                person=partner.person,
                **what,
            )


def _next_step(config: Config) -> None:
    """What to do after the wizard: set up email, or send the invitation."""
    if smtp.smtp_ready(config.delivery.smtp):
        out.print(
            "Next: set up email with `candor delivery setup` (it sends you a test first),"
            " then run `candor partner invite`.",
            markup=False,
        )
    else:
        out.print("Next: run `candor partner invite` to email the invitation.")


check_time = setting_check(
    "report.time", "That is not a time of day Candor can read: write it like 18:00 or 6pm."
)
"""A report time as people type it (`18:00`, `6pm`, `6:30 pm`), or one plain sentence."""
check_day = setting_check("report.day", "That is not a day of the week: write it like Sunday.")
"""A report day as people type it (`Sunday`, `sun`), or one plain sentence."""
check_contact = setting_check(
    "partner.contact", 'Write "email", "sms:+NUMBER", "tel:+NUMBER" or "none".'
)
"""The block page's way to reach the partner, or one plain sentence."""
check_device = setting_check(
    "device.name", "A computer's name in reports is 1 to 64 characters, like Alex's laptop."
)
"""This computer's name in reports, or one plain sentence."""


def check_categories(values: list[str]) -> dict[str, str]:
    """`adult gambling=warn` as {category: action}; a UserError names the first bad item."""
    chosen: dict[str, str] = {}
    for item in values:
        name, _, action = item.partition("=")
        action = action or "block"
        if action not in ACTIONS:
            raise UserError(f"{item}: the action must be one of {', '.join(ACTIONS)}.")
        try:
            CategorySettings(action=action)  # type: ignore[arg-type]
            Config.model_validate({"categories": {name: {"action": action}}})
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        except ValueError:
            raise UserError(
                f"{name}: a category name is lower-case letters, digits, '-' and '_'."
            ) from None
        chosen[name] = action
    return chosen
