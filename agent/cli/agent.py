"""`candor run`, `candor allow` and `candor status`: the agent, the escape hatch, the dashboard."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from agent.cli.console import UserError, out, usable_settings
from agent.config import Home, format_duration, parse_duration
from agent.config.shell_words import command_line
from agent.journal import clock
from agent.policy.temporary_allow import MAX_GRANT, GrantError


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the arguments of `candor run`, `candor allow` or `candor status`."""
    if name == "run":
        parser.add_argument(
            "--listen", metavar="HOST:PORT", help="address to listen on (port 0: any)"
        )
        parser.add_argument(
            "--transparent",
            metavar="HOST:PORT",
            action="append",
            default=[],
            help="also take connections redirected here by a firewall rule (docs/capture.md); "
            "give it twice for 127.0.0.1 and [::1]",
        )
        parser.add_argument(
            "--local",
            metavar="SPEC",
            nargs="?",
            const="",
            help="also capture this computer's programs with mitmproxy's local mode (macOS, "
            "Windows; docs/capture.md): every one but Candor's own, or those SPEC names",
        )
        parser.add_argument(
            "--resolve",
            metavar="PATTERN:IP",
            action="append",
            default=[],
            help="connect hosts matching PATTERN to IP, like curl's --resolve (testing)",
        )
        parser.add_argument("--upstream-ca", metavar="FILE", type=Path, help="extra CA for origins")
        parser.add_argument(
            "--dns",
            metavar="HOST:PORT",
            action="append",
            default=[],
            help="also answer DNS here (UDP and TCP; repeat for IPv4 and IPv6; docs/dns.md)",
        )
        parser.add_argument(
            "--dns-upstream",
            metavar="IP[:PORT]",
            help="resolver Candor's DNS forwards to (default: the system's, from /etc/resolv.conf)",
        )
        parser.add_argument(
            "--capture-table",
            metavar="FILE",
            type=Path,
            help="the nftables table installed for --transparent, kept as text: the self-check "
            "compares the kernel's with it (docs/capture.md)",
        )
        parser.set_defaults(handler=cmd_run)
    elif name == "selfcheck":
        parser.description = (
            "With --probe: look up and connect to the running agent's test name, as an "
            "ordinary app would, to show that the system capture leads to Candor (run by the "
            "system install's timer, as root with --user; docs/capture.md)."
        )
        parser.add_argument(
            "--probe", action="store_true", required=True, help="make the probe (required)"
        )
        parser.add_argument(
            "--user", metavar="NAME", help="make the probe as this unprivileged user (root only)"
        )
        parser.set_defaults(handler=cmd_selfcheck)
    elif name == "allow":
        parser.description = (
            "Let HOST (and its subdomains; =HOST for that host alone) through at once, for at "
            f"most {format_duration(MAX_GRANT)}: only a site a rule blocks or warns, never a "
            "public suffix like com. Meant for an urgent false positive: it is recorded with "
            "your reason, shown by `candor status` and in the weekly report, and ends by itself."
        )
        parser.add_argument("host", metavar="HOST", help="the site, e.g. example.com")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--for", dest="duration", metavar="DURATION", help='e.g. "15m", "2h"')
        group.add_argument("--end", action="store_true", help="end this host's allow now")
        parser.add_argument(
            "--reason", metavar="TEXT", help="why you need it, in a few words (asked if not given)"
        )
        parser.set_defaults(handler=cmd_allow)
    else:
        parser.add_argument("--json", action="store_true", help="as JSON, for scripts")
        parser.add_argument(
            "--no-verify", action="store_true", help="skip checking the journal chain (faster)"
        )
        parser.set_defaults(handler=cmd_status)


def cmd_run(home: Home, args: argparse.Namespace) -> int:
    """Start the agent in the foreground; mitmproxy is imported only here."""
    from agent.proxy.lean_start import register_bare_addons_package

    register_bare_addons_package()
    from agent.cli.first_steps import first_steps_lines
    from agent.proxy.runner import run

    return run(
        home,
        listen=args.listen,
        transparent=args.transparent,
        local=args.local,
        resolve=args.resolve,
        upstream_ca=args.upstream_ca,
        dns=args.dns,
        dns_upstream=args.dns_upstream,
        capture_table=args.capture_table,
        first_steps=first_steps_lines(home),
    )


