"""The partner's channel, a consent fact: where reports go is what the journal says, not the file.

The channel is the partner's email address, the mail server (host, port, user) and the webhook
URL. It is journaled with the consent (`consent_changed` rows carry `channel`) when the partner
is invited, confirms, or is changed with `candor partner change`. After the partner has
confirmed, reports and notices go only to the journaled channel: a channel in config.toml that
differs from it is ignored, and the difference is journaled once (`bypass_suspected`, what
`channel_edited`) so the next report states it. The SMTP password is never in config.toml; when
it can be read at invitation time the journal keeps only its SHA-256 (`password_sha256`), which
is kept for the record and never compared: a new password does not change who receives reports.
A home whose consent was journaled before channels were adopts the channel in config.toml once
(`consent_changed` change `channel_adopted`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from agent.config import Config
from agent.journal import Journal, Kind
from agent.journal.events import BypassSuspected, ConsentChanged

EDITED = "channel_edited"
"""The `what` of the `bypass_suspected` row journaled when config.toml names another channel."""

CHANGE_COMMAND = "candor partner change"
"""The one command that changes the channel for real (the former channel is told)."""


def secret_digest(secret: str) -> str:
    """How a secret (the SMTP password) is journaled: its SHA-256, never the text."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Channel:
    """Where reports go: the partner's address, the mail server, the webhook URL."""

    email: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    webhook_url: str | None = None
    password_sha256: str | None = None
    """The SMTP password's SHA-256 when it was read; for the record only, never compared."""

    @classmethod
    def from_config(cls, config: Config, password: str | None = None) -> Channel:
        """The channel config.toml names now (with the password's hash, when it was read)."""
        smtp = config.delivery.smtp
        return cls(
            email=config.partner.email,
            smtp_host=smtp.host,
            smtp_port=smtp.effective_port if smtp.host else None,
            smtp_username=smtp.username,
            webhook_url=config.delivery.webhook.url,
            password_sha256=secret_digest(password) if password else None,
        )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Channel:
        """A channel as a `consent_changed` row holds it (`as_body`)."""
        smtp = body.get("smtp") if isinstance(body.get("smtp"), Mapping) else {}
        webhook = body.get("webhook") if isinstance(body.get("webhook"), Mapping) else {}
        port = smtp.get("port")
        return cls(
            email=body.get("email"),
            smtp_host=smtp.get("host"),
            smtp_port=port if isinstance(port, int) else None,
            smtp_username=smtp.get("username"),
            webhook_url=webhook.get("url"),
            password_sha256=smtp.get("password_sha256"),
        )

    def as_body(self) -> dict[str, Any]:
        """The channel as the journal keeps it: secrets only as hashes."""
        smtp: dict[str, Any] | None = None
        if self.smtp_host:
            smtp = {"host": self.smtp_host, "port": self.smtp_port, "username": self.smtp_username}
            if self.password_sha256:
                smtp["password_sha256"] = self.password_sha256
        webhook = {"url": self.webhook_url} if self.webhook_url else None
        return {"email": self.email, "smtp": smtp, "webhook": webhook}

    def with_email(self, email: str | None) -> Channel:
        """The same channel for another address (a partner changed by name and address)."""
        return replace(self, email=email)

    def differences(self, other: Channel) -> list[str]:
        """What `other` (config.toml) changes from this channel (the journal's), in words."""
        facts = [
            ("the partner's address", _lower(self.email), _lower(other.email)),
            ("the mail server", self.smtp_host, other.smtp_host),
            ("the mail server's port", self.smtp_port, other.smtp_port),
            ("the mail login", self.smtp_username, other.smtp_username),
            ("the webhook address", self.webhook_url, other.webhook_url),
        ]
        return [f"{what} to {_shown(new)}" for what, old, new in facts if old != new]

    def words(self) -> str:
        """Where reports go, in one line for `partner show` and the invitation."""
        parts = []
        if self.email and self.smtp_host:
            login = f", login {self.smtp_username}" if self.smtp_username else ""
            parts.append(f"email to {self.email} via {self.smtp_host}:{self.smtp_port}{login}")
        elif self.email:
            parts.append(f"email to {self.email} (no mail server set)")
        if self.webhook_url:
            parts.append(f"webhook {self.webhook_url}")
        return "; ".join(parts) or "nowhere yet"


def _lower(value: str | None) -> str | None:
    return value.lower() if value else value


def _shown(value: object) -> str:
    return "nothing" if value in (None, "") else str(value)


def in_force(channel: Channel | None, config: Config) -> Config:
    """`config` with the journaled channel in place of the one in the file (if one is kept)."""
    if channel is None:
        return config
    new = config.model_copy(deep=True)
    new.partner.email = channel.email
    new.delivery.smtp.host = channel.smtp_host
    new.delivery.smtp.port = channel.smtp_port
    new.delivery.smtp.username = channel.smtp_username
    new.delivery.webhook.url = channel.webhook_url
    return new


def ignored_change(channel: Channel | None, config: Config) -> str | None:
    """What config.toml changes from the confirmed channel (`the partner's address to …`)."""
    if channel is None:
        return None
    changes = channel.differences(Channel.from_config(config))
    return "; ".join(changes) if changes else None


def status_note(channel: Channel | None, confirmed: bool, config: Config) -> str | None:
    """For `candor status` and `partner show`: the ignored change and the command that works."""
    change = ignored_change(channel, config) if confirmed else None
    if change is None or channel is None:
        return None
    return (
        f"config.toml was changed by hand ({change}). Candor ignores it and keeps sending to "
        f"the confirmed channel ({channel.words()}). To change where reports go, run "
        f"`{CHANGE_COMMAND}` (your partner is told and confirms)."
    )


def enforce(
    journal: Journal,
    config: Config,
    *,
    status: str,
    partner: tuple[str | None, str | None],
    level: str,
    channel: Channel | None,
    channel_seq: int | None,
) -> Config:
    """The config a pass sends with: the journaled channel, adopted once for an older home,
    and a hand-made change journaled once (the next report states it)."""
    if status != "confirmed":
        return in_force(channel, config) if status == "revoked" else config
    if channel is None:
        adopted = Channel.from_config(config).with_email(partner[1])
        journal.append(
            ConsentChanged(
                change="channel_adopted",
                partner={"name": partner[0], "email": partner[1]},
                level=level,
                channel=adopted.as_body(),
                by="config.toml",
            )
        )
        return in_force(adopted, config)
    detail = ignored_change(channel, config)
    if detail is not None and not _already_journaled(journal, detail, channel_seq):
        journal.append(BypassSuspected(what=EDITED, detail=detail, source="config.toml"))
    return in_force(channel, config)


def _already_journaled(journal: Journal, detail: str, since_seq: int | None) -> bool:
    """Whether this very change was journaled since the channel was last set."""
    rows = journal.events(kinds=[Kind.BYPASS_SUSPECTED], after_seq=since_seq)
    return any(row.body.get("what") == EDITED and row.body.get("detail") == detail for row in rows)
