"""One signed notice to the confirmed partner: Candor is being uninstalled, or reporting ended.

A notice is the last thing a partner hears, so it must be as trustworthy as a report: a small
JSON document (`candor-notice/1`) signed with the install's key, attached to the email with its
raw and SSH signatures exactly as report emails are, and checked with the same
`candor verify REPORT --key PUB`. It names the journal's head, so a later report (after a
reinstall, say) can be seen to continue, or not, from where the notice left off. Notices are
not numbered: they stand outside the weekly sequence.

It is sent at once on every configured channel, not queued behind reports: the person is
waiting (uninstall asks before going on without it). With `queue_failed`, a channel that fails
keeps the same signed message in the outbox for the agent to retry.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal

from agent.config import Config, Home, load_config
from agent.journal import Journal, canonical_json, clock, format_ts
from agent.journal.events import ReportFailed, ReportSent
from reporter import consent, invitation, signing
from reporter.build import pretty_json
from reporter.delivery import smtp, webhook
from reporter.delivery.outbox import NewMessage, Outbox
from reporter.document import signed_bytes

SCHEMA = "candor-notice/1"
NoticeKind = Literal["uninstalled", "reporting_ended"]
KINDS: frozenset[str] = frozenset({"uninstalled", "reporting_ended"})


@dataclass(frozen=True, slots=True)
class SignedNotice:
    kind: str
    document: dict[str, Any]
    signed_bytes: bytes
    raw_signature: bytes
    sshsig: str

    @property
    def stem(self) -> str:
        moment = str(self.document["time"]).replace("-", "").replace(":", "")[:15]
        return f"candor-notice-{self.kind.replace('_', '-')}-{moment}"


def partner_to_tell(state: consent.ConsentState, kind: str) -> bool:
    """A partner who confirmed. The ended notice goes out just after the revocation is
    recorded, so for it a partner who had confirmed before revoking still counts."""
    if state.partner_email is None:
        return False
    if state.status == "confirmed":
        return True
    return kind == "reporting_ended" and state.status == "revoked" and bool(state.confirmed_at)


def has_partner_to_tell(home: Home, kind: str) -> bool:
    """Whether a confirmed partner is waiting for the `kind` notice (nothing is sent here)."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        return partner_to_tell(consent.consent_state(journal), kind)


def build_notice(
    home: Home, config: Config, journal: Journal, state: consent.ConsentState, kind: str,
    now: datetime,
) -> SignedNotice:  # fmt: skip
    key = signing.load_private_key(home)
    head = journal.head()
    unsigned: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": kind,
        "device": config.device.name,
        "time": format_ts(now),
        "partner": {"name": state.partner_name, "email": state.partner_email},
        "chain_head": {"seq": head.seq, "hash": head.hash} if head else None,
    }
    signed = signed_bytes(unsigned)
    raw = signing.sign_raw(key, signed)
    document = {**unsigned, "signature": signing.signature_field(key, raw)}
    return SignedNotice(kind, document, signed, raw, signing.sshsig(key, signed))


def _words(config: Config, state: consent.ConsentState, kind: str, now: datetime) -> Any:
    make = invitation.uninstalled if kind == "uninstalled" else invitation.reporting_ended
    return make(config, person=state.person, when=now, name=state.partner_name)


def notice_email(
    config: Config, notice: SignedNotice, words: Any, *, to: str, message_id: str, date: float
) -> EmailMessage:
    text = words.text + (
        "\nThis note is signed like the weekly reports; the attachments let you check it with\n"
        f"candor verify {notice.stem}.json --key candor-signing-key.pub\n"
    )
    msg = smtp.new_message(
        sender=smtp.sender_address(config.delivery.smtp),
        to=to,
        subject=words.subject,
        message_id=message_id,
        text=text,
        html=words.html,
        date=date,
    )
    msg["X-Candor-Notice"] = notice.kind
    stem = notice.stem
    attach = (
        (pretty_json(notice.document), "application", "json", f"{stem}.json"),
        (notice.signed_bytes, "application", "json", f"{stem}.signed.json"),
        (notice.raw_signature, "application", "octet-stream", f"{stem}.signed.json.sig"),
        (notice.sshsig.encode("ascii"), "text", "plain", f"{stem}.signed.json.sshsig"),
    )
    for data, maintype, subtype, name in attach:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def webhook_body(config: Config, notice: SignedNotice) -> bytes:
    body = {
        "type": f"candor.notice.{notice.kind}",
        "timestamp": notice.document["time"],
        "data": {
            "device": config.device.name,
            "kind": notice.kind,
            "document": notice.document,
            "sshsig": notice.sshsig,
        },
    }
    return canonical_json(body)