def cmd_selfcheck(home: Home, args: argparse.Namespace) -> int:
    """`candor selfcheck --probe [--user NAME]`: the capture's probe, answered by Candor or not."""
    from agent.health.probe import ProbeError, probe_as, probe_name

    try:
        probe_as(probe_name(home), args.user)
    except ProbeError as exc:
        raise UserError(f"The probe did not reach Candor: {exc}.") from None
    out.print("The probe reached Candor: its lookup and its connection were answered.")
    return 0


def cmd_allow(home: Home, args: argparse.Namespace) -> int:
    """`candor allow HOST --for D --reason R` (or `--end`): a short, recorded way past a false
    positive. The journal row is the grant: it applies once it is written."""
    from agent.journal import JournalWriteError
    from agent.policy.ledger import add_grant, end_grant

    now = clock.now()
    try:
        if args.end:
            try:
                ended = end_grant(home, args.host, now=now)
            except JournalWriteError as exc:
                outcome = f"the temporary allow for {args.host} was not ended"
                raise UserError(exc.sentence(outcome)) from None
            if ended is None:
                raise UserError(f"There is no temporary allow for {args.host} in force.")
            out.print(f"Ended the temporary allow for {ended.host}.", markup=False)
            return 0
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UserError(f"--for {exc}.") from None
        host = _blocked_host(home, args.host)
        reason = args.reason if args.reason is not None else _ask_reason()
        try:
            grant = add_grant(home, host, duration, reason, now=now)
        except JournalWriteError as exc:
            raise UserError(exc.sentence("the allow was not granted")) from None
    except GrantError as exc:
        raise UserError(str(exc)) from None
    out.print(
        f"Allowed {grant.host} until {_local(grant.until)} ({format_duration(duration)}). "
        "This is recorded, with your reason, and will be in your weekly report.",
        markup=False,
    )
    from agent.cli.taking_effect import at_once, is_running

    out.print(at_once(is_running(home)), markup=False)
    return 0


def _blocked_host(home: Home, host: str) -> str:
    """`host`, normalised, if a rule blocks or warns it now (temporary allows aside); else a
    GrantError saying there is nothing to allow."""
    from agent.policy.rulebook import load_rules
    from agent.policy.temporary_allow import check_not_public_suffix, normalise_grant_host

    name = normalise_grant_host(host)
    check_not_public_suffix(name)
    loaded = load_rules(home, usable_settings(home), with_grants=False)
    decision = loaded.matcher.decide(f"https://{name.removeprefix('=')}/")
    if decision.decision not in ("block", "warn"):
        site = name.removeprefix("=")
        test = command_line("candor", "rules", "test", f"https://{site}/")
        raise GrantError(
            f"No rule blocks or warns {site}, so there is nothing to allow. `{test}` says why."
        )
    return name


def _ask_reason() -> str:
    """The reason, asked at the terminal; a script must give --reason."""
    if not sys.stdin.isatty():
        raise GrantError('Say why, in a few words: --reason "...". It is recorded with the allow.')
    try:
        return input("Why do you need this site now? ")
    except EOFError:
        raise GrantError("A reason is needed; nothing was allowed.") from None


def cmd_status(home: Home, args: argparse.Namespace) -> int:
    """Print the status; the reporter's delivery notes are handed in from here."""
    from agent.cli.first_steps import setup_notes
    from agent.health.status import collect  # reads everything; only this command needs it
    from agent.health.status_text import format_status
    from reporter.delivery.sender import status_notes

    status = collect(
        home,
        verify=not args.no_verify,
        delivery_notes=status_notes,
        setup_notes=setup_notes,
    )
    if args.json:
        out.print_json(json.dumps(status.as_json()))
    else:
        for line in format_status(status):
            out.print(line, markup=False)
    return 0


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M on %a %d %b")
