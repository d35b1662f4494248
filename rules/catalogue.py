"""The catalogue of well-known public category lists Candor can subscribe to (package data).

`rules/catalogue.toml` names each list's address, format, licence, approximate size and
maintainer, and whether `candor init` offers it for its category. A few MIT and Unlicense lists
also ship a snapshot (`rules/snapshot/`), used until their first download succeeds.
"""

from __future__ import annotations

import gzip
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rules.lists.formats import ListFormat


class CatalogueError(Exception):
    """The shipped catalogue is malformed (a packaging mistake, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One public list, as the catalogue describes it."""

    name: str
    category: str
    url: str
    format: ListFormat
    licence: str
    entries: int
    """Approximate size, for the person choosing (the list's own count changes daily)."""
    maintainer: str
    recommended: bool = False
    snapshot: str | None = None
    """File name of the shipped copy under `rules/snapshot/`, if any."""
    snapshot_date: str | None = None
    """The upstream date of that copy (YYYY-MM-DD)."""


@cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """Every list in the shipped catalogue, in the file's order."""
    text = resources.files("rules").joinpath("catalogue.toml").read_text("utf-8")
    try:
        raw = tomllib.loads(text)["lists"]
        return tuple(_entry(name, fields) for name, fields in raw.items())
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(f"rules/catalogue.toml is malformed: {exc}") from None


def _entry(name: str, fields: dict) -> CatalogueEntry:
    return CatalogueEntry(
        name=name,
        category=str(fields["category"]),
        url=str(fields["url"]),
        format=ListFormat(fields["format"]),
        licence=str(fields["licence"]),
        entries=int(fields["entries"]),
        maintainer=str(fields["maintainer"]),
        recommended=bool(fields.get("recommended", False)),
        snapshot=fields.get("snapshot"),
        snapshot_date=fields.get("snapshot_date"),
    )


def by_name(name: str) -> CatalogueEntry | None:
    """The catalogue entry called `name`, or None."""
    return next((e for e in catalogue() if e.name == name), None)


def by_url(url: str) -> CatalogueEntry | None:
    """The catalogue entry with this address, or None (for `rules import URL`)."""
    return next((e for e in catalogue() if e.url == url), None)


def recommended(category: str) -> tuple[CatalogueEntry, ...]:
    """The lists `candor init` offers for `category`."""
    return tuple(e for e in catalogue() if e.category == category and e.recommended)


def categories() -> tuple[str, ...]:
    """The categories the catalogue has lists for, in first-seen order."""
    return tuple(dict.fromkeys(e.category for e in catalogue()))


def snapshots() -> tuple[CatalogueEntry, ...]:
    """The lists Candor ships a copy of."""
    return tuple(e for e in catalogue() if e.snapshot)


def snapshot_bytes(entry: CatalogueEntry) -> bytes:
    """The shipped copy of `entry` (decompressed), exactly as upstream published it."""
    if not entry.snapshot:
        raise CatalogueError(f"{entry.name} has no shipped snapshot")
    packed = resources.files("rules.snapshot").joinpath(entry.snapshot).read_bytes()
    return gzip.decompress(packed)
