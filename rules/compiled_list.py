"""An imported list compiled once into a marisa-trie, then memory-mapped at every start.

Public lists hold up to millions of hosts. A Python `set` of a million names costs about 90 MB
and a second to rebuild; a marisa-trie of the same names is a few MB, is built once at import,
and maps from disk in well under a millisecond. Trie keys are reversed host names ending in a
dot (`moc.elpmaxe.` for `example.com` and its subdomains) so that a prefix search on the
reversed request host finds every listed suffix, always on a label boundary: `notexample.com`
never reaches `moc.elpmaxe.`. Hosts listed alone (`--exact` imports) end in `.!` instead, which
only the full reversed host can reach.

The few other entries (paths, regexes, exceptions, `$important` domains, counts) live in a JSON
file beside the trie. A large rules file of the person's own is compiled the same way, with one
more file: the line each host entry came from, indexed by the entry's id in the trie, so that a
decision still names `adult.txt:1234`. The JSON is written last and holds the other files'
sizes and checksums, so a half-written or damaged cache is noticed and rebuilt instead of being
trusted. This module owns that layout and only reads it; `agent.policy.list_cache` writes it
(rules/ writes no files).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import marisa_trie
import re2

from rules.model import ImportedEntries, Rule, RuleKind
from rules.urls import normalise_path, path_key

FORMAT_VERSION = 1
"""Bump whenever the cache layout or the meaning of its keys changes; old caches are ignored."""

EXACT_SPECIFICITY = 1000
"""A rule naming one host outranks any domain rule."""
DOMAIN_SPECIFICITY = 100
"""Plus the number of labels: a longer domain is more specific."""

_SUBTREE_END = "."
_EXACT_END = ".!"
_SLUG = re.compile(r"[^A-Za-z0-9]+")


def domain_specificity(domain: str) -> int:
    """The rank of a domain rule: a domain with more labels names a narrower set of hosts."""
    return DOMAIN_SPECIFICITY + domain.count(".") + 1


def regex_options() -> re2.Options:
    """How every regex rule is compiled: case-insensitive, errors returned rather than logged."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


def split_path_entry(entry: str) -> tuple[str, str]:
    """`Host/Path#frag` -> (`host`, `/Path`): a fragment never reaches a server, so it is dropped.
    The path is returned as written; the matcher keys it with `rules.urls.path_key`."""
    host, _, path = entry.partition("/")
    path = "/" + path.split("#", 1)[0]
    return host.lower(), path


