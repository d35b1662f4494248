"""`candor delivery test`: prove email and the webhook work, to the person, never the partner."""

from __future__ import annotations

import argparse

from agent.cli.console import UserError, out, usable_settings
from agent.cli.delivery_setup import add_setup_options, prove_channels
from agent.config import Home, editing_config
from agent.journal import Journal, clock
from reporter.delivery.outbox import Outbox


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor delivery`."""
    delivery = parser.add_subparsers(metavar="ACTION")
    p = delivery.add_parser("test", help="send a test message (to you, not your partner)")
    p.add_argument("--to", metavar="ADDRESS", help="default: your sender address")
    p.set_defaults(handler=cmd_delivery_test)
    p = delivery.add_parser(
        "setup", help="set up email or a webhook for the reports, with a test message"
    )
    add_setup_options(p)
    p.set_defaults(handler=editing_config(setup))


def setup(home: Home, args: argparse.Namespace) -> int:
    """`candor delivery setup` (agent.cli.delivery_setup)."""
    from agent.cli.delivery_setup import cmd_delivery_setup

    return cmd_delivery_setup(home, args)


def cmd_delivery_test(home: Home, args: argparse.Namespace) -> int:
    """`candor delivery test`: a test message on each configured channel, to the person."""
    if not prove_channels(home, usable_settings(home), args.to):
        raise UserError(
            "No delivery is set up: `candor delivery setup` sets it up (see docs/delivery.md)."
        )
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        again = outbox.retry_failed()
    if again:
        out.print(
            f"{again} stopped message(s) will be sent again at the next pass "
            "(or now: `candor report send-due`)."
        )
    return 0
