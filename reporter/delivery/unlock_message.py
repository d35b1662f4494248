"""The sheet of unlock codes as the partner receives it: a printable email, or a signed webhook.

The plain codes are in these bytes and nowhere else: the outbox keeps them until the message
has left, then replaces them with a short placeholder (`Outbox.mark_sent`). Anything Candor shows
the person (previews, listings) shows `MASKED` in their place.
"""

from __future__ import annotations

import html
from datetime import datetime

from agent.config import Config
from reporter import render_html
from reporter.delivery import smtp
from reporter.delivery.messages import slug, webhook_body
from reporter.delivery.outbox import NewMessage
from reporter.invitation import person_name
from reporter.render_text import sentence
from reporter.unlock_sheet import MASKED, NewSheet, shown_code

KIND = "unlock_sheet"
"""The outbox kind of a sheet's message (its payload is wiped once sent)."""


def sheet_text(config: Config, person: str | None, sheet: NewSheet, codes: list[str]) -> str:
    """The email's text: how to use the codes, kindly, then the numbered codes."""
    who = person_name(config, person)
    lead = sentence(who)
    partner = config.partner.name or "there"
    lines = "\n".join(f"  {k:>2}.  {code}" for k, code in enumerate(codes, start=1))
    return f"""\
Hello {partner},

Thank you for being {who}'s accountability partner. This is sheet {sheet.number} of unlock
codes for Candor on "{config.device.name}". Keep it somewhere {who} cannot see it: print it,
or save it away from their computer.

WHAT THE CODES ARE FOR
When {who} loosens the filter, the change waits for the cooling-off delay they chose. With one
of these codes {lead} can skip that wait, or allow one site for longer than a day. Each code
works once.

WHEN {who.upper()} ASKS FOR A CODE
Talk first: what happened, what they want to change, and why now. If you agree, read them the
next code and cross it off. If you are unsure, it is fine to say no, or "let's wait".

EVERY CODE IS REPORTED
The next weekly report names every code used by its number ("code 7 of sheet {sheet.number}"),
and every wrong code typed. If a report names a code you never gave, ask {who} about it.

A NEW SHEET
{lead} can ask Candor to send you a new sheet; the old one then stops working. Only the codes on
the newest sheet work.

SHEET {sheet.number}
{lines}

-- Candor, on behalf of {who}
"""


def sheet_html(config: Config, person: str | None, sheet: NewSheet, codes: list[str]) -> str:
    """The same words as HTML, with the codes in a table made to print: number, code, a box."""
    text = sheet_text(config, person, sheet, codes)
    intro, _, _ = text.partition(f"SHEET {sheet.number}\n")
    cards = []
    for block in intro.strip().split("\n\n"):
        first, _, rest = block.partition("\n")
        if first.isupper() and rest:
            body = f"<p>{html.escape(' '.join(rest.split()))}</p>"
            cards.append(render_html.card(first, body))
        else:
            cards.append(render_html.card("", f"<p>{html.escape(' '.join(block.split()))}</p>"))
    rows = "".join(
        f'<tr><td style="padding:6px 10px;border-bottom:1px solid #d9dee3">{k}</td>'
        f'<td style="padding:6px 10px;border-bottom:1px solid #d9dee3;font-family:monospace;'
        f'font-size:17px;letter-spacing:.05em">{html.escape(code)}</td>'
        '<td style="padding:6px 10px;border-bottom:1px solid #d9dee3">&#9744; given</td></tr>'
        for k, code in enumerate(codes, start=1)
    )
    table = (
        f'<table cellpadding="0" cellspacing="0" style="border-collapse:collapse">{rows}</table>'
    )
    cards.append(render_html.card(f"Sheet {sheet.number}", table))
    subject = sheet_subject(config, person, sheet.number)
    return render_html.page(subject, config.device.name, cards)


def sheet_subject(config: Config, person: str | None, number: int) -> str:
    """The subject line: whose codes, which sheet."""
    who = sentence(person_name(config, person))
    return f"Unlock codes for {who}'s Candor (sheet {number}): keep this private"


def sheet_messages(
    config: Config,
    person: str | None,
    sheet: NewSheet,
    channels: list[tuple[str, str]],
    partner: str,
    now: datetime,
    *,
    masked: bool = False,
) -> list[NewMessage]:
    """The sheet's outbox rows, one per channel. `masked`: with `MASKED` for every code (what a
    preview shows)."""
    codes = [MASKED if masked else shown_code(code) for code in sheet.codes]
    key = f"candor-unlock-sheet-{partner}-{sheet.number}-{slug(config.device.name)}"
    mid = smtp.message_id(key)
    subject = sheet_subject(config, person, sheet.number)
    out = []
    for channel, recipient in channels:
        if channel == "email":
            msg = smtp.new_message(
                sender=smtp.sender_address(config.delivery.smtp),
                to=recipient,
                subject=subject,
                message_id=mid,
                text=sheet_text(config, person, sheet, codes),
                html=sheet_html(config, person, sheet, codes),
                date=now.timestamp(),
            )
            msg["X-Candor-Unlock-Sheet"] = str(sheet.number)
            payload = msg.as_bytes()
        else:
            data = {
                "device": config.device.name,
                "sheet": sheet.number,
                "codes": [{"number": k, "code": c} for k, c in enumerate(codes, start=1)],
                "text": sheet_text(config, person, sheet, codes),
            }
            payload = webhook_body("candor.unlock.sheet", now.isoformat(), data)
        row_id = f"unlock:{partner}:{sheet.number}:{channel}"
        out.append(NewMessage(row_id, KIND, channel, recipient, mid, subject, payload,
                              partner_id=partner))  # fmt: skip
    return out
