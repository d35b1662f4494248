"""The files under `state/` that mirror the journal's protection state, for people to read.

`applied-rules.json`, `pending.json` and `allow.json` are caches of the ledger
(`agent.policy.ledger`): Candor writes them after each change it journals and never obeys them.
A cache that says something the journal does not (a hand-written temporary allow, a waiting
loosening deleted, the applied rule set edited) is ignored, rewritten, and the disagreement is
journaled once as `bypass_suspected`, so the partner reads about the attempt. This module is the
one owner of the three formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import write_atomic
from agent.policy.cooling_off import (
    PENDING_STATE,
    Applied,
    Moment,
    Pending,
    Settings,
    pending_path,
    read_pending,
)
from agent.policy.temporary_allow import GRANTS_STATE, Grant

if TYPE_CHECKING:
    from agent.journal.events import BypassSuspected

APPLIED_STATE = "applied-rules.json"
NOTE = "A cache of Candor's journal, for reading only: Candor never obeys an edit made here."


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A cache file that does not say what the journal says."""

    file: str
    """`state/allow.json`."""
    how: str
    """`removed` or `changed`."""


def read_applied_file(state_dir: Path) -> Applied | None:
    """The applied-state cache as written, or None when absent or unreadable."""
    try:
        raw = json.loads((state_dir / APPLIED_STATE).read_text("utf-8"))
        identities = {cat: frozenset(texts) for cat, texts in raw["identities"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    try:
        settings = Settings.from_json(raw["settings"])
    except (KeyError, TypeError, ValueError, AttributeError):
        settings = None  # written before settings were remembered
    sources = raw.get("sources")
    hashes = raw.get("list_hashes")
    counts = raw.get("list_counts")
    return Applied(
        identities=identities,
        sources=sources if isinstance(sources, dict) else {},
        list_hashes=hashes if isinstance(hashes, dict) else {},
        settings=settings,
        list_counts=counts if isinstance(counts, dict) else {},
    )


def read_grants_file(state_dir: Path) -> list[Grant]:
    """The grants the allow cache lists; an unreadable file counts as none."""
    try:
        raw = json.loads((state_dir / GRANTS_STATE).read_text("utf-8"))
        return [Grant.from_json(item) for item in raw["grants"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def write_caches(
    state_dir: Path,
    applied: Applied | None,
    pending: Sequence[Pending],
    grants: Sequence[Grant],
    fingerprint: str,
) -> None:
    """Mirror the journal's state into the three cache files (atomically, one by one)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if applied is not None:
        _write(state_dir / APPLIED_STATE, _dump(_applied_json(applied, fingerprint)))
    write_pending_cache(state_dir, pending)
    write_grants_cache(state_dir, grants)


def write_pending_cache(state_dir: Path, pending: Sequence[Pending]) -> None:
    """Mirror the waiting loosenings into `state/pending.json`."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {"note": NOTE, "pending": [p.as_json() for p in pending]}
    _write(pending_path(state_dir), _dump(data))


def write_grants_cache(state_dir: Path, grants: Sequence[Grant]) -> None:
    """Mirror the temporary allows into `state/allow.json`."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {"note": NOTE, "grants": [g.as_json() for g in sorted(grants, key=lambda g: g.until)]}
    _write(state_dir / GRANTS_STATE, _dump(data))


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _write(path: Path, text: str) -> None:
    """Atomically, and only when the text differs (a watcher of these files sees no churn)."""
    try:
        if path.read_text("utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)


def _applied_json(applied: Applied, fingerprint: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "note": NOTE,
        "fingerprint": fingerprint,
        "identities": {cat: sorted(texts) for cat, texts in sorted(applied.identities.items())},
        "sources": {cat: dict(texts) for cat, texts in applied.sources.items()},
        "list_hashes": dict(applied.list_hashes),
        "list_counts": dict(applied.list_counts),
    }
    if applied.settings is not None:
        data["settings"] = applied.settings.as_json()
    return data


def disagreements(
    state_dir: Path,
    applied: Applied | None,
    pending: Sequence[Pending],
    grants: Sequence[Grant],
    now: Moment,
) -> list[Disagreement]:
    """The cache files that say something the journal does not (`applied`, `pending` and
    `grants` as it records them)."""
    found: list[Disagreement] = []
    if applied is not None:
        path = state_dir / APPLIED_STATE
        on_file = read_applied_file(state_dir)
        if on_file is None or not _same_applied(on_file, applied):
            found.append(Disagreement(f"state/{APPLIED_STATE}", _how(path)))
    path = pending_path(state_dir)
    same = _pending_keys(read_pending(state_dir)) == _pending_keys(pending)
    if (path.exists() or pending) and not same:
        found.append(Disagreement(f"state/{PENDING_STATE}", _how(path)))
    journaled = {(g.host, g.until) for g in grants}
    extra = [
        g
        for g in read_grants_file(state_dir)
        if (g.host, g.until) not in journaled and g.granted_at <= now.wall < g.until
    ]
    if extra:
        found.append(Disagreement(f"state/{GRANTS_STATE}", "changed"))
    return found


def _how(path: Path) -> str:
    return "changed" if path.exists() else "removed"


def _same_applied(a: Applied, b: Applied) -> bool:
    return (
        dict(a.identities) == dict(b.identities)
        and dict(a.list_hashes) == dict(b.list_hashes)
        and a.settings == b.settings
    )


def _pending_keys(pending: Sequence[Pending]) -> set[tuple[Any, ...]]:
    return {(*p.key, p.until.isoformat(), p.held) for p in pending}


def disagreement_event(found: Sequence[Disagreement]) -> BypassSuspected:
    """One `bypass_suspected` row naming the cache files that disagreed, in a plain sentence."""
    from agent.journal.events import BypassSuspected

    files = [d.file for d in found]
    removed = [d.file for d in found if d.how == "removed"]
    changed = [d.file for d in found if d.how == "changed"]
    parts = []
    if changed:
        parts.append(f"{_names(changed)} {'was' if len(changed) == 1 else 'were'} edited")
    if removed:
        parts.append(f"{_names(removed)} {'was' if len(removed) == 1 else 'were'} deleted")
    detail = (
        f"{' and '.join(parts)} outside Candor. Candor ignored "
        f"{'it' if len(files) == 1 else 'them'}: temporary allows, waiting changes and the "
        "rules in force are kept in its journal."
    )
    return BypassSuspected(what="state_edited", detail=detail, source=", ".join(files))


def _names(files: Sequence[str]) -> str:
    return files[0] if len(files) == 1 else ", ".join(files[:-1]) + " and " + files[-1]


def cache_files(state_dir: Path) -> tuple[Path, ...]:
    """The three cache files, for a watch of their stamps."""
    return (state_dir / APPLIED_STATE, pending_path(state_dir), state_dir / GRANTS_STATE)
