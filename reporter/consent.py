"""Consent, as the journal remembers it: may anything be sent, to whom, and how much.

The source of truth is the hash chain: every `consent_changed` event (given, invited, confirmed,
lowered, raised, renewed, revoked, partner_changed, channel_adopted) is replayed in order.
Editing the config file can never widen what is shared, nor redirect it: the partner's channel
(address, mail server, webhook) is journaled with the consent (`reporter.channel`), and after
the partner confirmed, reports go only there. The detail level in force is the
lower of the one consented to and the one configured, so lowering takes effect at once, by
command or by editing the file, while raising needs a fresh, recorded consent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from agent.config import DETAIL_LEVELS, Config, DetailLevel
from agent.journal import Event, Journal, Kind
from agent.journal.events import ConsentChanged
from reporter import channel as channels
from reporter.channel import Channel

Change = Literal[
    "given",
    "invited",
    "confirmed",
    "lowered",
    "raised",
    "renewed",
    "revoked",
    "partner_changed",
    "channel_adopted",
]
Status = Literal["none", "given", "confirmed", "revoked"]

RENEWAL_PERIOD = timedelta(days=90)
"""How long a consent stands before Candor asks the person whether to keep sharing."""


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What the journal says the person agreed to: who receives reports, at what level."""

    status: Status = "none"
    partner_name: str | None = None
    partner_email: str | None = None
    level: DetailLevel = "summary"
    given_at: datetime | None = None
    invited_at: datetime | None = None
    confirmed_at: datetime | None = None
    confirmed_seq: int | None = None
    """The journal row of the confirmation: where the first report may start."""
    revoked_at: datetime | None = None
    renewed_at: datetime | None = None
    """When the person last gave or renewed consent (what the report quotes)."""
    person: str | None = None
    """How the partner knows the person (their name, as given at `candor init`)."""
    channel: Channel | None = None
    """Where reports go, as journaled with the consent (None: not journaled yet)."""
    channel_seq: int | None = None
    """The journal row that set `channel`."""

    def renewal_due(self, now: datetime) -> bool:
        """Whether to ask the person again: consent is renewed every 90 days."""
        return (
            self.status in ("given", "confirmed")
            and self.renewed_at is not None
            and now - self.renewed_at >= RENEWAL_PERIOD
        )

    def as_json(self) -> dict[str, Any]:
        """The state for `candor partner show --json` and scripts."""

        def ts(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "status": self.status,
            "partner": {"name": self.partner_name, "email": self.partner_email},
            "level": self.level,
            "given_at": ts(self.given_at),
            "invited_at": ts(self.invited_at),
            "confirmed_at": ts(self.confirmed_at),
            "revoked_at": ts(self.revoked_at),
            "renewed_at": ts(self.renewed_at),
            "person": self.person,
            "channel": None if self.channel is None else self.channel.as_body(),
        }


def level_rank(level: str) -> int:
    """Order of the detail levels, so less and more sharing can be told apart."""
    return DETAIL_LEVELS.index(level) if level in DETAIL_LEVELS else len(DETAIL_LEVELS)


def apply(state: ConsentState, event: Event) -> ConsentState:
    """The state after one `consent_changed` event; unknown changes leave it as it was."""
    body = event.body
    change = body.get("change")
    at = event.time
    partner = body.get("partner") if isinstance(body.get("partner"), dict) else {}
    name, email = partner.get("name"), partner.get("email")
    level = body.get("level") if body.get("level") in DETAIL_LEVELS else state.level
    channel = Channel.from_body(body["channel"]) if isinstance(body.get("channel"), dict) else None
    if change in ("given", "partner_changed"):
        person = body.get("person") if isinstance(body.get("person"), str) else state.person
        return ConsentState(
            status="given",
            partner_name=name,
            partner_email=email,
            level=level,
            given_at=at,
            renewed_at=at,
            person=person,
            channel=channel,
            channel_seq=event.seq if channel else None,
        )
    if state.status in ("none", "revoked"):
        return state
    if change == "invited" and email == state.partner_email:
        return with_channel(replace(state, invited_at=at), channel, event.seq)
    if change == "confirmed" and email == state.partner_email:
        confirmed = replace(state, status="confirmed", confirmed_at=at, confirmed_seq=event.seq)
        return with_channel(confirmed, channel, event.seq)
    if change == "channel_adopted" and state.channel is None:
        return with_channel(state, channel, event.seq)
    if change == "lowered" and level_rank(level) < level_rank(state.level):
        return replace(state, level=level)
    if change == "raised":
        return replace(state, level=level, renewed_at=at)
    if change == "renewed":
        return replace(state, renewed_at=at)
    if change == "revoked":
        return replace(state, status="revoked", revoked_at=at)
    return state


def with_channel(state: ConsentState, channel: Channel | None, seq: int) -> ConsentState:
    """The state with the channel a row journaled (a row without one keeps the current one)."""
    if channel is None:
        return state
    return replace(state, channel=channel, channel_seq=seq)


def consent_state(journal: Journal) -> ConsentState:
    """Replay every consent change in the journal: the only source of truth for consent."""
    state = ConsentState()
    for event in journal.events(kinds=[Kind.CONSENT_CHANGED]):
        state = apply(state, event)
    return state


def may_report(state: ConsentState, config: Config) -> bool:
    """Reports may go out: the partner confirmed, nothing revoked, and the config in force
    (the journaled channel put in place by `reporter.channel.in_force`) agrees on who."""
    return (
        state.status == "confirmed"
        and state.partner_email is not None
        and config.partner.email is not None
        and config.partner.email.lower() == state.partner_email.lower()
    )


def sending_config(state: ConsentState, config: Config) -> Config:
    """The config reports and notices go out with: after the partner confirmed, the journaled
    channel in place of whatever config.toml now says (nothing is journaled here)."""
    if state.status in ("confirmed", "revoked"):
        return channels.in_force(state.channel, config)
    return config


def config_in_force(journal: Journal, state: ConsentState, config: Config) -> Config:
    """`sending_config` for a delivery pass, which also journals, once, an older home's channel
    (adopted from config.toml) or a channel changed by hand in config.toml (ignored)."""
    return channels.enforce(
        journal,
        config,
        status=state.status,
        partner=(state.partner_name, state.partner_email),
        level=state.level,
        channel=state.channel,
        channel_seq=state.channel_seq,
    )


def effective_level(state: ConsentState, config: Config) -> DetailLevel:
    """The lower of the consented and the configured level: sharing less is never delayed."""
    if level_rank(config.detail_level) < level_rank(state.level):
        return config.detail_level
    return state.level


def record(
    journal: Journal,
    change: Change,
    *,
    name: str | None,
    email: str | None,
    level: str,
    **extra: Any,
) -> Event:
    """Journal one consent change; `extra` are the optional facts of `ConsentChanged`."""
    event = ConsentChanged(
        change=change, partner={"name": name, "email": email}, level=level, **extra
    )
    return journal.append(event)


def text_digest(text: str) -> str:
    """Which wording the person agreed to, recorded with the consent so it can be shown later."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
