"""The shipped snapshot of public lists, put into a new home at its first start.

A fresh home blocks tens of thousands of known adult and gambling sites before any download:
the catalogue's snapshot lists (`rules/snapshot/`, MIT and Unlicense only) are placed in
`lists/` once per home, as unsubscribed lists, and compiled there like any import. A
subscription's first good download in the same category replaces them. A newer Candor with a
newer snapshot replaces the copy of a list still on its snapshot; if that copy has fewer
entries, the rulebook sees the entries lost and holds them for the cooling-off delay, as for
any shortened list.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from agent.config import Home
from agent.config.files import write_atomic

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
    """Give the home each shipped snapshot it has not had (or a newer one of a list still on
    its snapshot); the names placed. Once per home and version: a snapshot list the person
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
        newer = entry.name in had and meta is not None and meta.snapshot is not None
        if (entry.name not in had and meta is None) or (newer and not meta.subscribed):
            try:
                install_snapshot(home, entry, snapshot_bytes(entry))
            except Exception as exc:  # protection still has the starter rules
                log.warning("could not place the shipped list %s: %s", entry.name, exc)
                continue
            placed.append(entry.name)
        had[entry.name] = entry.snapshot_date or ""
    record = {"offered": had, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomic(home.state_dir / SNAPSHOT_STATE, json.dumps(record, indent=2) + "\n")
    return placed
