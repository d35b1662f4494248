"""`candor lists ...`: the public lists Candor keeps up to date (subscriptions).

`candor lists` shows them with their freshness; `add` subscribes (a catalogue name or any
address) and downloads at once, `remove` unsubscribes (loosening: the cooling-off delay holds
the list's entries first), `update` downloads now, `available` shows the catalogue.
"""

from __future__ import annotations

import argparse
import json

from agent.cli.console import UserError, err, out, usable_settings
from agent.cli.list_import import LIST_FORMATS, category_name, say_loosening
from agent.config import Home, format_duration, last_good_config
from agent.journal import Journal, clock
from agent.policy.imported_lists import StoredList, stored_lists
from agent.policy.ledger import read_ledger
from agent.policy.list_freshness import list_rows
from agent.policy.list_updater import refresh_recorded
from agent.policy.snapshot import offer_snapshot
from agent.policy.subscriptions import (
    Refreshed,
    Wanted,
    subscribe,
    subscriptions,
    unsubscribe,
)
from rules.catalogue import by_name, by_url, catalogue
from rules.lists.formats import ListFormat


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor lists`."""
    parser.add_argument("--json", action="store_true", help="as JSON, for scripts")
    parser.set_defaults(handler=cmd_lists_show)
    actions = parser.add_subparsers(metavar="ACTION")
    p = actions.add_parser("add", help="subscribe to a list from the catalogue or an address")
    p.add_argument(
        "source", metavar="NAME-OR-URL", help="a name from `lists available`, or an address"
    )
    p.add_argument("--category", help="needed for an address not in the catalogue")
    p.add_argument("--format", choices=LIST_FORMATS, help="default: detected")
    p.add_argument("--name", help="name to keep the list under (default: from the address)")
    p.set_defaults(handler=cmd_lists_add)
    p = actions.add_parser("remove", help="unsubscribe (waits for the cooling-off delay)")
    p.add_argument("name", help="the list's name, as `candor lists` shows it")
    p.set_defaults(handler=cmd_lists_remove)
    p = actions.add_parser("update", help="download subscribed lists now")
    p.add_argument("name", nargs="?", help="one list (or one category's lists)")
    p.set_defaults(handler=cmd_lists_update)
    p = actions.add_parser("available", help="the catalogue of well-known lists")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=cmd_lists_available)


def cmd_lists_show(home: Home, args: argparse.Namespace) -> int:
    """`candor lists`: every list in `lists/`, its entries, freshness and state."""
    offer_snapshot(home)
    rows = list_rows(home)
    if args.json:
        out.print_json(json.dumps(rows))
        return 0
    if not rows:
        out.print("No lists yet. See `candor lists available`, then `candor lists add NAME`.")
        return 0
    from rich.table import Table

    table = Table(title="Lists", title_justify="left")
    for col in ("name", "category", "entries", "last refreshed", "status"):
        table.add_column(col, justify="right" if col == "entries" else "left")
    for r in rows:
        entries = f"{r['entries']:,}" if r["entries"] is not None else "-"
        table.add_row(r["name"], r["category"], entries, r["refreshed"] or "-", r["status"])
    out.print(table)
    return 0


def cmd_lists_available(home: Home, args: argparse.Namespace) -> int:
    """`candor lists available`: the catalogue, with licences and sizes."""
    entries = catalogue()
    if args.json:
        rows = [
            {
                "name": e.name,
                "category": e.category,
                "url": e.url,
                "format": str(e.format),
                "licence": e.licence,
                "entries": e.entries,
                "maintainer": e.maintainer,
                "recommended": e.recommended,
            }
            for e in entries
        ]
        out.print_json(json.dumps(rows))
        return 0
    from rich.table import Table

    table = Table(title="Well-known lists (candor lists add NAME)", title_justify="left")
    for col in ("name", "category", "about", "licence", "recommended"):
        table.add_column(col, justify="right" if col == "about" else "left")
    for e in entries:
        table.add_row(
            e.name, e.category, f"{e.entries:,}", e.licence, "yes" if e.recommended else ""
        )
    out.print(table)
    return 0


def wanted_of(source: str, category: str | None, fmt: str | None, name: str | None) -> Wanted:
    """What `lists add` (and `rules import URL`) subscribes to."""
    entry = by_name(source) or by_url(source)
    if entry is not None and (category is None or category == entry.category):
        return Wanted.of(entry)
    if not source.startswith(("http://", "https://")):
        raise UserError(
            f"'{source}' is neither a list in the catalogue (see `candor lists available`) "
            "nor an address (https://...)."
        )
    if category is None:
        raise UserError("Say which category this list is for: --category NAME.")
    return Wanted.address(source, category_name(category), ListFormat(fmt) if fmt else None, name)


def cmd_lists_add(home: Home, args: argparse.Namespace) -> int:
    """`candor lists add`: subscribe, then download at once unless downloads are off."""
    wanted = wanted_of(args.source, args.category, args.format, args.name)
    before = read_ledger(home)
    stored = subscribe(home, wanted)
    out.print(f"Subscribed to {wanted.name} ({wanted.category}) from {wanted.url}.", markup=False)
    if not usable_settings(home).lists.downloads:
        out.print(
            "Downloads are turned off ([lists] downloads = false in config.toml), so Candor "
            "will not fetch it until they are turned on."
        )
        return 0
    return _said(home, refreshed(home, [stored]), before)


def cmd_lists_remove(home: Home, args: argparse.Namespace) -> int:
    """`candor lists remove NAME`: unsubscribe; the list's entries wait for the cooling-off."""
    matches = [s for s in stored_lists(home.lists_dir) if args.name in (s.meta.name, s.source_name)]
    if not matches:
        raise UserError(f"There is no list called '{args.name}' (see `candor lists`).")
    config = last_good_config(home).config
    delay = config.cooling_off
    for stored in matches:
        unsubscribe(home, stored.meta.category, stored.meta.name)
        wait = (
            f"its entries stay in force for the cooling-off delay ({format_duration(delay)}), "
            "and your weekly report says so"
            if delay
            else "your weekly report says so"
        )
        out.print(
            f"Removed {stored.meta.name} from {stored.meta.category}: that makes filtering less "
            f"strict, so {wait}.",
            markup=False,
        )
    return 0


def cmd_lists_update(home: Home, args: argparse.Namespace) -> int:
    """`candor lists update [NAME]`: download subscribed lists now and say what changed."""
    chosen = [
        s
        for s in subscriptions(home)
        if args.name in (None, s.meta.name, s.meta.category, s.source_name)
    ]
    if not chosen:
        if args.name:
            raise UserError(f"No subscribed list is called '{args.name}' (see `candor lists`).")
        out.print("No list is subscribed, so there is nothing to update.")
        return 0
    if not usable_settings(home).lists.downloads:
        raise UserError(
            "Downloads are turned off ([lists] downloads = false in config.toml), so nothing "
            "was downloaded."
        )
    before = read_ledger(home)
    return _said(home, refreshed(home, chosen), before)


def refreshed(home: Home, chosen: list[StoredList]) -> list[Refreshed]:
    """Download each list now, journaling each outcome as the agent's daily check does (a
    `list_refresh` row). A running agent puts a new copy into force on its own: it watches
    `lists/`, and journals what the copy changes as it reloads."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        return [refresh_recorded(home, s, journal.append, lambda: None) for s in chosen]


def _said(home: Home, results: list[Refreshed], before) -> int:
    """Print each refresh's outcome; 1 if any failed."""
    failed = 0
    for r in results:
        short = r.name.rsplit("/", 1)[-1]
        if r.outcome == "failed":
            failed += 1
            err.print(f"candor: {r.reason}", markup=False)
        elif r.outcome == "unchanged":
            out.print(f"{short}: unchanged since the last download.", markup=False)
        else:
            counts = f"{r.after:,} entries"
            if r.before is not None:
                counts += f" (was {r.before:,}: {r.added:,} added, {r.removed:,} lost)"
            out.print(f"{short}: updated, {counts}.", markup=False)
            for gone in r.replaced:
                out.print(
                    f"It replaces the shipped snapshot {gone.rsplit('/', 1)[-1]}.", markup=False
                )
    updated = [r.name for r in results if r.outcome == "updated"]
    if updated:
        say_loosening(home, updated, before)
    return 1 if failed else 0
