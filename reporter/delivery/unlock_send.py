"""Issue a partner's sheet of unlock codes: void the old sheet, journal the new one's hashes and
queue its message in one transaction; the caller then delivers it (`Sender.deliver`).

A sheet cannot be rebuilt from its hashes. When its message is lost before it left (its outbox
rows deleted), the sheet is voided (`message_lost`) and a new one is issued in its place, so the
partner always holds a sheet that works, and the journal says why the number moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.config import Config
from agent.journal import Journal
from agent.journal.partner import partner_id
from reporter import consent
from reporter.delivery.outbox import Outbox
from reporter.delivery.unlock_message import sheet_messages
from reporter.unlock_sheet import (
    HashParams,
    current_sheet,
    issued_event,
    make_sheet,
    next_number,
    void_event,
)


class NoPartnerForCodes(Exception):
    """No confirmed partner, or no way to reach them: no sheet was made. The message says why."""


@dataclass(frozen=True, slots=True)
class Issued:
    """The sheet made: its number, the one it replaced, and its outbox rows."""

    number: int
    replaced: int | None
    row_ids: tuple[str, ...]


def sheet_channels(config: Config, state: consent.ConsentState) -> list[tuple[str, str]]:
    """Where the partner's sheet goes: their email, and the webhook, as reports do."""
    out: list[tuple[str, str]] = []
    if config.delivery.smtp.host and state.partner_email:
        out.append(("email", state.partner_email))
    if config.delivery.webhook.url:
        out.append(("webhook", config.delivery.webhook.url))
    return out


def issue_sheet(
    journal: Journal,
    outbox: Outbox,
    config: Config,
    state: consent.ConsentState,
    now: datetime,
    *,
    reason: str,
    params: HashParams | None = None,
) -> Issued:
    """Make and queue a new sheet for the confirmed partner; the old one stops working."""
    if state.status != "confirmed" or not state.partner_email:
        raise NoPartnerForCodes(
            "Unlock codes go to a confirmed partner; confirm your partner first "
            "(`candor partner confirm CODE`)."
        )
    config = consent.sending_config(state, config)
    channels = sheet_channels(config, state)
    if not channels:
        raise NoPartnerForCodes(
            "No delivery is set up ([delivery.smtp] or [delivery.webhook]), so the codes "
            "cannot reach your partner."
        )
    partner = partner_id(state.partner_email)
    old = current_sheet(journal, partner)
    sheet = make_sheet(next_number(journal, partner), params)
    queued = sheet_messages(config, state.person, sheet, channels, partner, now)
    if old is not None:
        outbox.withdraw_secret(list(old.message_ids))
        journal.append(void_event(partner, old.number, "message_lost" if reason == "message_lost"
                                  else "replaced"))  # fmt: skip
    ids = [m.id for m in queued]
    event = issued_event(sheet, partner, ids, reason, old.number if old else None)
    outbox.add_with(queued, event)
    return Issued(sheet.number, old.number if old else None, tuple(ids))


def sheet_lost(journal: Journal, outbox: Outbox, state: consent.ConsentState) -> bool:
    """Whether the partner's current sheet has no outbox row left at all (deleted before it
    left: a sent row stays, wiped): then it must be voided and replaced."""
    if state.status != "confirmed" or not state.partner_email:
        return False
    sheet = current_sheet(journal, partner_id(state.partner_email))
    if sheet is None or not sheet.message_ids:
        return False
    return all(outbox.get(row_id) is None for row_id in sheet.message_ids)


def void_for_revocation(journal: Journal, outbox: Outbox, email: str | None) -> int | None:
    """Reporting stopped: the partner's sheet stops working, and an unsent one is withdrawn."""
    partner = partner_id(email)
    sheet = current_sheet(journal, partner)
    if sheet is None:
        return None
    outbox.withdraw_secret(list(sheet.message_ids))
    journal.append(void_event(partner, sheet.number, "revoked"))
    return sheet.number
