"""Where every list reader puts what it found: entries, rejected lines and skip counts.

All readers share one idea of a usable host, so a name means the same thing whichever format it
came in. The common case (an ASCII, lower-case, valid name) is checked with one regex; only the
rest pays for the full `normalise_host`.

Decisions that apply to every format:

* Localhost junk (`localhost`, `broadcasthost`, `0.0.0.0`, loopback, link-local and unspecified
  addresses) is skipped and counted, never blocked.
* Any other IP address is kept as an exact entry: it can only match a URL naming that address.
* A name that starts with `0.0.0.0.` or `127.0.0.1.` (HaGeZi's `||0.0.0.0.beeglivesex.com^`) is a
  hosts-file address glued to a name by a broken conversion. Guessing the intended name could
  widen a block the list's authors never wrote, so the line is rejected and shown instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from rules.hostnames import (
    LOCAL_NAMES,
    MAX_HOST_LENGTH,
    InvalidHost,
    is_ip_literal,
    normalise_host,
)
from rules.lists.lines import MAX_LINE, Block
from rules.model import ImportedEntries, Rejection, Rule
from rules.syntax import shorten

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_LAST_LABEL = r"(?!0x[0-9a-f]*(?![a-z0-9_.-]))(?:[a-z0-9_][a-z0-9_-]{0,61})?[a-z_]"
NAME_PATTERN = rf"(?!0\.0\.0\.0\.|127\.0\.0\.1\.)(?:{_LABEL}\.)+{_LAST_LABEL}"
"""A name that needs no normalising: ASCII lower case, two labels or more, ends in a letter, its
last label no `0x` hex number (so it is no IP address) and no glued address in front. Readers
build their one-regex-per-line fast paths from it; a name it matches is final once its length and
`LOCAL_NAMES` are checked."""
_FAST_NAME = re.compile(NAME_PATTERN)
_GLUED_PREFIXES = ("0.0.0.0.", "127.0.0.1.")

TOO_LONG = "line is too long"
NOT_UTF8 = "not valid UTF-8 text"

HostKind = Literal["name", "address", "junk"]
"""A host name; an IP address (kept exact); localhost junk (skipped)."""


def fast_host(name: str) -> str | None:
    """`name` itself when it is already a normalised host name; else None ("take the slow path").

    Never disagrees with `normalise_host`.
    """
    if len(name) <= MAX_HOST_LENGTH and _FAST_NAME.fullmatch(name) and name not in LOCAL_NAMES:
        return name
    return None


def is_junk_address(host: str) -> bool:
    """Loopback, unspecified, link-local, multicast or broadcast: the addresses lists use as
    "nowhere", never a real place to block."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (
        ip.is_loopback
        or ip.is_unspecified
        or ip.is_link_local
        or ip.is_multicast
        or ip == ipaddress.IPv4Address("255.255.255.255")
    )


def may_be_address(token: str) -> bool:
    """A cheap test before the costly one: addresses start with a digit or contain ':'."""
    return token[0].isdigit() or ":" in token


