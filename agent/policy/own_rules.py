"""A rules file of the person's own, read as rules or, when it is large, compiled like a list.

A file above `LARGE_FILE_HOSTS` plain host lines is split (`rules.own_hosts`): its host lines are
compiled into the same memory-mapped trie an imported list uses, with each entry's line number,
and cached in the home's compiled-list cache under the SHA-256 of the file's bytes; its other
rules (paths, keywords, regexes, `@@` exceptions, `$important`) stay ordinary rules, and their
lines are cached beside the trie so the next start reads neither the file's two million lines
nor anything but the one hash. The compiled part is named `rules/<category>.txt` and journaled
like an imported list (hash and entry count, `agent.policy.ledger`); see docs/security.md, item
12, for what the partner reads when lines are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.journal.loosening import OWN_FILE_PREFIX
from agent.policy.cooling_off import LIST_PREFIX, Applied, ListChange
from agent.policy.list_cache import save_compiled
from rules.compiled_list import (
    CompiledList,
    cache_paths,
    compile_hosts,
    host_key,
    load_compiled,
    missing_hosts,
)
from rules.lists.lines import RulesFileError, decode_text, read_own_bytes
from rules.model import ParsedRules, Rejection, Rule
from rules.own_hosts import is_plain_host, rules_again, split_rules_text
from rules.syntax import RuleSyntaxError, parse_rules_text

LARGE_FILE_HOSTS = 10_000
"""Above this many plain host lines a rules file of the person's own is compiled, not parsed."""
OWN_PREFIX = OWN_FILE_PREFIX
"""How a compiled rules file of the person's own is named among the lists: `rules/adult.txt`."""
SHOWN_REMOVED = 1000
"""At most this many removed host rules of a large file are named in the journal (and so in
the report); beyond that only their number is."""
REJECTED_KEPT = 1000
"""At most this many refused lines of a large file are kept in its cached copy."""
_REST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class OwnRules:
    """One category's rules file as the rulebook uses it."""

    parsed: ParsedRules
    """The rules kept as rules (every rule of a small file) and the lines refused."""
    compiled: CompiledList | None = None
    """The host lines of a large file, compiled; None for a small one."""

    @property
    def count(self) -> int:
        """How many rules the file holds, host lines of a large file included."""
        hosts = self.compiled.stats.accepted if self.compiled is not None else 0
        return len(self.parsed.rules) + hosts


def own_list_name(category: str) -> str:
    """The name a category's compiled rules file goes by: `rules/adult.txt`."""
    return f"{OWN_PREFIX}{category}.txt"


def is_own_list(name: str) -> bool:
    """Whether a compiled list is a rules file of the person's own rather than an import."""
    return name.startswith(OWN_PREFIX)


def file_hash(data: bytes) -> str:
    """The hash a large rules file is journaled and cached under: SHA-256 of its bytes, so
    `sha256sum rules/adult.txt` shows the same value."""
    return hashlib.sha256(data).hexdigest()


def read_own_rules(
    path: Path, category: str, cache_dir: Path, threshold: int = LARGE_FILE_HOSTS
) -> OwnRules:
    """A category's rules file, parsed, or split and compiled when it holds more than
    `threshold` plain host lines. Raises `RulesFileError` when it cannot be read at all."""
    shown = f"{category}.txt"
    data = read_own_bytes(path, shown)
    if data.count(b"\n") + data.count(b"\r") < threshold:  # fewer lines, so fewer host lines
        return OwnRules(parse_rules_text(decode_text(data), shown))
    digest, name = file_hash(data), own_list_name(category)
    cached = load_compiled(cache_dir, digest, name)
    if cached is not None:
        rest = _read_rest(cache_dir, digest, name, shown)
        if rest is not None:
            return OwnRules(rest, cached)
    text = decode_text(data)
    del data
    split = split_rules_text(text, shown)
    if len(split.keys) <= threshold:
        return OwnRules(parse_rules_text(text, shown))
    del text
    built = compile_hosts(split.keys, split.lines, name, digest, shown)
    with contextlib.suppress(OSError):  # a full disk costs the next start time, nothing more
        save_compiled(built, cache_dir)
        _write_rest(cache_dir, digest, name, split.rest, split.rest_lines)
    return OwnRules(split.rest, built)


def cached_form_missing(path: Path, category: str, cache_dir: Path) -> bool:
    """Whether loading this rules file now means compiling it (large, and no compiled copy of
    its bytes as they are): then the agent opens its port with the rules last applied first."""
    try:
        data = read_own_bytes(path, f"{category}.txt")
    except RulesFileError:
        return False
    if data.count(b"\n") + data.count(b"\r") < LARGE_FILE_HOSTS:
        return False
    digest, name = file_hash(data), own_list_name(category)
    paths = (*cache_paths(cache_dir, digest, name), _rest_path(cache_dir, digest, name))
    return not all(p.exists() for p in paths)


