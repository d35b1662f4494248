"""Subscribed public lists: added, removed and refreshed from their address.

A subscription is an imported list whose note says `subscribed` (`agent.policy.imported_lists`):
its data sits in `lists/` like any import, so the rulebook compiles it, journals its hash and
entry count, and treats a removed subscription or a lost entry as loosening (held for the
cooling-off delay, `agent.policy.cooling_off`). A refresh downloads through
`agent.policy.list_download` (asking with `If-None-Match` / `If-Modified-Since`, refusing an
answer that is too large or an HTML page), refuses one that is mostly unreadable, and keeps the
last good copy whenever anything goes wrong. How each download went (validators,
last success, last failure) is kept in `state/list-fetch.json`: a cache for status and for
polite requests, never a record of what is in force (the journal is).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from agent.config import Home
from agent.config.files import edit_atomic
from agent.journal import clock
from agent.policy.imported_lists import (
    ImportFailed,
    ImportReport,
    ListMeta,
    StoredList,
    compiled,
    import_list,
    list_name_for,
    meta_path_for,
    read_meta,
    remove_list,
    stored_lists,
    write_meta,
)
from agent.policy.list_download import DownloadFailed, Limits, Validators, download
from rules.catalogue import CatalogueEntry, by_name, by_url
from rules.compiled_list import entries_missing
from rules.lists.formats import ListFormat
from rules.model import ImportedEntries

FETCH_STATE = "list-fetch.json"
"""Under `state/`: per subscription, how its downloads went (a cache)."""
MAX_LIST_BYTES = 40 * 1024 * 1024
"""A subscribed list larger than this is refused (the largest category lists are about 20 MB)."""
REFRESH_DEADLINE = 120.0
"""Seconds one refresh may take in all: a server that never answers is cut off here."""
STALE_DAYS = 14
"""A subscription not refreshed for this long is said in status and in the report."""


@dataclass(frozen=True, slots=True)
class FetchState:
    """How a subscription's downloads went, for polite requests and for status."""

    etag: str | None = None
    last_modified: str | None = None
    checked_at: str | None = None
    """The last attempt, whatever came of it."""
    succeeded_at: str | None = None
    """The last time the server's copy was confirmed (a new version, or "not modified")."""
    error: str | None = None
    """Why the last attempt failed (None once one succeeds)."""
    error_at: str | None = None
    noted_at: str | None = None
    """When a failure was last journaled: at most once a day per list."""


@dataclass(slots=True)
class Refreshed:
    """What one refresh did, in words and numbers for the person and the journal."""

    name: str
    """`lists/<category>/<name>`."""
    outcome: str
    """`updated`, `unchanged` or `failed`."""
    reason: str | None = None
    report: ImportReport | None = None
    before: int | None = None
    after: int | None = None
    added: int | None = None
    removed: int | None = None
    replaced: list[str] = field(default_factory=list)
    """Shipped snapshots this first download replaced (their removal is loosening)."""


