"""`candor partner change` for the channel: a new mail server or webhook, the honest way.

Where reports go is a consent fact (`reporter.channel`): changing the mail server, its port or
login, or the webhook URL is a change of partner channel. The former channel is told (the old
address through the old server, and the old webhook URL), the partner confirms again with the
code of a new invitation, and the journal records the change with the new channel.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from agent.config import Config, Home
from reporter import consent, invitation, notice
from reporter.channel import Channel, ignored_change
from reporter.consent import ConsentState
from reporter.delivery import messages, rebuild
from reporter.delivery.sender import Sender

CHANNEL_OPTIONS = ("smtp_host", "smtp_port", "smtp_user", "webhook_url")
"""The `partner change` options that name a new channel (argparse destinations)."""


def add_channel_options(parser: argparse.ArgumentParser) -> None:
    """The options of `candor partner change` that move reports to a new channel."""
    parser.add_argument("--smtp-host", help="the mail server reports go out through")
    parser.add_argument("--smtp-port", type=int, help="the mail server's port")
    parser.add_argument("--smtp-user", help="the login on that mail server")
    parser.add_argument("--webhook-url", help='the webhook URL ("" to stop using a webhook)')


def moving(args: argparse.Namespace, state: ConsentState, config: Config) -> bool:
    """Whether this change keeps the partner and moves the channel: a channel option was given,
    or config.toml names another channel than the confirmed one (edited by hand, ignored)."""
    if any(getattr(args, name, None) is not None for name in CHANNEL_OPTIONS):
        return True
    return state.status == "confirmed" and ignored_change(state.channel, config) is not None


def new_channel_config(config: Config, args: argparse.Namespace) -> Config:
    """config.toml as it is, with the channel options applied: the channel to be confirmed."""
    new = config.model_copy(deep=True)
    smtp_settings = new.delivery.smtp
    if args.smtp_host is not None:
        smtp_settings.host = args.smtp_host or None
    if args.smtp_port is not None:
        smtp_settings.port = args.smtp_port
    if args.smtp_user is not None:
        smtp_settings.username = args.smtp_user or None
    if args.webhook_url is not None:
        new.delivery.webhook.url = args.webhook_url or None
    return new


def same_channel(state: ConsentState, new: Config) -> bool:
    """Whether `new` names the channel already journaled (or none is journaled yet)."""
    return state.channel is None or not state.channel.differences(Channel.from_config(new))


def tell_former_channel(
    home: Home, config: Config, state: ConsentState, new: Config, now: datetime
) -> str:
    """Queue the note to the former channel (old address via the old server, old webhook) and
    try it now; "sent" when every one left, else "queued" (the agent keeps trying)."""
    old = consent.sending_config(state, config)
    email = state.partner_email or ""
    same_partner = (new.partner.email or "").lower() == email.lower()
    if same_partner:
        words = invitation.channel_changed(
            old,
            person=state.person,
            when=now,
            name=state.partner_name,
            where=Channel.from_config(new).words(),
        )
    else:
        words = invitation.no_longer_partner(
            old, person=state.person, when=now, name=state.partner_name
        )
    kind = "channel_changed" if same_partner else "partner_changed"
    targets = []
    if old.delivery.smtp.host and email:
        targets.append(("email", email))
    if old.delivery.webhook.url:
        targets.append(("webhook", old.delivery.webhook.url))
    with Sender(home) as sender:  # signed like every notice, naming the journal's head
        signed = notice.build_notice(home, old, sender.journal, state, kind, now)
        notes = [messages.note_message(old, signed, words, *target, now) for target in targets]
        for note in notes:  # journaled with its words (`notice_queued`): rebuilt if deleted
            rebuild.queue_note(sender.outbox, note, signed, words, state)
        result = sender.deliver(old)
    sent = sum(1 for row in result.sent if row.kind == "notice")
    return "sent" if notes and sent >= len(notes) else "queued"
