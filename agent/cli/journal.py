"""`candor journal verify|show`: prove nothing recorded was changed, and show all of it."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import datetime
from typing import Any

from agent.cli.console import UserError, err, out
from agent.config import (
    Home,
)
from agent.config.printable import printable
from agent.journal import Event, Journal, Kind, VerifyResult


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor journal`."""
    journal = parser.add_subparsers(metavar="ACTION")
    p = journal.add_parser("verify", help="check that no recorded event was changed or removed")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=cmd_journal_verify)
    p = journal.add_parser("show", help="show every event Candor recorded")
    p.add_argument("--since", metavar="WHEN", help="a date or time (2026-11-20, 2026-11-20T18:00)")
    p.add_argument("--kind", action="append", help="only events of this kind (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_journal_show)


def cmd_journal_verify(home: Home, args: argparse.Namespace) -> int:
    """`candor journal verify`: prove no recorded row was changed or removed."""
    if not home.journal_file.exists():
        out.print("Nothing has been recorded yet, so there is nothing to verify.")
        return 0
    with Journal(home.journal_file) as journal:
        result = journal.verify()
    if args.json:
        out.print_json(json.dumps(result.as_json()))
    else:
        (out if result.ok else err).print(format_verify(result), markup=False)
    return 0 if result.ok else 1


def cmd_journal_show(home: Home, args: argparse.Namespace) -> int:
    """`candor journal show`: everything Candor recorded, as lines or JSON."""
    since = _parse_since(args.since) if args.since else None
    kinds = known_kinds(args.kind) if args.kind else None
    if not home.journal_file.exists():
        if not args.json:
            out.print("Nothing has been recorded yet.")
        return 0
    with Journal(home.journal_file) as journal:
        for event in journal.events(since=since, kinds=kinds):
            if args.json:
                sys.stdout.write(json.dumps(event.as_json(), ensure_ascii=False) + "\n")
            else:
                out.print(format_event(event), markup=False)
    return 0


def known_kinds(names: list[str]) -> list[str]:
    """The `--kind` values, each checked: an unknown one is named with the valid ones."""
    valid = sorted(kind.value for kind in Kind)
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UserError(
                f"There is no event kind '{name}'.{hint} The kinds are: {', '.join(valid)}."
            )
    return names


def _parse_since(text: str):
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"'{text}' is not a date or time; use e.g. 2026-11-20 or 2026-11-20T18:00."
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(UTC)


def format_event(event: Event) -> str:
    """One readable line: seq, UTC time to the second, kind, then the body as key=value."""
    when = event.ts[:19].replace("T", " ")
    fields = " ".join(f"{key}={_show(value)}" for key, value in event.body.items())
    return printable(f"{event.seq:>7}  {when}Z  {event.kind:<18}  {fields}".rstrip())


def _show(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def format_verify(result: VerifyResult) -> str:
    """The one-paragraph answer `candor journal verify` prints."""
    if result.ok:
        if result.head_seq is None:
            return "Journal intact: it is empty so far."
        head = f"Head: row {result.head_seq}, hash {result.head_hash}."
        return f"Journal intact: {result.detail}. {head}"
    return (
        f"Journal broken at row {result.first_bad_seq} ({result.reason}): {result.detail}. "
        f"{result.checked} rows before it checked out."
    )