@dataclass(frozen=True, slots=True)
class ListStats:
    """How much of the source made it into the list, for `candor rules import` and status."""

    accepted: int = 0
    skipped: int = 0
    rejected: int = 0
    skipped_by_reason: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledList:
    """One imported list, ready to match. Immutable; safe to share between threads."""

    name: str
    """Where the list came from, e.g. `lists/adult/sinfonietta-porn`; every entry's source."""
    source_hash: str
    stats: ListStats
    trie: marisa_trie.Trie
    paths: Mapping[str, tuple[str, ...]]
    """Host -> path prefixes, each a `path_key` (normalised, lower case: list paths ignore case)."""
    regexes: tuple[str, ...]
    exceptions: tuple[Rule, ...]
    """`@@` entries, with this list as their source."""
    important: tuple[Rule, ...]
    """`$important` domains, as DOMAIN rules with this list as their source."""
    _compiled_regexes: tuple[Any, ...] = field(default=(), repr=False)
    line_numbers: Sequence[int] | None = field(default=None, repr=False)
    """For a rules file of the person's own: the line of each host entry, by its id in the
    trie (None for an imported list, whose entries are named by the list alone)."""
    line_file: str = ""
    """The file `line_numbers` count in, as decisions name it (`adult.txt`)."""

    def __len__(self) -> int:
        """The number of distinct host entries in the trie."""
        return len(self.trie)

    def match_host(self, host: str) -> tuple[str, int] | None:
        """(rule text, specificity) of the most specific entry covering a normalised host."""
        return self.match_key(host[::-1] + _EXACT_END)

    def match_key(self, key: str) -> tuple[str, int] | None:
        """`match_host` for a host already reversed and followed by `.!` (the trie's query
        form): the prefixes found are every listed suffix of the host, shortest first."""
        found = self.trie.prefixes(key)
        if not found:
            return None
        best = found[-1]
        if best.endswith(_EXACT_END):
            return "=" + best[:-2][::-1], EXACT_SPECIFICITY
        domain = best[:-1][::-1]
        return domain, domain_specificity(domain)

    def source_of(self, key: str) -> str:
        """Where the host entry with trie key `key` came from: `adult.txt:1234` for a rules file
        of the person's own, the list's name for an imported list."""
        if self.line_numbers is None:
            return self.name
        return f"{self.line_file}:{self.line_numbers[self.trie.key_id(key)]}"

    def match_path(self, host: str, path_and_query: str) -> str | None:
        """The longest path entry naming `host` (or a parent) that prefixes the path, which must
        already be in `path_key` form (the matcher folds each request's path once)."""
        if not self.paths:
            return None
        best: str | None = None
        suffix = host
        while True:
            for prefix in self.paths.get(suffix, ()):
                if path_and_query.startswith(prefix) and (best is None or len(prefix) > len(best)):
                    best = suffix + prefix
            dot = suffix.find(".")
            if dot < 0:
                return best
            suffix = suffix[dot + 1 :]

    def names_paths_for(self, host: str) -> bool:
        """True when a path entry names `host` or one of its parents (it must be decrypted)."""
        if not self.paths:
            return False
        suffix = host
        while True:
            if suffix in self.paths:
                return True
            dot = suffix.find(".")
            if dot < 0:
                return False
            suffix = suffix[dot + 1 :]

    def match_url(self, host: str, path_and_query: str, url: str | None = None) -> str | None:
        """The text of a path or regex entry matching the URL, else None.

        Regexes search `url` when given (the matcher passes the full URL), else host plus path.
        Host entries are not consulted here; see `match_host`.
        """
        hit = self.match_path(host, path_key(path_and_query))
        if hit is not None:
            return hit
        target = url if url is not None else host + normalise_path(path_and_query)
        for pattern, compiled in zip(self.regexes, self._compiled_regexes, strict=True):
            if compiled.search(target):
                return f"/{pattern}/"
        return None


def entries_missing(old: CompiledList, new: CompiledList) -> int:
    """How many of `old`'s entries `new` lacks (hosts, paths, regexes, `$important` domains):
    what a changed list stops blocking. About a second per million host entries."""
    missing = sum(1 for key in old.trie.iterkeys() if key not in new.trie)
    for host, prefixes in old.paths.items():
        have = set(new.paths.get(host, ()))
        missing += sum(1 for prefix in prefixes if prefix not in have)
    missing += len(set(old.regexes) - set(new.regexes))
    missing += len({r.value for r in old.important} - {r.value for r in new.important})
    return missing


def host_key(text: str) -> str:
    """The trie key of a host rule's text: `example.com` -> `moc.elpmaxe.`, `=a.test` ->
    `tset.a.!`."""
    if text.startswith("="):
        return text[1:][::-1] + _EXACT_END
    return text[::-1] + _SUBTREE_END


def rule_text_of(key: str) -> str:
    """The rule text a trie key stands for (`host_key` backwards)."""
    if key.endswith(_EXACT_END):
        return "=" + key[:-2][::-1]
    return key[:-1][::-1]


def compile_hosts(
    keys: Sequence[str], lines: Sequence[int], name: str, source_hash: str, line_file: str
) -> CompiledList:
    """A rules file's host entries (trie keys from `host_key`, each with its line) as a
    compiled list whose decisions name `line_file:line`; the first line of a repeated entry
    counts."""
    trie = marisa_trie.Trie(keys)
    numbers = array("I", bytes(4 * len(trie)))
    key_id = trie.key_id
    for key, line in zip(keys, lines, strict=True):
        index = key_id(key)
        if not numbers[index]:
            numbers[index] = line
    stats = ListStats(accepted=len(trie))
    built = _assemble(name, source_hash, stats, trie, {}, (), (), ())
    return replace(built, line_numbers=numbers, line_file=line_file)


