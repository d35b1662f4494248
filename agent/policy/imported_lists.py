"""Public block lists the person imported, kept under the home's `lists/` folder.

Each import keeps the source's bytes exactly as downloaded (`lists/<category>/<name>.list`) beside a
small JSON note of where it came from and how to read it. The compiled, memory-mapped form lives
in `lists/.cache/`, keyed by a hash of the bytes and the reading options, so a restart maps the
cache instead of parsing millions of lines again, and an edited or updated list is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.config.files import locked, make_folder, owner_only, write_atomic
from agent.policy.list_cache import save_compiled
from agent.policy.list_download import DownloadFailed, Limits, Progress, download
from rules.compiled_list import CompiledList, compile_list, load_compiled
from rules.list_corrections import correct, corrections_digest
from rules.lists.formats import ListFormat, detect_format, read_list
from rules.model import ImportedEntries, Rejection
from rules.own_files import open_own_file, read_own_file

log = logging.getLogger(__name__)

META_SUFFIX = ".json"
DATA_SUFFIX = ".list"
DOWNLOAD_LIMIT = 512 * 1024 * 1024
"""A list imported once may be this large (UT1's category folders are the largest)."""
DOWNLOAD_DEADLINE = 300.0
"""Seconds one list download may take in all, redirects included: a server that trickles is
cut off here and nothing is imported (a per-read timeout alone never trips on a trickle)."""
_NAME_RE = re.compile(r"[^a-z0-9._-]+")


class ImportFailed(Exception):
    """An import that produced nothing usable; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class ListMeta:
    """Where an imported list came from and how to read it (its .json note)."""

    category: str
    name: str
    origin: str
    format: ListFormat
    exact: bool
    imported_at: str
    updated_at: str | None = None
    subscribed: bool = False
    """Kept up to date from `origin` (`candor lists`): the agent downloads it again daily."""
    snapshot: str | None = None
    """While the data is the copy shipped with Candor: that copy's upstream date."""

    @property
    def is_url(self) -> bool:
        """Whether the list can be downloaded again (`candor rules update`)."""
        return self.origin.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class StoredList:
    """One imported list as it sits in the home."""

    meta: ListMeta
    data_path: Path
    meta_path: Path

    @property
    def source_name(self) -> str:
        """How decisions name this list: `lists/<category>/<name>`."""
        return f"lists/{self.meta.category}/{self.meta.name}"

    @property
    def has_data(self) -> bool:
        """False for a subscription whose first download has not succeeded yet."""
        return self.data_path.exists()


@dataclass(slots=True)
class ImportReport:
    """What an import did, for the person to read."""

    stored: StoredList
    accepted: int
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    rejected_count: int = 0


def list_name_for(source: str) -> str:
    """A file-system-safe list name derived from a path or URL."""
    tail = source.rstrip("/").rsplit("/", 1)[-1] or "list"
    tail = tail.split("?", 1)[0]
    for suffix in (".txt", ".list", ".hosts", ".conf"):
        if tail.lower().endswith(suffix) and len(tail) > len(suffix):
            tail = tail[: -len(suffix)]
            break
    name = _NAME_RE.sub("-", tail.lower()).strip("-.") or "list"
    return name[:80]


def stored_lists(lists_dir: Path) -> Iterator[StoredList]:
    """Every imported list under `lists_dir`, in a stable order."""
    if not lists_dir.is_dir():
        return
    for meta_path in sorted(lists_dir.glob(f"*/*{META_SUFFIX}")):
        if meta_path.parent.name.startswith("."):
            continue
        meta = _read_meta(meta_path)
        if meta is None:
            continue
        data_path = meta_path.with_suffix(DATA_SUFFIX)
        if meta.format is ListFormat.UT1:
            data_path = meta_path.with_suffix("")
        yield StoredList(meta, data_path, meta_path)


def _read_meta(meta_path: Path) -> ListMeta | None:
    try:
        raw = json.loads(read_own_file(meta_path))  # a link is not read: the list is left out
        return ListMeta(
            category=raw["category"],
            name=raw["name"],
            origin=raw["origin"],
            format=ListFormat(raw["format"]),
            exact=bool(raw.get("exact", False)),
            imported_at=raw["imported_at"],
            updated_at=raw.get("updated_at"),
            # Lists imported from a URL before subscriptions existed are subscriptions.
            subscribed=bool(raw.get("subscribed", str(raw["origin"]).startswith("http"))),
            snapshot=raw.get("snapshot"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def content_hash(stored: StoredList) -> str:
    """Hash of the list's bytes, reading options and Candor's list corrections: the compiled
    cache's key."""
    h = hashlib.sha256()
    h.update(f"{stored.meta.format}|{stored.meta.exact}|{corrections_digest()}|".encode())
    paths = [stored.data_path]
    if stored.data_path.is_dir():
        paths = sorted(p for p in stored.data_path.rglob("*") if p.is_file())
    for path in paths:
        h.update(path.name.encode() + b"\0")
        with open_own_file(path) as f:  # a link is refused: a problem naming the list
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def compiled(stored: StoredList, cache_dir: Path) -> CompiledList:
    """The compiled form of a stored list: mapped from the cache, or built and cached."""
    key = content_hash(stored)
    cached = load_compiled(cache_dir, key, stored.source_name)
    if cached is not None:
        return cached
    entries = read_list(
        stored.data_path, stored.meta.format, exact=stored.meta.exact, name=stored.source_name
    )
    return _compile_and_cache(entries, stored, key, cache_dir)


def _compile_and_cache(
    entries: ImportedEntries, stored: StoredList, key: str, cache_dir: Path
) -> CompiledList:
    built = compile_list(correct(entries), stored.source_name, key)
    try:
        make_folder(cache_dir)
        save_compiled(built, cache_dir)
        _drop_stale_caches(cache_dir)
    except OSError as exc:  # a cache only (a full disk): the list in memory is the same list
        log.warning("could not cache the compiled list %s: %s", stored.source_name, exc)
    return built


KEEP_RECENT_SECONDS = 31 * 86400
"""A compiled copy used within this long is never cleared: the cooling-off (at most 30 days)
may hold an old version of a list in force from it (`agent.policy.list_cache.keep_fresh`)."""


def _drop_stale_caches(cache_dir: Path, keep: int = 64) -> None:
    """Keep the cache folder from growing without bound as lists are updated."""
    files = sorted(cache_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    recent = time.time() - KEEP_RECENT_SECONDS
    for old in files[keep:]:
        if old.is_file() and old.stat().st_mtime < recent:
            old.unlink(missing_ok=True)


def import_list(
    lists_dir: Path,
    source: str,
    category: str,
    *,
    fmt: ListFormat | None = None,
    exact: bool = False,
    name: str | None = None,
    progress: Progress | None = None,
    deadline: float = DOWNLOAD_DEADLINE,
    origin: str | None = None,
    subscribed: bool | None = None,
    snapshot: str | None = None,
    check: Callable[[ImportedEntries], None] | None = None,
) -> ImportReport:
    """Copy or download `source` into the home, parse it, and compile its cache.

    A download ends after `deadline` seconds in all. Raises `ImportFailed` when the source
    cannot be read or yields no usable entry, or when `check` (given the parsed entries)
    raises it; in that case nothing is left behind in the home. `origin` is recorded instead
    of `source` (a subscription's download, staged by the caller, keeps its URL);
    `subscribed` defaults to whether the origin is a URL; `snapshot` marks Candor's shipped copy.
    """
    name = name or list_name_for(source)
    category_dir = lists_dir / category
    make_folder(category_dir)
    with tempfile.TemporaryDirectory(dir=lists_dir, prefix=".import-") as tmp:
        staged = _fetch(source, Path(tmp), progress, deadline)
        if fmt is None:
            fmt = detect_format(staged)
        display = source if source.startswith(("http://", "https://")) else str(Path(source))
        entries = read_list(
            staged, fmt, exact=exact, name=display, progress=_byte_progress(progress, staged)
        )
        if entries.accepted == 0:
            reason = "no usable entries"
            if entries.rejected:
                reason += f"; first problem: {entries.rejected[0]}"
            raise ImportFailed(f"Nothing could be imported from {origin or source}: {reason}.")
        if check is not None:
            check(entries)
        meta_path = category_dir / f"{name}{META_SUFFIX}"
        with locked(meta_path):  # two imports of one list: each sees the other's meta
            now = datetime.now(UTC).isoformat(timespec="seconds")
            previous = _read_meta(meta_path)
            if origin is None:
                origin = (
                    source
                    if source.startswith(("http://", "https://"))
                    else str(Path(source).resolve())
                )
            meta = ListMeta(
                category=category,
                name=name,
                origin=origin,
                format=fmt,
                exact=exact,
                imported_at=previous.imported_at if previous else now,
                updated_at=now if previous else None,
                subscribed=origin.startswith(("http://", "https://"))
                if subscribed is None
                else subscribed,
                snapshot=snapshot,
            )
            data_path = (
                category_dir / name if fmt is ListFormat.UT1 else meta_path.with_suffix(DATA_SUFFIX)
            )
            stored = StoredList(meta, data_path, meta_path)
            # Compiled and cached before the list is in place, under the key the agent will
            # compute from the placed bytes (the hash covers the file's name, so the staged copy
            # takes it first): the agent's reload, which sees the list only once it is in
            # place, maps this copy instead of parsing the list a second time.
            named = Path(tmp) / ".named" / data_path.name
            named.parent.mkdir()
            os.replace(staged, named)
            key = content_hash(StoredList(meta, named, meta_path))
            _compile_and_cache(entries, stored, key, lists_dir / ".cache")
            _replace(named, data_path)
            _write_meta(meta_path, meta)
    return ImportReport(
        stored=stored,
        accepted=entries.accepted,
        skipped=dict(entries.skipped),
        rejected=entries.rejected[:20],
        rejected_count=len(entries.rejected),
    )


def update_lists(
    lists_dir: Path,
    category: str | None = None,
    progress: Progress | None = None,
    deadline: float = DOWNLOAD_DEADLINE,
) -> list[ImportReport | ImportFailed]:
    """Download every URL-origin list again (optionally of one category), each within
    `deadline` seconds."""
    results: list[ImportReport | ImportFailed] = []
    for stored in list(stored_lists(lists_dir)):
        meta = stored.meta
        if not meta.is_url or meta.snapshot or (category and meta.category != category):
            continue
        try:
            results.append(
                import_list(
                    lists_dir,
                    meta.origin,
                    meta.category,
                    fmt=meta.format,
                    exact=meta.exact,
                    name=meta.name,
                    progress=progress,
                    deadline=deadline,
                )
            )
        except ImportFailed as exc:
            results.append(exc)
    return results


def remove_list(lists_dir: Path, category: str, name: str) -> bool:
    """Delete an imported list; False when there was none by that name."""
    meta_path = lists_dir / category / f"{name}{META_SUFFIX}"
    if not meta_path.exists():
        return False
    with locked(meta_path):
        for stored in stored_lists(lists_dir):
            if stored.meta_path == meta_path:
                if stored.data_path.is_dir():
                    shutil.rmtree(stored.data_path)
                else:
                    stored.data_path.unlink(missing_ok=True)
        try:
            meta_path.unlink()
        except FileNotFoundError:  # another remove was first
            return False
    return True


def _fetch(source: str, into: Path, progress: Progress | None, deadline: float) -> Path:
    if source.startswith(("http://", "https://")):
        tail = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
        target = into / _NAME_RE.sub("-", tail)
        limits = Limits(DOWNLOAD_LIMIT, deadline, then="so nothing was imported")
        try:
            download(source, target, limits, progress=progress)
        except DownloadFailed as exc:
            raise ImportFailed(str(exc)) from None
        return target
    path = Path(source).expanduser()
    if not path.exists():
        raise ImportFailed(f"Cannot read {source}: no such file or folder.")
    try:
        target = into / path.name
        if path.is_dir():
            shutil.copytree(path, target)
            return target
        shutil.copyfile(path, target)
        return target
    except OSError as exc:
        raise ImportFailed(f"Cannot read {source}: {exc.strerror or exc}.") from None


def _byte_progress(progress: Progress | None, path: Path) -> Callable[[int], None] | None:
    if progress is None or path.is_dir():
        return None
    total = path.stat().st_size
    return lambda done: progress(done, total)


def _replace(staged: Path, target: Path) -> None:
    owner_only(staged)  # copied or downloaded with the umask's modes
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(staged, target)


def _write_meta(path: Path, meta: ListMeta) -> None:
    data = {
        "category": meta.category,
        "name": meta.name,
        "origin": meta.origin,
        "format": str(meta.format),
        "exact": meta.exact,
        "imported_at": meta.imported_at,
        "updated_at": meta.updated_at,
        "subscribed": meta.subscribed,
    }
    if meta.snapshot:
        data["snapshot"] = meta.snapshot
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_meta(path: Path, meta: ListMeta) -> None:
    """Write a list's note (a subscription before its first download, a changed flag)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_meta(path, meta)


def meta_path_for(lists_dir: Path, category: str, name: str) -> Path:
    """Where the note of list `name` in `category` lives."""
    return lists_dir / category / f"{name}{META_SUFFIX}"


def read_meta(path: Path) -> ListMeta | None:
    """A list's note, or None when it is missing or unreadable."""
    return _read_meta(path)
