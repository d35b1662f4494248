"""Hosts public block lists carry by mistake, taken out of every imported list as it is read.

Public lists are written by volunteers and by crawlers, and a few of their entries are plainly
wrong: a sexual-health centre or an LGBTQ news site on an adult list. Blocking those hurts the
people Candor is for, so the package names them (`rules/corrections/mistakes.txt`, a host and
what it is) and `correct` removes each, with its `www.` form, from a list's entries. The
person's own rules are never corrected. `CORRECTIONS_DIGEST` joins the compiled-list cache key,
so a new set of corrections recompiles every list.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rules.hostnames import InvalidHost, normalise_host
from rules.model import ImportedEntries

SKIPPED_REASON = "known mistakes of public lists"
"""How the removed entries are counted among a list's skipped lines."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One host a public list carries by mistake, and what it really is."""

    host: str
    what: str


class CorrectionsError(ValueError):
    """A line of the corrections file that cannot be read."""


def parse_corrections(text: str, where: str = "mistakes.txt") -> tuple[Correction, ...]:
    """The corrections in `text`: `host  what it is` lines, `#` comments."""
    out: list[Correction] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        host, _, what = line.partition(" ")
        try:
            out.append(Correction(normalise_host(host), what.strip()))
        except InvalidHost as exc:
            raise CorrectionsError(f"{where}:{number}: {exc}: {raw!r}") from None
        if not out[-1].what:
            raise CorrectionsError(f"{where}:{number}: say what the site is: {raw!r}")
    return tuple(out)


@cache
def packaged_corrections() -> tuple[Correction, ...]:
    """The corrections shipped with Candor."""
    text = resources.files("rules.corrections").joinpath("mistakes.txt").read_text("utf-8")
    return parse_corrections(text)


def corrections_digest() -> str:
    """A short hash of the shipped corrections, for cache keys."""
    hosts = "\n".join(sorted(c.host for c in packaged_corrections()))
    return hashlib.sha256(hosts.encode()).hexdigest()[:16]


def correct(entries: ImportedEntries) -> ImportedEntries:
    """`entries` without the shipped corrections' hosts (and their `www.` forms), the number
    removed counted under `SKIPPED_REASON`. Changes `entries` in place and returns it."""
    hosts = {c.host for c in packaged_corrections()}
    hosts |= {f"www.{h}" for h in hosts}
    removed = 0
    for bucket in (entries.domains, entries.exact, entries.important):
        if hosts.isdisjoint(bucket):
            continue
        kept = [h for h in bucket if h not in hosts]
        removed += len(bucket) - len(kept)
        bucket[:] = kept
    if removed:
        entries.skipped[SKIPPED_REASON] += removed
    return entries