def _rest_path(cache_dir: Path, digest: str, name: str) -> Path:
    side = cache_paths(cache_dir, digest, name)[1]
    return side.with_suffix(".rest.json")


def _write_rest(
    cache_dir: Path, digest: str, name: str, rest: ParsedRules, lines: list[tuple[int, str]]
) -> None:
    """The other rules of a large file (their lines, to parse again), its refused lines and
    skip counts, beside its compiled hosts."""
    doc = {
        "format": _REST_FORMAT,
        "source_hash": digest,
        "rules": [[n, text] for n, text in lines],
        "rejected": [[r.line, r.text, r.reason] for r in rest.rejected[:REJECTED_KEPT]],
        "skipped": dict(rest.skipped),
    }
    target = _rest_path(cache_dir, digest, name)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read_rest(cache_dir: Path, digest: str, name: str, shown: str) -> ParsedRules | None:
    """The cached other rules of a large file, or None when absent or damaged."""
    try:
        doc = json.loads(_rest_path(cache_dir, digest, name).read_text(encoding="utf-8"))
        if doc["format"] != _REST_FORMAT or doc["source_hash"] != digest:
            return None
        out = ParsedRules(rules=rules_again([(int(n), str(t)) for n, t in doc["rules"]], shown))
        out.rejected = [Rejection(shown, int(n), str(t), str(why)) for n, t, why in doc["rejected"]]
        out.skipped.update({str(k): int(v) for k, v in doc["skipped"].items()})
    except (OSError, ValueError, KeyError, TypeError, RuleSyntaxError):
        return None
    return out


def removed_from(old: CompiledList, new: CompiledList) -> tuple[str, ...]:
    """The host rules of a large file's old version its new one lacks (up to `SHOWN_REMOVED`)."""
    return tuple(missing_hosts(old, new.trie.__contains__, SHOWN_REMOVED))


def form_changes(
    applied: Applied | None,
    rules: Mapping[str, list[Rule]],
    own: Mapping[str, CompiledList],
    cache_dir: Path,
) -> tuple[dict[str, frozenset[str]] | None, list[ListChange]]:
    """The applied rule identities to compare with when a rules file changed form (grew past
    the threshold, or shrank below it), and what such a file lost.

    Host rules that moved from a file's rules into its compiled form (or back) are the same
    rules: only those the new form lacks are removed. Returns (None, []) when no file changed
    form, so nothing differs from comparing with the applied state itself.
    """
    if applied is None:
        return None, []
    baseline = {cat: set(texts) for cat, texts in applied.identities.items()}
    changed = False
    lost: list[ListChange] = []
    for category, texts in applied.identities.items():
        name = own_list_name(category)
        compiled = own.get(category)
        if compiled is not None and LIST_PREFIX + name not in texts:
            moved = {t for t in texts if host_key(t) in compiled.trie}  # only host texts can be
            if moved:  # grew past the threshold: its hosts are now compiled
                baseline[category] = (baseline[category] - moved) | {LIST_PREFIX + name}
                changed = True
        elif compiled is None and LIST_PREFIX + name in texts:
            old_hash = applied.list_hashes.get(name, "")
            old = load_compiled(cache_dir, old_hash, name) if old_hash else None
            if old is None or category not in rules:
                continue  # gone, or no copy to compare: the whole file counts as removed
            now = {host_key(r.text) for r in rules[category] if is_plain_host(r)}
            baseline[category] = (baseline[category] - {LIST_PREFIX + name}) | {
                r.text for r in rules[category] if host_key(r.text) in old.trie
            }
            changed = True
            count = sum(1 for key in old.trie.iterkeys() if key not in now)
            if count:
                shown = missing_hosts(old, now.__contains__, SHOWN_REMOVED)
                lost.append(_shrunk(name, category, old, old_hash, len(now), count, shown))
    if not changed:
        return None, []
    return {cat: frozenset(texts) for cat, texts in baseline.items()}, lost


def _shrunk(
    name: str,
    category: str,
    old: CompiledList,
    old_hash: str,
    after: int,
    count: int,
    shown: list[str],
) -> ListChange:
    """A large file that became small and lost `count` host rules (`shown` named)."""
    return ListChange(
        name=name,
        category=category,
        old_hash=old_hash,
        new_hash="",
        before=old.stats.accepted,
        after=after,
        removed=count,
        added=None,
        removed_rules=tuple(shown),
    )
