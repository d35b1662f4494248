"""The one composer: every message Candor sends, on every channel, is put together here.

Reports, notices, the note to a former partner, the invitation and the delivery test become
bytes once (a whole email, or a webhook body); the outbox keeps those bytes and a retry sends
them unchanged. One slug names the device in Message-IDs and webhook-ids, ASCII only, because
every header must carry it; one attachment builder adds a signed document with its detached
signatures, so a report and a notice are checked the same way; one envelope (`type`,
`timestamp`, `data`, Standard Webhooks' suggested shape) wraps every webhook body.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from agent.config import Config, SmtpSettings
from agent.journal import canonical_json, clock
from reporter.anchor_report import attachment_name as anchor_attachment_name
from reporter.build import BuiltReport, pretty_json
from reporter.delivery import smtp
from reporter.delivery.outbox import NewMessage, ReportRecord
from reporter.invitation import Email, key_attachment_name, pem_attachment_name
from reporter.notice import SignedNotice
from reporter.render_text import period_span


def slug(text: str) -> str:
    """The device name as Message-IDs and webhook-ids carry it: ASCII letters, digits, dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "device"


def attach_signed(
    msg: EmailMessage,
    stem: str,
    *,
    document_json: bytes,
    signed_bytes: bytes,
    raw_signature: bytes,
    sshsig: str,
) -> None:
    """Attach a signed document as reports and notices carry it, checkable without Candor."""
    parts = (
        (document_json, "application", "json", f"{stem}.json"),
        (signed_bytes, "application", "json", f"{stem}.signed.json"),
        (raw_signature, "application", "octet-stream", f"{stem}.signed.json.sig"),
        (sshsig.encode("ascii"), "text", "plain", f"{stem}.signed.json.sshsig"),
    )
    for data, maintype, subtype, name in parts:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


def webhook_body(kind: str, timestamp: str, data: dict[str, Any]) -> bytes:
    """Standard Webhooks' suggested shape (type, timestamp, data), as canonical JSON."""
    return canonical_json({"type": kind, "timestamp": timestamp, "data": data})


def _email(
    config: Config, words: Email, *, to: str, message_id: str, date: float, text: str | None = None
) -> EmailMessage:
    """A message from the configured sender with `words` as its text and HTML parts."""
    return smtp.new_message(
        sender=smtp.sender_address(config.delivery.smtp),
        to=to,
        subject=words.subject,
        message_id=message_id,
        text=words.text if text is None else text,
        html=words.html,
        date=date,
    )


# -- the weekly report ------------------------------------------------------------------------


def report_subject(config: Config, built: BuiltReport) -> str:
    """The report's subject line: the period and whether it needs attention, at a glance."""
    period = built.period
    span = period_span(period.start, period.end, period.zone)
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
    """The weekly report as an email: text and HTML to read, the signed document attached."""
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
    msg["X-Candor-Period"] = built.period.id
    msg["X-Candor-Needs-Attention"] = "yes" if built.needs_attention else "no"
    attach_signed(
        msg,
        f"candor-report-{built.period.id}",
        document_json=built.json_bytes,
        signed_bytes=built.signed_bytes,
        raw_signature=built.raw_signature,
        sshsig=built.sshsig,
    )
    if built.anchors_tar is not None:
        msg.add_attachment(
            built.anchors_tar,
            maintype="application",
            subtype="x-tar",
            filename=anchor_attachment_name(built.period.id),
        )
    return msg


def report_webhook_body(config: Config, built: BuiltReport, *, seq: int) -> bytes:
    """The weekly report for a webhook; the document is signed on its own too, so the receiver
    can keep it as the partner's copy."""
    data = {
        "device": config.device.name,
        "period": built.period.id,
        "seq": seq,
        "needs_attention": bool(built.needs_attention),
        "document": built.document,
        "sshsig": built.sshsig,
    }
    if built.anchors_tar is not None:  # the same tar the email attaches, for openssl ts -verify
        data["anchors"] = {
            "filename": anchor_attachment_name(built.period.id),
            "tar_base64": base64.b64encode(built.anchors_tar).decode("ascii"),
        }
    return webhook_body("candor.report.weekly", str(built.document.get("generated_at", "")), data)


def report_message(
    config: Config,
    channel: str,
    recipient: str,
    built: BuiltReport,
    seq: int,
    record: ReportRecord | None = None,
) -> NewMessage:
    """The outbox row of report `seq` on one channel, its bytes final (its Date, and a late
    note, are set when it leaves: `reporter.delivery.send_time`)."""
    period = built.period.id
    key = f"candor-report-{period}-{seq}-{slug(config.device.name)}"
    mid = smtp.message_id(key)
    subject = report_subject(config, built)
    row_id = f"report:{period}:{seq}:{channel}"
    if channel == "email":
        payload = report_email(config, built, to=recipient, message_id=mid, seq=seq).as_bytes()
    else:
        payload = report_webhook_body(config, built, seq=seq)
    partner = record.partner_id if record is not None else ""
    return NewMessage(row_id, "report", channel, recipient, mid, subject, payload, seq, partner)


# -- notices ----------------------------------------------------------------------------------


def notice_email(
    config: Config, notice: SignedNotice, words: Email, *, to: str, message_id: str, date: float
) -> EmailMessage:
    """A notice as an email: its words, and the signed notice attached like a report."""
    text = words.text + (
        "\nThis note is signed like the weekly reports; the attachments let you check it with\n"
        f"candor verify {notice.stem}.json --key candor-signing-key.pub\n"
    )
    msg = _email(config, words, to=to, message_id=message_id, date=date, text=text)
    msg["X-Candor-Notice"] = notice.kind
    attach_signed(
        msg,
        notice.stem,
        document_json=pretty_json(notice.document),
        signed_bytes=notice.signed_bytes,
        raw_signature=notice.raw_signature,
        sshsig=notice.sshsig,
    )
    return msg


