"""`candor delivery setup`: email or a webhook for the reports, tested before it is saved.

The settings are checked by the same model as config.toml, then proven with a test message to
the person (never the partner): a mail server that refuses the login, or a webhook that does not
answer, is said in one sentence and nothing is saved (`--no-test` saves untested, for a server
that is down today). Once a partner has confirmed, where reports go is a consent fact: a new
server or webhook is a `candor partner change`, which tells the partner and asks them to
confirm again, so this command refuses it and says so.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from pydantic import ValidationError

from agent.cli.console import UserError, out
from agent.cli.prompts import ask
from agent.config import Config, Home, load_config, save_config
from agent.config.files import write_atomic
from agent.journal import Journal, clock
from reporter import consent, signing
from reporter.channel import Channel
from reporter.delivery import messages, smtp, webhook

PASSWORD_FILE = "smtp-password"
"""Where a password typed at the terminal is kept: `keys/`, 0600, like the signing key."""
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
OPTION_OF = {
    "url": "--webhook-url",
    "host": "--smtp-host",
    "port": "--smtp-port",
    "security": "--smtp-security",
    "username": "--smtp-user",
    "password_source": "--password-source",
    "sender": "--sender",
}
"""The option that set each setting, to name in a complaint."""


def add_setup_options(parser: argparse.ArgumentParser) -> None:
    """The options of `candor delivery setup` (asked at a terminal when not given)."""
    parser.add_argument(
        "--smtp-host", help="your mail provider's SMTP server, e.g. smtp.example.org"
    )
    parser.add_argument("--smtp-port", type=int, help="its port (default: 587, or 465 for tls)")
    parser.add_argument(
        "--smtp-security", choices=("starttls", "tls", "none"), help="default: starttls"
    )
    parser.add_argument("--smtp-user", help="the login name on that server")
    parser.add_argument(
        "--password-source",
        metavar="SOURCE",
        help='"keyring", "env:NAME" or "file:PATH" (asked and kept in keys/ if not given)',
    )
    parser.add_argument("--sender", metavar="ADDRESS", help="the From address (default: login)")
    parser.add_argument("--webhook-url", metavar="URL", help="post reports here instead (https)")
    parser.add_argument("--test-to", metavar="ADDRESS", help="where the test email goes")
    parser.add_argument("--no-test", action="store_true", help="save without a test message")


def cmd_delivery_setup(home: Home, args: argparse.Namespace) -> int:
    """Check, test and save the delivery settings."""
    config = load_config(home)
    new = _with_answers(home, config, args)
    _refuse_moving_a_confirmed_channel(home, new)
    if not args.no_test:
        _test(home, new, args.test_to)
    save_config(home, new)
    if new.delivery.webhook.url:
        out.print(f"Saved: reports can be posted to {new.delivery.webhook.url}.", markup=False)
    if new.delivery.smtp.host:
        smtp_settings = new.delivery.smtp
        out.print(
            f"Saved: reports can go out through {smtp_settings.host}:{smtp_settings.port} as "
            f"{smtp.sender_address(smtp_settings)}.",
            markup=False,
        )
    out.print("Nothing goes to a partner until they confirm (`candor partner show`).")
    return 0


def blank_answers() -> argparse.Namespace:
    """No options given: everything is asked (the wizard's delivery step)."""
    return argparse.Namespace(
        smtp_host=None,
        smtp_port=None,
        smtp_security=None,
        smtp_user=None,
        password_source=None,
        sender=None,
        webhook_url=None,
        test_to=None,
        no_test=False,
    )


def _with_answers(home: Home, config: Config, args: argparse.Namespace) -> Config:
    """config with the answers applied and checked by the model (errors in one sentence)."""
    asking = sys.stdin.isatty() and args.smtp_host is None and args.webhook_url is None
    new = config.model_copy(deep=True)
    try:
        if args.webhook_url is not None:
            new.delivery.webhook.url = args.webhook_url or None
        host = args.smtp_host or (ask("Mail server (SMTP)") if asking else None)
        if host:
            _smtp_answers(home, new, host, args, asking)
        return Config.model_validate(new.model_dump())
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str((error.get("loc") or ("",))[-1])
        where = OPTION_OF.get(field, field)
        said = error.get("msg", "is not valid").removeprefix("Value error, ")
        raise UserError(f"{where} {said}. Nothing was saved.") from None


def _smtp_answers(
    home: Home, new: Config, host: str, args: argparse.Namespace, asking: bool
) -> None:
    s = new.delivery.smtp
    s.host = host
    s.security = args.smtp_security or s.security
    s.port = args.smtp_port or s.port or DEFAULT_PORTS[s.security]
    s.username = args.smtp_user or (ask("Login name", s.username) if asking else s.username)
    s.sender = args.sender or s.sender
    if args.password_source:
        s.password_source = args.password_source
    elif asking and s.username:
        s.password_source = _keep_password(home, getpass.getpass("Password (not shown): "))


def _keep_password(home: Home, password: str) -> str:
    """Keep a typed password in keys/ (0600), as docs/delivery.md describes `file:`."""
    if not password:
        raise UserError("A password is needed to log in; nothing was saved.")
    path: Path = home.keys_dir / PASSWORD_FILE
    write_atomic(path, password + "\n", mode=0o600)
    return f"file:{path}"


def _refuse_moving_a_confirmed_channel(home: Home, new: Config) -> None:
    if not home.journal_file.exists():
        return
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
    if state.status != "confirmed" or state.channel is None:
        return
    if state.channel.differences(Channel.from_config(new)):
        who = state.partner_name or state.partner_email
        raise UserError(
            f"Reports to {who} go the way they confirmed; a new mail server or webhook is a "
            "partner change, so they are told and confirm again: `candor partner change "
            "--smtp-host HOST` (or --webhook-url URL). Nothing was saved."
        )


def _test(home: Home, config: Config, test_to: str | None) -> None:
    """One test message on each channel set up; a failure is one sentence, nothing saved."""
    if not prove_channels(home, config, test_to, after=" Nothing was saved."):
        raise UserError("Give a mail server (--smtp-host) or a webhook (--webhook-url).")


def prove_channels(home: Home, config: Config, to: str | None, *, after: str = "") -> bool:
    """A test message on each channel `config` sets up, to the person (never the partner);
    a failure is a UserError in one sentence (ending in `after`). False when none is set up."""
    now = clock.now()
    s = config.delivery.smtp
    if s.host:
        to = to or smtp.sender_address(s)
        if not to:
            raise UserError(f"Say where the test email goes: --to ADDRESS.{after}")
        try:
            smtp.send(s, messages.delivery_test_email(s, to=to, now=now).as_bytes(), [to])
        except smtp.DeliveryError as exc:
            raise UserError(f"Email does not work yet. {exc}{after}") from None
        out.print(f"Email works: a test message went to {to}.", markup=False)
    if config.delivery.webhook.url:
        webhook_id, body = messages.delivery_test_webhook(now)
        try:
            webhook.post(
                config.delivery.webhook.url,
                body,
                webhook_id=webhook_id,
                key=signing.load_private_key(home),
                now=now,
            )
        except smtp.DeliveryError as exc:
            raise UserError(f"The webhook does not work yet. {exc}{after}") from None
        out.print("The webhook works: it accepted a signed test message.")
    return bool(s.host or config.delivery.webhook.url)