@dataclass(slots=True)
class EntrySink:
    """Collects one list's entries, deduplicated, with rejections naming `file` and the line."""

    file: str
    exact_hosts: bool = False
    """Host names block that host only (hosts files imported with `--exact`)."""
    single_label_exact: bool = False
    """A one-label name blocks that host only instead of a whole top-level domain (hosts files:
    `0.0.0.0 xxxhindi.to en` must not block every `.en` name)."""
    entries: ImportedEntries = field(default_factory=ImportedEntries)
    seen_domains: set[str] = field(default_factory=set)
    seen_exact: set[str] = field(default_factory=set)
    seen_paths: set[str] = field(default_factory=set)
    seen_regexes: set[str] = field(default_factory=set)
    seen_important: set[str] = field(default_factory=set)
    seen_exceptions: set[Rule] = field(default_factory=set)

    def reject(self, lineno: int, line: str, reason: str) -> None:
        """Record a line that cannot be used, so the person sees where and why."""
        self.entries.rejected.append(Rejection(self.file, lineno, shorten(line), reason))

    def skip(self, why: str, count: int = 1) -> None:
        """Count lines left out on purpose (comments, duplicates, …) by reason."""
        self.entries.skipped[why] += count

    def classify(self, name: str) -> tuple[HostKind, str]:
        """What a name in a list is, and its normalised form. Raises `InvalidHost`."""
        if fast_host(name) is not None:
            return "name", name
        host = normalise_host(name)
        if (host[-1].isdigit() or ":" in host) and is_ip_literal(host):
            return ("junk" if is_junk_address(host) else "address"), host
        if host in LOCAL_NAMES:
            return "junk", host
        for prefix in _GLUED_PREFIXES:
            if host.startswith(prefix):
                raise InvalidHost(f"an address ({prefix[:-1]}) glued to a host name")
        return "name", host

    def add_host(
        self,
        name: str,
        lineno: int,
        line: str,
        *,
        important: bool = False,
        subtree: bool = False,
        label: bool = False,
    ) -> None:
        """Add one host name as written in the list.

        `subtree` forces host-and-subdomains (a `*.` line); `label` prefixes a rejection reason
        with the name, for lines that hold several names.
        """
        try:
            kind, host = self.classify(name)
        except InvalidHost as exc:
            self.reject(lineno, line, f"{name!r}: {exc}" if label else str(exc))
            return
        self.put(kind, host, important=important, subtree=subtree)

    def put(
        self, kind: HostKind, host: str, *, important: bool = False, subtree: bool = False
    ) -> None:
        """Add a classified host to the right bucket."""
        if kind == "junk":
            self.skip("localhost")
        elif kind == "address":
            self._add(host, self.entries.exact, self.seen_exact)
        elif important:
            self._add(host, self.entries.important, self.seen_important)
        elif not subtree and (self.exact_hosts or (self.single_label_exact and "." not in host)):
            self._add(host, self.entries.exact, self.seen_exact)
        else:
            self._add(host, self.entries.domains, self.seen_domains)

    def name_bucket(self, subtree: bool = False) -> tuple[list[str], set[str]]:
        """Where a plain multi-label name goes, for readers that add names in a tight loop."""
        if self.exact_hosts and not subtree:
            return self.entries.exact, self.seen_exact
        return self.entries.domains, self.seen_domains

    def add_path(self, value: str) -> None:
        """Add a `host/path` prefix entry once."""
        self._add(value, self.entries.paths, self.seen_paths)

    def add_regex(self, pattern: str) -> None:
        """Add a regex entry once."""
        self._add(pattern, self.entries.regexes, self.seen_regexes)

    def add_exception(self, rule: Rule) -> None:
        """Add an `@@` exception once; a repeat counts as a duplicate."""
        if rule in self.seen_exceptions:
            self.skip("duplicate")
        else:
            self.seen_exceptions.add(rule)
            self.entries.exceptions.append(rule)

    def _add(self, value: str, bucket: list[str], seen: set[str]) -> None:
        if value in seen:
            self.entries.skipped["duplicate"] += 1
        else:
            seen.add(value)
            bucket.append(value)


def scan(
    blocks: Iterable[Block],
    sink: EntrySink,
    fast: re.Pattern[str],
    slow: Callable[[int, str], None],
    *,
    subtree: bool = False,
) -> None:
    """Run a reader over every line: lines `fast` matches in full are added in the loop itself;
    every other line goes to `slow(lineno, line)`, which handles comments, oddities and errors.

    `fast` captures one name built from `NAME_PATTERN` (several alternatives may each capture
    one). This loop is where a million-line list spends its time, so it calls nothing it need not.
    """
    bucket, seen = sink.name_bucket(subtree)
    duplicates = 0
    fullmatch = fast.fullmatch
    for start, lines in blocks:
        for lineno, line in enumerate(lines, start):
            if (match := fullmatch(line)) is not None:
                name = match[match.lastindex or 1]
                if len(name) <= MAX_HOST_LENGTH and name not in LOCAL_NAMES:
                    if name in seen:
                        duplicates += 1
                    else:
                        seen.add(name)
                        bucket.append(name)
                    continue
            if len(line) > MAX_LINE:
                sink.reject(lineno, line, TOO_LONG)
            else:
                slow(lineno, line)
    if duplicates:
        sink.skip("duplicate", duplicates)
