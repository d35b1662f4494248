"""`candor report ...` and `candor verify`: see exactly what is sent, and check it.

The preview builds the next report the way the outbox will (next sequence number, the previous
report's hash, the level consented to) and writes its bytes unchanged to stdout, not through the
console, so `candor report preview --format json > r.json` is the attachment byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from rich.table import Table

from agent.cli.console import UserError, out, usable_settings
from agent.config import Config, Home
from agent.journal import Journal, clock
from reporter import consent, schedule, signing
from reporter.build import BuiltReport, build_report, next_report
from reporter.delivery.outbox import Outbox, ReportRecord
from reporter.delivery.sender import Sender, describe
from reporter.schedule import ReportPeriod
from reporter.verify import AnchorCheck, verify


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds `candor report`'s actions, or `candor verify`'s arguments."""
    if name == "verify":
        parser.add_argument(
            "report",
            type=Path,
            metavar="REPORT",
            help="the report's .json file, as attached to the email",
        )
        parser.add_argument(
            "--key", type=Path, metavar="PUB", help="the public key from the invitation"
        )
        parser.add_argument(
            "--previous", type=Path, metavar="DIR", help="a folder of earlier reports"
        )
        parser.add_argument(
            "--tsa-ca",
            type=Path,
            metavar="FILE",
            action="append",
            default=[],
            help="the time-stamping service's CA certificate (PEM), to check the time anchors",
        )
        parser.add_argument(
            "--anchors",
            type=Path,
            metavar="TAR",
            help="the report's anchors attachment (found next to the report if not given)",
        )
        parser.set_defaults(handler=cmd_verify, creates_home=False)  # a partner's computer
        return
    report = parser.add_subparsers(metavar="ACTION")
    p = report.add_parser("send-due", help="build and send every report that is due")
    p.add_argument("--retry", action="store_true", help="also retry deliveries that had stopped")
    p.set_defaults(handler=cmd_report_send_due)
    p = report.add_parser("list", help="reports built and their delivery state")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=cmd_report_list)
    p = report.add_parser("preview", help="print the next report exactly as it would be sent")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--period", metavar="YYYY-MM-DD", help="the seven days ending at the report time that day"
    )
    which.add_argument(
        "--week", metavar="YYYY-Www", help="the period ending in this ISO week (older reports)"
    )
    p.add_argument(
        "--format", choices=("text", "html", "json"), default="text", help="default: text"
    )
    p.set_defaults(handler=cmd_report_preview)


def chosen_period(config: Config, period: str | None, week: str | None) -> ReportPeriod | None:
    """The period `--period` or `--week` names, or None for the next report's."""
    zone = config.report.zone()
    if period is not None:
        try:
            day = date.fromisoformat(period)
        except ValueError:
            raise UserError(
                f"--period must be the date a period ends, like 2026-12-06 (found {period!r})."
            ) from None
        return schedule.period_ending_on(day, config.report, zone)
    if week is not None:
        try:
            return schedule.period_ending_in_week(week, config.report, zone)
        except ValueError:
            raise UserError(f"--week must be an ISO week like 2026-W48 (found {week!r}).") from None
    return None


def _shared_level(journal: Journal, config: Config) -> Config:
    """The level reports are built at: the lower of the consented and the configured one."""
    state = consent.consent_state(journal)
    if state.status in ("given", "confirmed"):
        return config.model_copy(update={"detail_level": consent.effective_level(state, config)})
    return config


def preview(home: Home, chosen: ReportPeriod | None, now: datetime) -> BuiltReport:
    """The next report as the outbox would build it (for another period, when `chosen`)."""
    config = usable_settings(home)
    with Journal(home.journal_file, clock=clock.now) as journal:
        state = consent.consent_state(journal)
        upcoming = next_report(journal, config, state, now)
        period = chosen or upcoming.period
        late = schedule.late_reason(journal, period.end, now) if period.end < now else None
        shared = _shared_level(journal, config)
        # Another period than the next report's is counted from the rows stamped in it.
        next_one = (period.start, period.end) == (upcoming.period.start, upcoming.period.end)
        return build_report(
            home, shared, journal, period, seq=upcoming.seq,
            prev_report_hash=upcoming.prev_report_hash, now=now, late_reason=late,
            previous=upcoming.previous if next_one else None,
            confirmed_seq=state.confirmed_seq if next_one else None,
            link=upcoming.continuity(journal) if next_one else None,
        )  # fmt: skip


def cmd_report_preview(home: Home, args: argparse.Namespace) -> int:
    """`candor report preview`: the next report's bytes, unchanged, on stdout."""
    chosen = chosen_period(usable_settings(home), args.period, args.week)
    built = preview(home, chosen, clock.now())
    data = {
        "json": built.json_bytes,
        "text": built.text.encode("utf-8"),
        "html": built.html.encode("utf-8"),
    }[args.format]
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def cmd_report_send_due(home: Home, args: argparse.Namespace) -> int:
    """`candor report send-due`: one full pass of building and sending (the OS timer's backstop)."""
    with Sender(home) as sender:
        if args.retry:
            sender.outbox.retry_failed()
        result = sender.run_once()
    lines = describe(result)
    for line in lines or ["Nothing is due."]:
        out.print(line, markup=False)
    if any(permanent for _, _, permanent in result.failed):
        raise UserError(
            "A delivery stopped and needs you: see above, then run `candor "
            "delivery test` and `candor report send-due --retry`."
        )
    return 0


