"""What wraps a queued message when it actually leaves: its Date, and whether it is late, and why.

A report is signed when it is built and cannot change after that, but it may leave days later
(the mail server was down, the computer was off). So lateness is decided here, at send time,
from the report's due time and the journal's record of what went wrong, and it is said in what
wraps the signed document: the email's subject, a short plain note above the report (text and
HTML), its Date header (always the time it is sent), and for a webhook a `delivery` field in the
envelope. The signed attachments and the Message-ID / webhook-id stay exactly as queued.
"""

from __future__ import annotations

import email
import html
import json
import re
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from agent.config.durations import rough_duration_words
from agent.journal import Journal, Kind, canonical_json, format_ts
from reporter import schedule
from reporter.delivery.outbox import OutboxRow, ReportRecord

LATE_SUBJECT = " (sent late)"


def late_words(
    journal: Journal, row: OutboxRow, report: ReportRecord | None, now: datetime
) -> str | None:
    """Why report `row` leaves late, in a sentence for the partner; None when it is on time."""
    if row.kind != "report" or report is None or now - report.due_at <= schedule.LATE_AFTER:
        return None
    days = rough_duration_words(now - report.due_at)
    failed = [
        e
        for e in journal.events(kinds=[Kind.REPORT_FAILED])
        if e.body.get("seq") == row.report_seq and e.body.get("channel") == row.channel
    ]  # every failed try delayed this week's report, whichever copy it was
    reasons = []
    if report.late_reason:  # built late (asleep, off, rebuilt): why, without its old length
        reasons.append(report.late_reason.split(": ", 1)[-1].rstrip("."))
    if failed:
        first, last = failed[0], failed[-1]
        tries = "try" if len(failed) == 1 else "tries"
        reasons.append(
            f"{plain_failure(str(last.body.get('reason', '')))} ({len(failed)} failed {tries} "
            f"from {first.time:%a %d %b %H:%M} to {last.time:%a %d %b %H:%M} UTC; last: "
            f"{str(last.body.get('reason', '')).rstrip('.')})"
        )
    if not reasons:
        found = schedule.late_reason(journal, report.due_at, now) or ""
        reasons.append(found.split(": ", 1)[-1].rstrip(".") or "it could not be sent on time")
    return f"Sent {days} late: {'; and '.join(reasons)}."


def plain_failure(reason: str) -> str:
    """A recorded delivery failure in a few plain words."""
    if reason.startswith("Cannot reach the mail server"):
        return "the mail server could not be reached"
    if reason.startswith("Cannot reach the webhook"):
        return "the webhook could not be reached"
    if reason.startswith("The webhook answered"):
        return "the webhook did not accept it"
    if "mail server" in reason:
        return "the mail server would not take it"
    return "delivery kept failing"


def note(late: str, report: ReportRecord) -> str:
    """The short note above a late report."""
    return (
        f"This report is late. {late}\n"
        f"The signed report below was built {report.generated_at:%a %d %b %H:%M} UTC and is "
        "unchanged since; this note, added when it was sent, says when and why.\n"
    )


def wrap(row: OutboxRow, now: datetime, late: str | None, report: ReportRecord | None) -> bytes:
    """The bytes to send now: the queued message with its send-time Date, and a late note."""
    if row.channel == "email":
        return _wrap_email(row.payload, now, note(late, report) if late and report else None)
    return _wrap_webhook(row.payload, now, late)


def _wrap_email(payload: bytes, now: datetime, late_note: str | None) -> bytes:
    msg = email.message_from_bytes(payload, _class=EmailMessage, policy=SMTP)
    assert isinstance(msg, EmailMessage)
    del msg["Date"]
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    if late_note is None:
        return msg.as_bytes()
    subject = str(msg["Subject"] or "")
    if LATE_SUBJECT not in subject:
        del msg["Subject"]
        msg["Subject"] = subject + LATE_SUBJECT
    msg["X-Candor-Sent-Late"] = "yes"
    text = msg.get_body(("plain",))
    if isinstance(text, EmailMessage):
        text.set_content(late_note + "\n" + str(text.get_content()))
    page = msg.get_body(("html",))
    if isinstance(page, EmailMessage):
        block = (
            '<p style="border:2px solid #b45309;padding:8px;white-space:pre-wrap">'
            f"{html.escape(late_note)}</p>"
        )
        content = str(page.get_content())
        found = re.search(r"<body[^>]*>", content)
        at = found.end() if found else 0
        page.set_content(content[:at] + block + content[at:], subtype="html")
    return msg.as_bytes()


def _wrap_webhook(payload: bytes, now: datetime, late: str | None) -> bytes:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return payload
    body["data"]["delivery"] = {"sent_at": format_ts(now), "late": late is not None,
                                "late_reason": late}  # fmt: skip
    return canonical_json(body)
