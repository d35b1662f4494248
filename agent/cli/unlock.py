"""`candor unlock CODE [--allow HOST --for DURATION]` and the sheet of codes behind it.

A code from the partner's sheet (`reporter.unlock_sheet`) works once: without `--allow` it puts
every loosening that waits for the cooling-off delay into force now; with `--allow HOST` it
grants a temporary allow longer than `candor allow` permits (up to `MAX_UNLOCK_GRANT`). Both go
through the journal like everything that changes protection, named by the code's number, and
the report shows them. A wrong code is refused after a fixed delay, and the refusal is
journaled and reported too. The plain codes are never shown here: they went to the partner.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from agent.cli.console import UserError, out
from agent.config import Home, format_duration, last_good_config, parse_duration
from agent.health.pidfile import is_candor, read_pid_file
from agent.journal import Journal, JournalWriteError, clock
from agent.journal.events import UnlockUsed
from agent.journal.partner import partner_id
from agent.policy.cooling_off import Pending, journal_items
from agent.policy.ledger import add_grant, read_ledger
from agent.policy.temporary_allow import GrantError, grant_event
from reporter import consent
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import Sender
from reporter.delivery.unlock_message import KIND
from reporter.delivery.unlock_send import NoPartnerForCodes, issue_sheet
from reporter.unlock_sheet import HashParams, Verdict, check, code_words, use
from reporter.unlock_sheet import refusal_event as refused_row

MAX_UNLOCK_GRANT = timedelta(days=7)
"""The longest allow a partner's code grants (`candor allow` alone: 24 hours)."""
REFUSAL_DELAY = 2.0
"""Seconds before a refused code is answered, so codes cannot be tried quickly."""


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the arguments of `candor unlock`."""
    parser.description = (
        "Use a one-time code from your partner's sheet: without --allow, every loosening "
        "waiting for the cooling-off delay applies now; with --allow HOST --for DURATION, one "
        f"site is allowed for up to {format_duration(MAX_UNLOCK_GRANT)}. Every use is recorded "
        "and named in the weekly report by its number."
    )
    parser.add_argument("code", metavar="CODE", help="the code your partner read to you")
    parser.add_argument("--allow", metavar="HOST", help="allow this site (and its subdomains)")
    parser.add_argument("--for", dest="duration", metavar="DURATION", help='e.g. "3d", "36h"')
    parser.add_argument("--reason", metavar="TEXT", help="why, in a few words (recorded)")
    parser.set_defaults(handler=cmd_unlock)


def cmd_unlock(home: Home, args: argparse.Namespace) -> int:
    """`candor unlock CODE [--allow HOST --for D]`."""
    return unlock(home, args.code, host=args.allow, duration=args.duration, reason=args.reason)


def unlock(
    home: Home,
    code: str,
    *,
    host: str | None = None,
    duration: str | None = None,
    reason: str | None = None,
    delay: float = REFUSAL_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Check `code` and apply what it unlocks. `delay` and `sleep` are for tests, through this
    Python API only: the command always waits `REFUSAL_DELAY` before answering a refusal."""
    if (host is None) != (duration is None):
        raise UserError("--allow HOST and --for DURATION go together.")
    now = clock.now()
    length = _length(duration) if duration is not None else None
    if host is None:
        waiting = [p for p in read_ledger(home).pending if p.until > now]
        if not waiting:
            raise UserError(
                "Nothing is waiting for the cooling-off delay, so the code was not used; "
                "it still works."
            )
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
        if state.status != "confirmed":
            raise UserError("Unlock codes come from a confirmed partner; there is none.")
        partner = partner_id(state.partner_email)
        if host is not None and length is not None:
            used = _allow_row(partner, host, length, reason, now)
        else:
            used = None
        verdict = check(journal, partner, code)
        if not verdict.ok:
            journal.append(refused_row(partner, verdict))
            sleep(delay)
            raise UserError(refusal_words(verdict))
        row = _used_row(partner, verdict, waiting if host is None else [], used)
        if not use(journal, row):
            journal.append(refused_row(partner, Verdict("used", verdict.sheet, verdict.number)))
            raise UserError(f"{code_words(row.sheet, row.number).capitalize()} was just used.")
    what = code_words(row.sheet, row.number)
    if used is not None and length is not None:
        text = f"with {what}" + (f": {' '.join(reason.split())}" if reason else "")
        try:
            grant = add_grant(home, used.host, length, text, now=now, limit=MAX_UNLOCK_GRANT)
        except (GrantError, JournalWriteError) as exc:
            raise UserError(f"{what.capitalize()} was used, but the allow failed: {exc}") from None
        out.print(
            f"Allowed {grant.host} until {grant.until.astimezone():%a %d %b %H:%M} "
            f"({format_duration(length)}), {what}. This is recorded and will be in your "
            "weekly report.",
            markup=False,
        )
    else:
        count = len(row.pending or ())
        changes = (
            "the waiting change applies" if count == 1 else f"the {count} waiting changes apply"
        )
        out.print(
            f"{what.capitalize()} used: {changes} now. This is recorded and will be in your "
            "weekly report.",
            markup=False,
        )
    found = read_pid_file(home.pid_file)
    if found is None or not is_candor(found[0]):
        out.print("Candor is not running; this applies as soon as it runs.")
    return 0