def send_notice(
    home: Home, kind: str, *, queue_failed: bool = False, timeout: float = 30.0
) -> bool:
    """Sign and send the `kind` notice to the confirmed partner on every configured channel.

    True when at least one channel delivered it (the partner has been told). Each attempt is
    journaled as `report_sent` or `report_failed` (body `kind: "notice"`, `notice`, `channel`,
    and the reason). False, with a sentence on stderr, when there is no one to tell or no way.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    config = load_config(home)
    now = clock.now()
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
        if not partner_to_tell(state, kind):
            _say("No partner has confirmed, so no notice was sent.")
            return False
        channels = _channels(config, state)
        if not channels:
            _say(
                "No delivery is set up ([delivery.smtp] or [delivery.webhook]): no notice was sent."
            )
            return False
        notice = build_notice(home, config, journal, state, kind, now)
        words = _words(config, state, kind, now)
        delivered = False
        for channel, recipient in channels:
            message = _message(home, config, notice, words, channel, recipient, now)
            if _deliver(home, config, journal, message, kind, now, timeout):
                delivered = True
            elif queue_failed:
                with Outbox(journal) as outbox:
                    outbox.add_message(message)
    return delivered


def _channels(config: Config, state: consent.ConsentState) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    email = state.partner_email or ""
    if config.delivery.smtp.host and (config.partner.email or "").lower() == email.lower():
        out.append(("email", email))
    if config.delivery.webhook.url:
        out.append(("webhook", config.delivery.webhook.url))
    return out


def _message(
    home: Home, config: Config, notice: SignedNotice, words: Any, channel: str, recipient: str,
    now: datetime,
) -> NewMessage:  # fmt: skip
    key = f"{notice.stem}-{_slug(config.device.name)}"
    mid = smtp.message_id(key)
    if channel == "email":
        payload = notice_email(
            config, notice, words, to=recipient, message_id=mid, date=now.timestamp()
        ).as_bytes()
    else:
        payload = webhook_body(config, notice)
    return NewMessage(f"notice:{key}:{channel}", "notice", channel, recipient, mid,
                      words.subject, payload)  # fmt: skip


def _deliver(
    home: Home, config: Config, journal: Journal, message: NewMessage, kind: str, now: datetime,
    timeout: float,
) -> bool:  # fmt: skip
    try:
        if message.channel == "email":
            smtp.send(config.delivery.smtp, message.payload, [message.recipient], timeout=timeout)
        else:
            webhook.post(
                message.recipient,
                message.payload,
                webhook_id=message.id,
                key=signing.load_private_key(home),
                now=now,
                timeout=timeout,
            )
    except smtp.DeliveryError as exc:
        failed = ReportFailed(
            channel=message.channel,
            message_kind="notice",
            notice=kind,
            reason=str(exc),
            permanent=exc.permanent,
            attempts=1,
        )
        journal.append(failed)
        _say(f"The notice was not sent by {message.channel}: {exc}")
        return False
    sent = ReportSent(
        channel=message.channel,
        message_kind="notice",
        notice=kind,
        message_id=message.message_id,
        attempts=1,
    )
    journal.append(sent)
    return True


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40] or "device"


def _say(sentence: str) -> None:
    """For the person running the command; the journal holds the record."""
    print(sentence, file=sys.stderr, flush=True)
