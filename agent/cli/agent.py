"""`candor run`, `candor allow` and `candor status`: the agent, the escape hatch, the dashboard."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from agent.cli.console import UserError, out
from agent.config import Home, format_duration, parse_duration
from agent.health.pidfile import is_candor, read_pid_file
from agent.journal import Journal, clock
from agent.journal.events import AllowGranted
from agent.policy.temporary_allow import MAX_GRANT, GrantError, add_grant, end_grant


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the arguments of `candor run`, `candor allow` or `candor status`."""
    if name == "run":
        parser.add_argument(
            "--listen", metavar="HOST:PORT", help="address to listen on (port 0: any)"
        )
        parser.add_argument(
            "--resolve",
            metavar="PATTERN:IP",
            action="append",
            default=[],
            help="connect hosts matching PATTERN to IP, like curl's --resolve (testing)",
        )
        parser.add_argument("--upstream-ca", metavar="FILE", type=Path, help="extra CA for origins")
        parser.set_defaults(handler=cmd_run)
    elif name == "allow":
        parser.description = (
            "Let HOST (and its subdomains; =HOST for that host alone) through at once, for at "
            f"most {format_duration(MAX_GRANT)}. Meant for an urgent false positive: it is "
            "recorded, shown by `candor status` and in the weekly report, and ends by itself."
        )
        parser.add_argument("host", metavar="HOST")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--for", dest="duration", metavar="DURATION", help='e.g. "15m", "2h"')
        group.add_argument("--end", action="store_true", help="end this host's allow now")
        parser.set_defaults(handler=cmd_allow)
    else:
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--no-verify", action="store_true", help="skip checking the journal chain (faster)"
        )
        parser.set_defaults(handler=cmd_status)


def cmd_run(home: Home, args: argparse.Namespace) -> int:
    """Start the agent in the foreground; mitmproxy is imported only here."""
    from agent.proxy.lean_start import register_bare_addons_package

    register_bare_addons_package()
    from agent.proxy.runner import run

    return run(home, listen=args.listen, resolve=args.resolve, upstream_ca=args.upstream_ca)


def cmd_allow(home: Home, args: argparse.Namespace) -> int:
    """`candor allow HOST --for D` (or `--end`): a short, recorded way past a false positive."""
    now = clock.now()
    try:
        if args.end:
            ended = end_grant(home.state_dir, args.host, now)
            if ended is None:
                raise UserError(f"There is no temporary allow for {args.host} in force.")
            out.print(f"Ended the temporary allow for {ended.host}.", markup=False)
            return 0
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UserError(f"--for {exc}.") from None
        grant = add_grant(home.state_dir, args.host, duration, now)
    except GrantError as exc:
        raise UserError(str(exc)) from None
    with Journal(home.journal_file) as journal:
        journal.append(
            AllowGranted(
                host=grant.host,
                duration=format_duration(duration),
                seconds=int(duration.total_seconds()),
                until=grant.until.isoformat(),
            )
        )
    out.print(
        f"Allowed {grant.host} until {_local(grant.until)} ({format_duration(duration)}). "
        "This is recorded and will be in your weekly report.",
        markup=False,
    )
    found = read_pid_file(home.pid_file)
    if found is None or not is_candor(found[0]):
        out.print("Candor is not running; the allow applies as soon as it runs.")
    return 0


def cmd_status(home: Home, args: argparse.Namespace) -> int:
    """Print the status; the reporter's delivery notes are handed in from here."""
    from agent.health.status import collect  # reads everything; only this command needs it
    from agent.health.status_text import format_status
    from reporter.delivery.sender import status_notes

    status = collect(home, verify=not args.no_verify, delivery_notes=status_notes)
    if args.json:
        out.print_json(json.dumps(status.as_json()))
    else:
        for line in format_status(status):
            out.print(line, markup=False)
    return 0


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M on %a %d %b")