def _length(duration: str) -> timedelta:
    try:
        return parse_duration(duration)
    except ValueError as exc:
        raise UserError(f"--for {exc}.") from None


def _allow_row(
    partner: str, host: str, length: timedelta, reason: str | None, now: datetime
) -> UnlockUsed:
    """The allow checked before any code is looked at: a bad host or length uses no code."""
    try:
        event = grant_event(host, length, reason or "unlock", now, clock.uptime(), MAX_UNLOCK_GRANT)
    except GrantError as exc:
        raise UserError(str(exc)) from None
    return UnlockUsed(partner_id=partner, sheet=0, number=0, unlocked="allow", host=event.host,
                      duration=event.duration, until=event.until)  # fmt: skip


def _used_row(
    partner: str, verdict: Verdict, waiting: list[Pending], allow: UnlockUsed | None
) -> UnlockUsed:
    sheet, number = verdict.sheet or 0, verdict.number or 0
    if allow is not None:
        return UnlockUsed(partner_id=partner, sheet=sheet, number=number, unlocked="allow",
                          host=allow.host, duration=allow.duration, until=allow.until)  # fmt: skip
    return UnlockUsed(partner_id=partner, sheet=sheet, number=number, unlocked="pending",
                      pending=journal_items(waiting))  # fmt: skip


def refusal_words(verdict: Verdict) -> str:
    """One kind sentence for a refused code."""
    if verdict.outcome == "used" and verdict.number is not None:
        when = datetime.fromisoformat(verdict.used_at or "").astimezone()
        return (
            f"Code {verdict.number} was already used, on {when:%a %d %b at %H:%M}; each works once."
        )
    if verdict.outcome == "voided":
        return (
            "That code is from a sheet that was replaced; ask your partner for one from the "
            "new sheet."
        )
    if verdict.outcome == "no_sheet":
        return "Your partner has no sheet of unlock codes yet: `candor partner codes` sends one."
    return "That code is not on your partner's sheet. Check it with them; the attempt is recorded."


def issue_and_send(
    home: Home, reason: str, *, params: HashParams | None = None
) -> tuple[int, int | None, bool]:
    """Make a new sheet for the confirmed partner, void the old one, and try to deliver it now:
    (new sheet, replaced sheet, delivered). Raises `NoPartnerForCodes` with a sentence."""
    config = last_good_config(home).config
    now = clock.now()
    with Sender(home) as sender:
        state = consent.consent_state(sender.journal)
        issued = issue_sheet(
            sender.journal, sender.outbox, config, state, now, reason=reason, params=params
        )
        result = sender.deliver(config, state)
    sent = [row for row in result.sent if row.kind == KIND]
    return issued.number, issued.replaced, len(sent) == len(issued.row_ids)


def sheet_sentence(home: Home, reason: str, *, params: HashParams | None = None) -> str:
    """`issue_and_send`, said in one line for the person."""
    try:
        number, replaced, delivered = issue_and_send(home, reason, params=params)
    except NoPartnerForCodes as exc:
        return str(exc)
    old = f" Sheet {replaced} no longer works." if replaced else ""
    how = "has been sent to" if delivered else "is queued for"
    return f"Sheet {number} of unlock codes {how} your partner.{old}"


def pending_sheet_rows(home: Home) -> int:
    """How many sheet messages still wait to leave (their codes are on this computer)."""
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        return sum(row.kind == KIND for row in outbox.rows("pending"))