def notice_webhook_body(config: Config, notice: SignedNotice) -> bytes:
    """A notice for a webhook: the signed notice document in the common envelope."""
    data = {
        "device": config.device.name,
        "kind": notice.kind,
        "document": notice.document,
        "sshsig": notice.sshsig,
    }
    return webhook_body(f"candor.notice.{notice.kind}", notice.document["time"], data)


def notice_message(
    config: Config,
    notice: SignedNotice,
    words: Email,
    channel: str,
    recipient: str,
    now: datetime,
    partner: str = "",
) -> NewMessage:
    """A notice on one channel, as the outbox keeps it until it has left."""
    key = f"{notice.stem}-{slug(config.device.name)}"
    mid = smtp.message_id(key)
    payload = signed_notice_payload(config, notice, words, channel, recipient, mid, now)
    return NewMessage(
        f"notice:{key}:{channel}",
        "notice",
        channel,
        recipient,
        mid,
        words.subject,
        payload,
        partner_id=partner,
    )


def signed_notice_payload(
    config: Config,
    notice: SignedNotice,
    words: Email,
    channel: str,
    recipient: str,
    message_id: str,
    now: datetime,
) -> bytes:
    """A signed notice's bytes on one channel: the email, or the webhook body."""
    if channel == "email":
        return notice_email(
            config, notice, words, to=recipient, message_id=message_id, date=now.timestamp()
        ).as_bytes()
    return notice_webhook_body(config, notice)


def note_message(
    config: Config, notice: SignedNotice, words: Email, channel: str, recipient: str, now: datetime
) -> NewMessage:
    """The signed note to the former channel (a former partner, or an address or webhook that
    reports no longer go to), composed as notices are; each channel has its own Message-ID,
    since each is journaled and rebuilt on its own."""
    key = f"{notice.stem}-{slug(config.device.name) if channel == 'email' else 'webhook'}"
    mid = smtp.message_id(key)
    payload = signed_notice_payload(config, notice, words, channel, recipient, mid, now)
    return NewMessage(f"notice:{key}", "notice", channel, recipient, mid, words.subject, payload)


# -- the invitation and the delivery test -----------------------------------------------------


def invitation_email(
    config: Config,
    words: Email,
    *,
    to: str,
    public_key: str,
    public_key_pem: str,
    now: datetime,
) -> EmailMessage:
    """The invitation, with the public key attached for ssh-keygen and for OpenSSL."""
    mid = smtp.message_id(f"candor-invitation-{now:%Y%m%d%H%M%S}")
    msg = _email(config, words, to=to, message_id=mid, date=now.timestamp())
    msg.add_attachment(
        public_key.encode() + b"\n",
        maintype="text",
        subtype="plain",
        filename=key_attachment_name(),
    )
    msg.add_attachment(
        public_key_pem.encode(),
        maintype="application",
        subtype="x-pem-file",
        filename=pem_attachment_name(),
    )
    return msg


DELIVERY_TEST_TEXT = (
    "This is a test message from Candor. If you can read it, Candor can send email.\n"
    "Your partner did not receive anything.\n"
)


def delivery_test_email(settings: SmtpSettings, *, to: str, now: datetime) -> EmailMessage:
    """`candor delivery test`'s email, to the person: proof the mail settings work."""
    return smtp.new_message(
        sender=smtp.sender_address(settings),
        to=to,
        subject="Candor delivery test",
        message_id=smtp.message_id(f"candor-test-{now:%Y%m%dT%H%M%S%f}"),
        text=DELIVERY_TEST_TEXT,
        date=now.timestamp(),
    )


def delivery_test_webhook(now: datetime) -> tuple[str, bytes]:
    """`candor delivery test`'s webhook-id and body: proof the receiver accepts signed posts."""
    return f"candor-test-{now:%Y%m%dT%H%M%S%f}", webhook_body("candor.test", now.isoformat(), {})


# -- immediate alerts -------------------------------------------------------------------------


def alert_email(
    config: Config, alert: SignedNotice, words: Email, *, to: str, message_id: str, date: float
) -> EmailMessage:
    """An immediate alert as an email: its words, and the signed alert attached like a notice."""
    msg = notice_email(config, alert, words, to=to, message_id=message_id, date=date)
    msg["X-Candor-Alert"] = str(alert.document.get("batch", ""))
    return msg


def alert_webhook_body(config: Config, alert: SignedNotice) -> bytes:
    """An immediate alert for a webhook (`candor.alert`), the signed document in the envelope."""
    data = {
        "device": config.device.name,
        "kind": "alert",
        "document": alert.document,
        "sshsig": alert.sshsig,
    }
    return webhook_body("candor.alert", str(alert.document["time"]), data)


def alert_message(
    config: Config,
    alert: SignedNotice,
    words: Email,
    channel: str,
    recipient: str,
    now: datetime,
    partner: str,
) -> NewMessage:
    """An immediate alert on one channel; its id and Message-ID come from the alert's batch,
    so queuing or rebuilding the same batch never makes a second message."""
    batch = str(alert.document["batch"])
    key = f"candor-alert-{partner[:12]}-{batch}-{slug(config.device.name)}"
    mid = smtp.message_id(key)
    if channel == "email":
        payload = alert_email(
            config, alert, words, to=recipient, message_id=mid, date=now.timestamp()
        ).as_bytes()
    else:
        payload = alert_webhook_body(config, alert)
    row_id = f"alert:{partner[:12]}:{batch}:{channel}"
    return NewMessage(
        row_id, "alert", channel, recipient, mid, words.subject, payload, partner_id=partner
    )