def cmd_report_list(home: Home, args: argparse.Namespace) -> int:
    """`candor report list`: reports built and where each delivery stands."""
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        reports = outbox.reports()
        rows = outbox.rows()
    by_seq: dict[int, list[Any]] = {}
    for row in rows:
        if row.report_seq is not None:
            by_seq.setdefault(row.report_seq, []).append(row)
    if args.json:
        doc = {
            "reports": [
                {
                    "seq": r.seq,
                    "partner_id": r.partner_id,
                    "period": r.period,
                    "hash": r.hash,
                    "prev_hash": r.prev_hash,
                    "detail_level": r.detail_level,
                    "needs_attention": r.needs_attention,
                    "late_reason": r.late_reason,
                    "due_at": r.due_at.isoformat(),
                    "generated_at": r.generated_at.isoformat(),
                    "deliveries": [_row_json(x) for x in by_seq.get(r.seq, [])],
                }
                for r in reports
            ],
            "notices": [_row_json(x) for x in rows if x.report_seq is None],
        }
        out.print_json(json.dumps(doc))
        return 0
    if not reports and not rows:
        out.print("No reports yet.")
        return 0
    zone = usable_settings(home).report.zone()
    table = Table(show_header=True)
    for column in ("#", "period", "level", "built", "delivery"):
        table.add_column(column)
    for r in reports:
        states = "; ".join(_row_words(x, r.due_at) for x in by_seq.get(r.seq, [])) or "nowhere"
        built = f"{r.generated_at:%d %b %H:%M}" + (" (late)" if r.late_reason else "")
        table.add_row(str(r.seq), _period_words(r, zone), r.detail_level, built, states)
    out.print(table)
    for row in rows:
        if row.report_seq is None:
            out.print(f"{row.subject}: {_row_words(row, None)}", markup=False)
    return 0


def _period_words(record: ReportRecord, zone: tzinfo) -> str:
    """A report's period for the list: the week of an older report, else the seven days (or
    so) up to its end."""
    if "-W" in record.period:
        return f"week {record.period}"
    return f"up to {record.due_at.astimezone(zone):%a %d %b %H:%M}"


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "recipient": row.recipient,
        "message_id": row.message_id,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


def _row_words(row: Any, due: datetime | None) -> str:
    if row.state == "sent" and row.sent_at:
        late = due is not None and row.sent_at - due > schedule.LATE_AFTER
        return f"{row.channel}: sent {row.sent_at:%d %b %H:%M}" + (" (late)" if late else "")
    if row.state == "pending":
        tries = f", {row.attempts} failed tries ({row.last_error})" if row.attempts else ""
        return f"{row.channel}: waiting{tries}"
    if row.state == "failed":
        return f"{row.channel}: STOPPED: {row.last_error}"
    return f"{row.channel}: withdrawn"


def _signs_with(home: Home, key: Any) -> bool:
    """Whether this home holds the journal behind reports signed with `key` (its own key):
    only then are the time anchors checked against this journal."""
    if not home.journal_file.exists() or not (home.keys_dir / signing.KEY_FILE).exists():
        return False
    own = signing.key_fingerprint(signing.public_key(home))
    return own == signing.key_fingerprint(key)


def anchor_check(journal: Journal | None, args: argparse.Namespace) -> AnchorCheck:
    """What `candor verify` checks the time anchors against: the certificates given, and this
    computer's journal as it is now, when there is one."""
    roots = []
    for path in args.tsa_ca:
        try:
            roots.append(path.read_bytes())
        except OSError as exc:
            raise UserError(f"{path}: cannot read it ({exc.strerror or exc}).") from None

    def row_hash(seq: int) -> str | None:
        assert journal is not None
        row = next(journal.events(after_seq=seq - 1, limit=1), None)
        return row.hash if row is not None and row.seq == seq else None

    return AnchorCheck(roots=roots, row_hash=row_hash if journal else None, attachment=args.anchors)


def cmd_verify(home: Home, args: argparse.Namespace) -> int:
    """`candor verify REPORT`: check a report's or notice's signature and links to earlier ones."""
    if args.key is not None:
        try:
            key = signing.parse_public_key(args.key.read_text("utf-8", "replace"))
        except OSError as exc:
            raise UserError(f"{args.key}: cannot read the key ({exc.strerror or exc}).") from None
        except ValueError as exc:
            raise UserError(f"{args.key}: {exc}.") from None
    else:
        if not home.root.exists():
            raise UserError(
                "Please pass the sender's public key, attached to the invitation, with "
                "--key PUB (Candor is not set up on this computer, so it has no key to use)."
            )
        if not (home.keys_dir / signing.KEY_FILE).exists():
            raise UserError(
                "This install has no signing key yet; pass the sender's key with --key PUB."
            )
        key = signing.public_key(home)
    with contextlib.ExitStack() as stack:
        journal = (
            stack.enter_context(Journal(home.journal_file)) if _signs_with(home, key) else None
        )
        outcome = verify(args.report, key, args.previous, anchor_check(journal, args))
    for check in outcome.checks:
        mark = "ok  " if check.ok else "FAIL"
        out.print(f"{mark} {check.message}", markup=False)
    out.print(f"Key fingerprint: {outcome.fingerprint}", markup=False)
    out.print("Compare it with the fingerprint in the invitation.", markup=False)
    if not outcome.ok:
        raise UserError(f"This {outcome.what} did not pass every check; see FAIL above.")
    out.print(f"{outcome.what.capitalize()} verified.", markup=False)
    return 0
