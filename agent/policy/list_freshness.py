"""How fresh each list in `lists/` is: for `candor lists` and `candor status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.config import Home
from agent.journal import clock
from agent.journal.clock import parse_ts
from agent.policy.imported_lists import StoredList, compiled, stored_lists
from agent.policy.subscriptions import STALE_DAYS, FetchState, fetch_states


def list_rows(home: Home, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per list for `candor lists` and status: name, category, entries, freshness."""
    now = now or clock.now()
    states = fetch_states(home)
    rows = []
    for stored in stored_lists(home.lists_dir):
        entries = None
        if stored.has_data:
            try:
                entries = compiled(stored, home.list_cache_dir).stats.accepted
            except OSError:
                entries = None
        state = states.get(stored.source_name, FetchState())
        rows.append(
            {
                "name": stored.meta.name,
                "category": stored.meta.category,
                "entries": entries,
                "origin": stored.meta.origin,
                "subscribed": stored.meta.subscribed,
                "refreshed": _day(state.succeeded_at or _copied_at(stored)),
                "status": list_status(stored, state, now),
            }
        )
    return rows


def _copied_at(stored: StoredList) -> str | None:
    if stored.meta.snapshot or not stored.has_data:
        return None
    return stored.meta.updated_at or stored.meta.imported_at


def _day(ts: str | None) -> str | None:
    return parse_ts(ts).strftime("%Y-%m-%d") if ts else None


def list_status(stored: StoredList, state: FetchState, now: datetime) -> str:
    """A few words on a list's state: snapshot, waiting, fresh, stale, failing."""
    meta = stored.meta
    if meta.snapshot and not meta.subscribed:
        return f"shipped snapshot of {meta.snapshot}"
    if not meta.subscribed:
        return "imported once"
    if not stored.has_data:
        return "waiting for its first download" + (f" ({state.error})" if state.error else "")
    if meta.snapshot:
        return f"subscribed; shipped snapshot of {meta.snapshot} until the first download"
    last = state.succeeded_at or meta.updated_at or meta.imported_at
    age = (now - parse_ts(last)).days if last else None
    if state.error:
        return f"last download failed: {state.error}"
    if age is not None and age > STALE_DAYS:
        return f"not refreshed for {age} days"
    return "up to date"


def is_stale(row: dict[str, Any]) -> bool:
    """Whether a row of `list_rows` needs the person: a subscription failing or not fresh."""
    status = str(row["status"])
    return status.startswith(("last download failed", "not refreshed"))