def fetch_states(home: Home) -> dict[str, FetchState]:
    """Every subscription's download record, by list name (empty if none or unreadable)."""
    try:
        raw = json.loads((home.state_dir / FETCH_STATE).read_text("utf-8"))
        return {name: FetchState(**fields) for name, fields in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def note_fetch(home: Home, name: str, change: Callable[[FetchState], FetchState]) -> FetchState:
    """Update one list's download record under the file's lock; the new record."""
    result: list[FetchState] = []

    def edit(data: bytes | None) -> bytes:
        try:
            raw = json.loads(data) if data else {}
            states = {n: FetchState(**f) for n, f in raw.items()}
        except (ValueError, TypeError):
            states = {}
        states[name] = change(states.get(name, FetchState()))
        result.append(states[name])
        return (json.dumps({n: asdict(s) for n, s in states.items()}, indent=2) + "\n").encode()

    home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    edit_atomic(home.state_dir / FETCH_STATE, edit)
    return result[0]


def subscriptions(home: Home) -> list[StoredList]:
    """Every subscribed list, downloaded yet or not."""
    return [s for s in stored_lists(home.lists_dir) if s.meta.subscribed]


@dataclass(frozen=True, slots=True)
class Wanted:
    """A list to subscribe to: from the catalogue, or an address the person gave."""

    name: str
    category: str
    url: str
    format: ListFormat | None
    exact: bool = False

    @classmethod
    def of(cls, entry: CatalogueEntry) -> Wanted:
        """The catalogue's list `entry`."""
        return cls(entry.name, entry.category, entry.url, entry.format)

    @classmethod
    def address(
        cls, url: str, category: str, fmt: ListFormat | None = None, name: str | None = None
    ) -> Wanted:
        """Any list at `url`, kept in `category`."""
        return cls(name or list_name_for(url), category, url, fmt)


def subscribe(home: Home, wanted: Wanted) -> StoredList:
    """Record a subscription (no download: the caller or the agent does that). A shipped
    snapshot of the same list becomes the subscription's first copy."""
    meta_path = meta_path_for(home.lists_dir, wanted.category, wanted.name)
    old = read_meta(meta_path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    meta = ListMeta(
        category=wanted.category,
        name=wanted.name,
        origin=wanted.url,
        format=wanted.format or (old.format if old else ListFormat.HOSTS),
        exact=wanted.exact,
        imported_at=old.imported_at if old else now,
        updated_at=old.updated_at if old else None,
        subscribed=True,
        snapshot=old.snapshot if old else None,
    )
    write_meta(meta_path, meta)
    data_path = meta_path.with_suffix(".list")
    return StoredList(meta, data_path, meta_path)


def unsubscribe(home: Home, category: str, name: str) -> bool:
    """Remove a subscription and its copy; False when there is none. The rules that load next
    see the list gone: a loosening the cooling-off delay holds back."""
    return remove_list(home.lists_dir, category, name)


def refresh(
    home: Home,
    stored: StoredList,
    *,
    limit: int = MAX_LIST_BYTES,
    deadline: float = REFRESH_DEADLINE,
    conditional: bool = True,
) -> Refreshed:
    """Download one subscription again, keeping the last good copy on any failure."""
    name = stored.source_name
    state = fetch_states(home).get(name, FetchState())
    now = clock.now().isoformat(timespec="seconds")
    ask = None
    if conditional and stored.has_data and not stored.meta.snapshot:
        ask = Validators(state.etag, state.last_modified)
    limits = Limits(limit, deadline, then="so the last good copy stays in force")
    with tempfile.TemporaryDirectory(dir=home.lists_dir, prefix=".fetch-") as tmp:
        staged = Path(tmp) / f"{stored.meta.name}.download"
        try:
            got = download(stored.meta.origin, staged, limits, ask=ask)
            result = (
                Refreshed(name, "unchanged")
                if got is None or _same_bytes(staged, stored)
                else _take(home, stored, staged)
            )
        except (DownloadFailed, ImportFailed) as exc:
            reason = str(exc)
            note_fetch(home, name, lambda s: replace(s, checked_at=now, error=reason, error_at=now))
            return Refreshed(name, "failed", reason=reason)
    note_fetch(home, name, lambda s: _confirmed(s, now, got))
    return result


def _confirmed(state: FetchState, now: str, got: Validators | None) -> FetchState:
    """The record after a good answer: a new copy's validators, or the old ones kept on 304."""
    kept = got if got is not None else Validators(state.etag, state.last_modified)
    return replace(
        state,
        checked_at=now,
        succeeded_at=now,
        error=None,
        error_at=None,
        etag=kept.etag,
        last_modified=kept.last_modified,
    )


def _same_bytes(staged: Path, stored: StoredList) -> bool:
    """Whether the download is byte for byte the copy in force (a server without validators)."""
    if stored.meta.snapshot or not stored.data_path.is_file():
        return False
    return _digest(staged) == _digest(stored.data_path)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _take(home: Home, stored: StoredList, staged: Path) -> Refreshed:
    """Import the downloaded copy in place of the old one, with counts of what changed."""
    old = compiled(stored, home.list_cache_dir) if stored.has_data else None
    meta = stored.meta
    report = import_list(
        home.lists_dir,
        str(staged),
        meta.category,
        fmt=meta.format,
        exact=meta.exact,
        name=meta.name,
        origin=meta.origin,
        subscribed=True,
        check=sane,
    )
    new = compiled(report.stored, home.list_cache_dir)
    # A catalogue list takes over from the shipped copy; a list of the person's own choosing is
    # added beside it (replacing 61,000 known sites with a short private list would loosen).
    listed = by_name(meta.name) is not None or bool(meta.origin and by_url(meta.origin))
    replaced = _replace_snapshots(home, meta.category, keep=meta.name) if listed else []
    return Refreshed(
        stored.source_name,
        "updated",
        report=report,
        before=old.stats.accepted if old else None,
        after=new.stats.accepted,
        added=entries_missing(new, old) if old else new.stats.accepted,
        removed=entries_missing(old, new) if old else 0,
        replaced=replaced,
    )


def sane(entries: ImportedEntries) -> None:
    """Refuse a download that is mostly not a list (an error page, a different file)."""
    rejected = len(entries.rejected)
    if rejected > entries.accepted:
        raise ImportFailed(
            f"The download is mostly not a list ({rejected:,} unreadable lines, "
            f"{entries.accepted:,} usable), so the last good copy stays in force."
        )


def _replace_snapshots(home: Home, category: str, keep: str) -> list[str]:
    """Remove the shipped snapshots of `category` once a subscription there has its own copy."""
    gone = []
    for other in list(stored_lists(home.lists_dir)):
        meta = other.meta
        shipped = meta.category == category and meta.snapshot and not meta.subscribed
        if shipped and meta.name != keep and remove_list(home.lists_dir, category, meta.name):
            gone.append(other.source_name)
    return gone


def install_snapshot(home: Home, entry: CatalogueEntry, data: bytes) -> None:
    """Put the shipped copy of `entry` in `lists/` as an unsubscribed list (first start)."""
    with tempfile.TemporaryDirectory(dir=home.lists_dir, prefix=".snapshot-") as tmp:
        staged = Path(tmp) / f"{entry.name}.list"
        staged.write_bytes(data)
        import_list(
            home.lists_dir,
            str(staged),
            entry.category,
            fmt=entry.format,
            name=entry.name,
            origin=entry.url,
            subscribed=False,
            snapshot=entry.snapshot_date,
        )
