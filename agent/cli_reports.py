"""`candor report preview` and `candor verify`: see exactly what is sent, and check it.

The preview builds the next report the way the outbox will (next sequence number, the previous
report's hash, the level consented to) and writes its bytes unchanged to stdout, not through the
console, so `candor report preview --format json > r.json` is the attachment byte for byte.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from agent import clock
from agent.config import Config, Home, load_config
from agent.console import UserError, command_group, out
from agent.journal import Journal
from reporter import consent, schedule, signing
from reporter.build import BuiltReport, build_report
from reporter.verify import verify


def register(sub: argparse._SubParsersAction) -> None:
    report = command_group(sub, "report", "weekly reports")
    p = report.add_parser("preview", help="print the next report exactly as it would be sent")
    p.add_argument("--week", metavar="YYYY-Www", help="the ISO week (default: the next report's)")
    p.add_argument("--format", choices=("text", "html", "json"), default="text")
    p.set_defaults(handler=cmd_report_preview)

    p = sub.add_parser("verify", help="check a report's signature (and its links to earlier ones)")
    p.add_argument("report", type=Path, metavar="REPORT")
    p.add_argument("--key", type=Path, metavar="PUB", help="the public key from the invitation")
    p.add_argument("--previous", type=Path, metavar="DIR", help="a folder of earlier reports")
    p.set_defaults(handler=cmd_verify)


# -- preview --------------------------------------------------------------------------------


def _check_week(text: str) -> str:
    try:
        schedule.week_monday(text)
    except ValueError:
        raise UserError(f"--week must be an ISO week like 2026-W48 (found {text!r}).") from None
    return text


def _next_report(journal: Journal) -> tuple[int, str | None, str | None]:
    """(seq, prev_report_hash, last week) from the outbox, or a first report without one."""
    try:
        from reporter.outbox import Outbox
    except ImportError:
        return 1, None, None
    outbox = Outbox(journal)
    try:
        last = outbox.last_report()
    except sqlite3.Error:  # an older journal without the outbox tables: the first report
        return 1, None, None
    finally:
        outbox.close()
    if last is None:
        return 1, None, None
    return last.seq + 1, last.hash, last.week


def _shared_level(journal: Journal, config: Config) -> Config:
    """The level reports are built at: the lower of the consented and the configured one."""
    state = consent.consent_state(journal)
    if state.status in ("given", "confirmed"):
        return config.model_copy(update={"detail_level": consent.effective_level(state, config)})
    return config


def preview(home: Home, week: str | None, now: datetime) -> BuiltReport:
    config = load_config(home)
    with Journal(home.journal_file, clock=clock.now) as journal:
        seq, prev, last_week = _next_report(journal)
        zone = config.report.zone()
        chosen = week or (
            schedule.next_week(last_week) if last_week else schedule.week_of(now, zone)
        )
        due = schedule.due_at(chosen, config.report, zone)
        late = schedule.late_reason(journal, due, now) if due < now else None
        shared = _shared_level(journal, config)
        return build_report(
            home, shared, journal, chosen, seq=seq, prev_report_hash=prev, now=now,
            late_reason=late,
        )  # fmt: skip


def cmd_report_preview(home: Home, args: argparse.Namespace) -> int:
    week = _check_week(args.week) if args.week else None
    built = preview(home, week, clock.now())
    data = {
        "json": built.json_bytes,
        "text": built.text.encode("utf-8"),
        "html": built.html.encode("utf-8"),
    }[args.format]
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


# -- verify ---------------------------------------------------------------------------------


def cmd_verify(home: Home, args: argparse.Namespace) -> int:
    if args.key is not None:
        try:
            key = signing.parse_public_key(args.key.read_text("utf-8", "replace"))
        except OSError as exc:
            raise UserError(f"{args.key}: cannot read the key ({exc.strerror or exc}).") from None
        except ValueError as exc:
            raise UserError(f"{args.key}: {exc}.") from None
    else:
        if not (home.keys_dir / signing.KEY_FILE).exists():
            raise UserError(
                "This install has no signing key yet; pass the sender's key with --key PUB."
            )
        key = signing.public_key(home)
    outcome = verify(args.report, key, args.previous)
    for check in outcome.checks:
        mark = "ok  " if check.ok else "FAIL"
        out.print(f"{mark} {check.message}", markup=False)
    out.print(f"Key fingerprint: {outcome.fingerprint}", markup=False)
    out.print("Compare it with the fingerprint in the invitation.", markup=False)
    if not outcome.ok:
        raise UserError(f"This {outcome.what} did not pass every check; see FAIL above.")
    out.print(f"{outcome.what.capitalize()} verified.", markup=False)
    return 0
