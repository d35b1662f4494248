"""`candor rules allow HOST`: a site the person trusts, let through whatever names it.

The allowlist in config.toml overrides every source: the person's rules, imported and shipped
lists, and the name recogniser. It is the honest answer to a false positive from a public list,
where `candor rules remove` has no line to take out. Adding to it loosens filtering, so it waits
for the cooling-off delay and the weekly report lists it, like any loosening.
"""

from __future__ import annotations

import argparse

from pydantic import TypeAdapter, ValidationError

from agent.cli.console import UserError, out
from agent.cli.taking_effect import taking_effect
from agent.config import Home, load_config, save_config
from agent.config.model import HostEntry
from agent.journal.loosening import Loosening
from agent.policy.temporary_allow import GrantError, check_not_public_suffix


def cmd_rules_allow(home: Home, args: argparse.Namespace) -> int:
    """Add HOST to the allowlist (config.toml), then say when that takes effect."""
    try:
        host = TypeAdapter(HostEntry).validate_python(args.host)
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "not a host name").removeprefix("Value error, ")
        raise UserError(f"'{args.host}' {reason}. Nothing was added.") from None
    try:
        check_not_public_suffix(host)
    except GrantError as exc:
        raise UserError(f"{exc} Nothing was added.") from None
    config = load_config(home)
    if host in config.allowlist:
        out.print(f"{host} is already on your allowlist.", markup=False)
        return 0
    config.allowlist = [*config.allowlist, host]
    save_config(home, config)
    out.print(
        f"Added {host} to your allowlist in config.toml: it is let through whatever list, rule "
        "or recogniser names it.",
        markup=False,
    )
    out.print(
        taking_effect(home, lambda p: p.what == Loosening.ALLOWLIST_ADDED and p.value == host),
        markup=False,
    )
    return 0