def missing_hosts(old: CompiledList, new_has: Callable[[str], bool], limit: int) -> list[str]:
    """Up to `limit` rule texts of `old`'s host entries for which `new_has(trie key)` is false,
    in trie order: what a shortened rules file of the person's own stopped blocking."""
    out: list[str] = []
    for key in old.trie.iterkeys():
        if not new_has(key):
            out.append(rule_text_of(key))
            if len(out) >= limit:
                break
    return out


def compile_list(entries: ImportedEntries, name: str, source_hash: str) -> CompiledList:
    """Build the trie and side tables for one import. Takes about 1.5 s per million hosts."""
    keys = [d[::-1] + _SUBTREE_END for d in entries.domains if d]
    keys.extend(h[::-1] + _EXACT_END for h in entries.exact if h)
    trie = marisa_trie.Trie(keys)
    del keys
    paths: dict[str, list[str]] = {}
    for entry in entries.paths:
        host, path = split_path_entry(entry)
        if host:
            bucket = paths.setdefault(host, [])
            if path not in bucket:
                bucket.append(path)
    regexes, bad = [], 0
    options = regex_options()
    for pattern in dict.fromkeys(entries.regexes):
        try:
            re2.compile(pattern, options=options)
        except re2.error:
            bad += 1
        else:
            regexes.append(pattern)
    stats = ListStats(
        accepted=entries.accepted - bad,
        skipped=sum(entries.skipped.values()),
        rejected=len(entries.rejected) + bad,
        skipped_by_reason=MappingProxyType(dict(sorted(entries.skipped.items()))),
    )
    return _assemble(
        name,
        source_hash,
        stats,
        trie,
        {h: tuple(p) for h, p in paths.items()},
        tuple(regexes),
        tuple(entries.exceptions),
        tuple(entries.important),
    )


def _assemble(
    name: str,
    source_hash: str,
    stats: ListStats,
    trie: marisa_trie.Trie,
    paths: dict[str, tuple[str, ...]],
    regexes: tuple[str, ...],
    exceptions: tuple[Rule, ...],
    important: tuple[str, ...],
) -> CompiledList:
    options = regex_options()
    # Keyed here rather than at import, so a cache written before paths were normalised (a held
    # old version of a list among them) matches the same way as a fresh one.
    keyed = {h: tuple(dict.fromkeys(path_key(p) for p in ps)) for h, ps in paths.items()}
    return CompiledList(
        name=name,
        source_hash=source_hash,
        stats=stats,
        trie=trie,
        paths=MappingProxyType(keyed),
        regexes=regexes,
        exceptions=tuple(r if r.source else replace(r, source=name) for r in exceptions),
        important=tuple(
            Rule(RuleKind.DOMAIN, d, important=True, source=name) for d in dict.fromkeys(important)
        ),
        _compiled_regexes=tuple(re2.compile(p, options=options) for p in regexes),
    )


def cache_paths(cache_dir: Path, source_hash: str, name: str) -> tuple[Path, Path]:
    """(trie file, side file) for one list version. The name appears for people browsing the
    directory; the digest makes the pair unique per name, source and format version."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{name}\0{source_hash}".encode()).hexdigest()
    stem = f"{_SLUG.sub('-', name).strip('-')[:60] or 'list'}.{digest[:32]}"
    return cache_dir / f"{stem}.marisa", cache_dir / f"{stem}.json"


def lines_path(trie_path: Path) -> Path:
    """Where the line numbers of a compiled rules file of the person's own are kept."""
    return trie_path.with_suffix(".lines")


def lines_bytes(cl: CompiledList) -> bytes | None:
    """`cl`'s line numbers as saved (native 32-bit integers), or None for an imported list."""
    if cl.line_numbers is None:
        return None
    return array("I", cl.line_numbers).tobytes()


