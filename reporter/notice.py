"""One signed notice to the confirmed partner: Candor is being uninstalled, or reporting ended;
or, after `candor partner change`, to the former partner or channel (`FORMER_CHANNEL_KINDS`).

A notice is the last thing a partner hears, so it must be as trustworthy as a report: a small
JSON document (`candor-notice/1`) signed with the install's key, attached to the email with its
raw and SSH signatures exactly as report emails are, and checked with the same
`candor verify REPORT --key PUB`. It names the journal's head, so a later report (after a
reinstall, say) can be seen to continue, or not, from where the notice left off. Notices are
not numbered: they stand outside the weekly sequence. This module makes the notice; it is
composed in `reporter.delivery.messages` and sent at once by `reporter.delivery.sender`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agent.config import Config, Home
from agent.journal import Journal, clock, format_ts
from reporter import consent, invitation, signing
from reporter.document import signed_bytes
from reporter.render_text import sentence

SCHEMA = "candor-notice/1"
NoticeKind = Literal["uninstalled", "reporting_ended", "partner_changed", "channel_changed"]
KINDS: frozenset[str] = frozenset({"uninstalled", "reporting_ended"})
"""The notices sent at once to the confirmed partner (`reporter.delivery.sender.send_notice`)."""
FORMER_CHANNEL_KINDS: frozenset[str] = frozenset({"partner_changed", "channel_changed"})
"""The notes to the former channel after `candor partner change`, signed the same way."""


@dataclass(frozen=True, slots=True)
class SignedNotice:
    """A notice document with its signatures, ready to be composed for any channel."""

    kind: str
    document: dict[str, Any]
    signed_bytes: bytes
    raw_signature: bytes
    sshsig: str

    @property
    def stem(self) -> str:
        """The attachments' file name stem: the kind and the minute, so each notice differs."""
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


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """How a notice left, beyond its kind: whether the person waited for it, and whether it
    was rebuilt from the journal (`notice_queued`) because its queued copy went missing."""

    waited: bool = True
    rebuilt: bool = False
    chain_head: dict[str, Any] | None = None
    """A rebuild names the head the first copy named; None: the journal's head now."""


NOT_WAITED = "chose not to wait for this notice to be delivered"
REBUILT = "This notice's queued copy was deleted, and Candor rebuilt it from its journal."


def build_notice(
    home: Home, config: Config, journal: Journal, state: consent.ConsentState, kind: str,
    now: datetime, facts: NoticeFacts | None = None,
) -> SignedNotice:  # fmt: skip
    """Sign the `kind` notice now, naming the journal's head, so the partner can trust it."""
    facts = facts or NoticeFacts()
    key = signing.load_private_key(home)
    head = journal.head()
    current = {"seq": head.seq, "hash": head.hash} if head else None
    unsigned: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": kind,
        "device": config.device.name,
        "time": format_ts(now),
        "partner": {"name": state.partner_name, "email": state.partner_email},
        "chain_head": facts.chain_head if facts.rebuilt else current,
    }
    if not facts.waited:
        unsigned["waited"] = False
    if facts.rebuilt:
        unsigned["rebuilt"] = True
    signed = signed_bytes(unsigned)
    raw = signing.sign_raw(key, signed)
    document = {**unsigned, "signature": signing.signature_field(key, raw)}
    return SignedNotice(kind, document, signed, raw, signing.sshsig(key, signed))


def notice_words(
    config: Config,
    state: consent.ConsentState,
    kind: str,
    now: datetime,
    facts: NoticeFacts | None = None,
) -> invitation.Email:
    """What the partner reads for the `kind` notice (the words live with the invitation's)."""
    facts = facts or NoticeFacts()
    make = invitation.uninstalled if kind == "uninstalled" else invitation.reporting_ended
    words = make(config, person=state.person, when=now, name=state.partner_name)
    if not facts.waited:
        person = invitation.person_name(config, state.person)
        words = invitation.with_note(
            words, f"{sentence(person)} {NOT_WAITED}: Candor tried to send it once, then went on."
        )
    if facts.rebuilt:
        words = invitation.with_note(words, REBUILT)
    return words
