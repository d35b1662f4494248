"""The shipped snapshot of public lists, put into a new home at its first start.

A fresh home blocks tens of thousands of known adult and gambling sites before any download:
the catalogue's snapshot lists (`rules/snapshot/`, MIT and Unlicense only) are placed in
`lists/` once per home, as unsubscribed lists, and compiled there like any import. A
subscription's first good download in the same category replaces them. A newer Candor with a
newer snapshot (a later upstream date, compared as ISO dates) replaces the copy of a list still
on an older snapshot; an older Candor never puts its older snapshot back. If the newer copy has
fewer entries, the rulebook sees the entries lost and holds them for the cooling-off delay, as
for any shortened list (a `rules_changed` row, and the weekly report, say how many).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.config import Home
from agent.config.files import write_atomic

if TYPE_CHECKING:
    from agent.policy.imported_lists import ListMeta

log = logging.getLogger(__name__)

SNAPSHOT_STATE = "snapshot-lists.json"
"""Under `state/`: which shipped snapshots (name → upstream date) this home has been given."""


def offered(home: Home) -> dict[str, str]:
    """The snapshots this home was given, by list name, with their dates."""
    try:
        raw = json.loads((home.state_dir / SNAPSHOT_STATE).read_text("utf-8"))
        return {str(k): str(v) for k, v in raw["offered"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def offer_snapshot(home: Home) -> list[str]:
    """Give the home each shipped snapshot it has not had, or a newer one of a list still on
    an older snapshot; the names placed. Once per home and version: a snapshot list the person
    removed is not put back. A failure is logged, never fatal (a download replaces it)."""
    from rules.catalogue import snapshots

    had = offered(home)
    fresh = [e for e in snapshots() if had.get(e.name) != e.snapshot_date]
    if not fresh:
        return []
    from agent.policy.imported_lists import meta_path_for, read_meta
    from agent.policy.subscriptions import install_snapshot
    from rules.catalogue import snapshot_bytes

    placed = []
    for entry in fresh:
        meta = read_meta(meta_path_for(home.lists_dir, entry.category, entry.name))
        if should_place(entry.name in had, meta, entry.snapshot_date or ""):
            try:
                install_snapshot(home, entry, snapshot_bytes(entry))
            except Exception as exc:  # protection still has the starter rules
                log.warning("could not place the shipped list %s: %s", entry.name, exc)
                continue
            placed.append(entry.name)
        had[entry.name] = entry.snapshot_date or ""
    record = {"offered": had, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        write_atomic(home.state_dir / SNAPSHOT_STATE, json.dumps(record, indent=2) + "\n")
    except OSError as exc:  # offered again next time; a placed list is then left as it is
        log.warning("could not note the shipped lists given: %s", exc)
    return placed


def should_place(given_before: bool, meta: ListMeta | None, date: str) -> bool:
    """Whether a shipped snapshot of `date` goes in place of what the home has (`meta`): when
    the home never had the list, or when its copy is still an older shipped snapshot (never
    one the person subscribed to, and never an older snapshot over a newer one)."""
    if meta is None:
        return not given_before  # removed by the person: not put back
    on_snapshot = meta.snapshot is not None and not meta.subscribed
    return on_snapshot and meta.snapshot < date