def side_text(
    cl: CompiledList,
    trie_file: str,
    size: int,
    crc: int,
    lines: tuple[str, int, int] | None = None,
) -> str:
    """The side file's text for `cl`, whose trie was saved as `trie_file` (`size` bytes, CRC-32
    `crc`), and its line numbers as `lines` (file, size, CRC-32) if it has them: the one
    definition of the layout `load_compiled` reads back."""
    side: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "name": cl.name,
        "source_hash": cl.source_hash,
        "trie": {"file": trie_file, "size": size, "crc32": crc, "keys": len(cl.trie)},
        "stats": {
            "accepted": cl.stats.accepted,
            "skipped": cl.stats.skipped,
            "rejected": cl.stats.rejected,
            "skipped_by_reason": dict(cl.stats.skipped_by_reason),
        },
        "paths": {h: list(p) for h, p in cl.paths.items()},
        "regexes": list(cl.regexes),
        "exceptions": [[r.kind.value, r.value, r.important] for r in cl.exceptions],
        "important": [r.value for r in cl.important],
    }
    if lines is not None:
        file, lines_size, lines_crc = lines
        side["lines"] = {"file": file, "size": lines_size, "crc32": lines_crc, "of": cl.line_file}
    return json.dumps(side, separators=(",", ":"))


def load_compiled(cache_dir: Path, source_hash: str, name: str) -> CompiledList | None:
    """The cached list for this exact source, memory-mapped; None when absent, stale or damaged
    (the caller then imports again). Never raises for a bad cache."""
    trie_path, side_path = cache_paths(cache_dir, source_hash, name)
    try:
        side = json.loads(side_path.read_text(encoding="utf-8"))
        if (
            side["format"] != FORMAT_VERSION
            or side["name"] != name
            or side["source_hash"] != source_hash
            or side["trie"]["file"] != trie_path.name
        ):
            return None
        with trie_path.open("rb") as f:
            if os.fstat(f.fileno()).st_size != side["trie"]["size"]:
                return None
            if file_crc32(f) != side["trie"]["crc32"]:
                return None
        trie = marisa_trie.Trie().mmap(str(trie_path))
        if len(trie) != side["trie"]["keys"]:
            return None
        raw_stats = side["stats"]
        stats = ListStats(
            accepted=int(raw_stats["accepted"]),
            skipped=int(raw_stats["skipped"]),
            rejected=int(raw_stats["rejected"]),
            skipped_by_reason=MappingProxyType(
                {str(k): int(v) for k, v in raw_stats["skipped_by_reason"].items()}
            ),
        )
        built = _assemble(
            name,
            source_hash,
            stats,
            trie,
            {str(h): tuple(str(p) for p in ps) for h, ps in side["paths"].items()},
            tuple(str(p) for p in side["regexes"]),
            tuple(
                Rule(RuleKind(kind), str(value), exception=True, important=bool(imp))
                for kind, value, imp in side["exceptions"]
            ),
            tuple(str(d) for d in side["important"]),
        )
        if "lines" in side:
            numbers = _map_lines(lines_path(trie_path), side["lines"], len(trie))
            if numbers is None:
                return None
            built = replace(built, line_numbers=numbers, line_file=str(side["lines"]["of"]))
        return built
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, re2.error):
        return None


def _map_lines(path: Path, meta: Mapping[str, Any], keys: int) -> Sequence[int] | None:
    """The line numbers file, memory-mapped, if it is whole: the size and CRC-32 the side file
    names, one number per trie key."""
    if meta["file"] != path.name or meta["size"] != 4 * keys:
        return None
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size != meta["size"] or file_crc32(f) != meta["crc32"]:
            return None
        if keys == 0:
            return array("I")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped).cast("I")


def file_crc32(f: BinaryIO) -> int:
    """The CRC-32 of an open file from its current position on, the checksum the side file names."""
    crc = 0
    while chunk := f.read(1 << 20):
        crc = zlib.crc32(chunk, crc)
    return crc
