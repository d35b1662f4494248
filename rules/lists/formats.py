"""Importing public block lists: which format a file is in, and reading it into entries.

Each format gets the meaning its authors gave it, with one default: an entry blocks its host and
all subdomains, never its parent. Hosts files and plain domain lists can be read with
`exact=True` for the operating system's "this host only" meaning; the other formats say
"and subdomains" in their syntax, so `exact` does not apply to them.

Lines that cannot be used are rejected with file, line and reason; comments, cosmetic rules,
localhost entries, duplicates and rules we cannot express are skipped and counted by kind.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from rules.lists.adblock import read_adblock
from rules.lists.candor import read_candor
from rules.lists.dnsmasq import read_dnsmasq
from rules.lists.domains import read_names
from rules.lists.entries import EntrySink
from rules.lists.hosts import read_hosts
from rules.lists.lines import (
    BLOCK_SIZE,
    Block,
    Progress,
    RulesFileError,
    blocks_from_bytes,
    decode_text,
    iter_blocks,
    open_binary,
    read_bytes,
)
from rules.lists.ut1 import READERS as UT1_READERS
from rules.lists.ut1 import part_of, read_folder
from rules.model import ImportedEntries

__all__ = [
    "ListFormat",
    "RulesFileError",
    "detect_format",
    "read_list",
    "read_list_bytes",
    "sniff_format",
]


class ListFormat(StrEnum):
    """The list formats Candor reads; the value is the name `--format` and the list's note use."""

    HOSTS = "hosts"
    DOMAINS = "domains"
    WILDCARD = "wildcard"
    ADBLOCK = "adblock"
    DNSMASQ = "dnsmasq"
    UT1 = "ut1"
    CANDOR = "candor"


_SNIFF_LINES = 200
_DNSMASQ_LINE = re.compile(r"(?:server|local|address)=/")
_ADDRESS_FIRST = re.compile(r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*(?:%\S+)?)\s")
_CANDOR_LINE = re.compile(r"=\S|keyword:|/.+/(?:\s+\$important)?$|.*\s\$important$", re.I)
_ADBLOCK_OPTIONS = re.compile(r"\^\$(?!important$)")
_GENERIC_COSMETIC = re.compile(r"#@?#[^\s#]")


def detect_format(path: Path) -> ListFormat:
    """Guess a list's format from its name, or else from its first 200 rule lines.

    A folder is a UT1 category; files named `urls`/`*.urls` or `expressions` are UT1 files and
    `domains`/`*.domains` plain domains. Raises `RulesFileError` if the file cannot be read.
    """
    if path.is_dir():
        return ListFormat.UT1
    part = part_of(path.name)
    if part is not None:
        return ListFormat.DOMAINS if part == "domains" else ListFormat.UT1
    with open_binary(path, str(path)) as stream:
        try:
            head = stream.read(BLOCK_SIZE)
        except OSError as exc:
            raise RulesFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return sniff_format(head)


def sniff_format(head: bytes) -> ListFormat:
    """The format the start of a list looks like; plain domains when nothing stands out.

    Candor's own syntax is a superset of plain domains, wildcards, `||host^` rules and URL
    prefixes, so a file with any `=host`, `keyword:` or `/regex/` line is read as Candor rules,
    unless it also looks like an Adblock list (`!` comments, `##` rules, `^$` options), where
    `/…/` is an Adblock regex rule.
    """
    lines = decode_text(head).split("\n")
    if len(head) >= BLOCK_SIZE:
        lines.pop()  # probably cut in the middle
    votes: Counter[ListFormat] = Counter()
    adblock_hint = False
    counted = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line[0] == "[" and line[-1] == "]":
            return ListFormat.ADBLOCK
        if line[0] == "!" or _GENERIC_COSMETIC.match(line):
            adblock_hint = True
            continue
        if line[0] == "#":
            continue
        votes[_line_format(line)] += 1
        adblock_hint = adblock_hint or bool(_ADBLOCK_OPTIONS.search(line))
        counted += 1
        if counted >= _SNIFF_LINES:
            break
    if not votes:
        return ListFormat.DOMAINS
    if (
        votes[ListFormat.CANDOR]
        and not adblock_hint
        and not votes[ListFormat.HOSTS]
        and not votes[ListFormat.DNSMASQ]
    ):
        return ListFormat.CANDOR
    if adblock_hint and votes[ListFormat.CANDOR]:
        votes[ListFormat.ADBLOCK] += votes.pop(ListFormat.CANDOR)
    return votes.most_common(1)[0][0]


def read_list(
    path: Path,
    fmt: ListFormat | None = None,
    *,
    exact: bool = False,
    name: str | None = None,
    progress: Progress | None = None,
) -> ImportedEntries:
    """Read one list file, or a UT1 category folder, into entries.

    `name` is shown in rejections (default: the path). `progress` is called with the bytes read
    so far, about every 64 KiB. Raises `RulesFileError` if the source cannot be read at all.
    """
    display = name or str(path)
    fmt = detect_format(path) if fmt is None else ListFormat(fmt)
    if fmt is ListFormat.UT1 and path.is_dir():
        return read_folder(path, display, progress)
    if fmt is ListFormat.CANDOR:
        return read_candor(read_bytes(path, display), display, progress)
    with open_binary(path, display) as stream:
        part = None
        if fmt is ListFormat.UT1:
            part = part_of(path.name) or _ut1_part(stream.read(BLOCK_SIZE))
            stream.seek(0)
        return _read(fmt, iter_blocks(stream, display, progress), display, exact, part)


def read_list_bytes(
    data: bytes,
    fmt: ListFormat | None = None,
    *,
    exact: bool = False,
    name: str = "downloaded list",
    progress: Progress | None = None,
) -> ImportedEntries:
    """`read_list` for content already in memory, such as a download."""
    if fmt is None:
        part = part_of(name)
        fmt = sniff_format(data[:BLOCK_SIZE]) if part is None else _part_format(part)
    fmt = ListFormat(fmt)
    if fmt is ListFormat.CANDOR:
        return read_candor(data, name, progress)
    part = None
    if fmt is ListFormat.UT1:
        part = part_of(name) or _ut1_part(data[:BLOCK_SIZE])
    return _read(fmt, blocks_from_bytes(data, name, progress), name, exact, part)


def _read(
    fmt: ListFormat, blocks: Iterable[Block], name: str, exact: bool, part: str | None
) -> ImportedEntries:
    sink = EntrySink(
        name,
        exact_hosts=exact and fmt in (ListFormat.HOSTS, ListFormat.DOMAINS),
        single_label_exact=fmt is ListFormat.HOSTS,
    )
    match fmt:
        case ListFormat.HOSTS:
            read_hosts(blocks, sink)
        case ListFormat.DOMAINS | ListFormat.WILDCARD:
            read_names(blocks, sink)
        case ListFormat.ADBLOCK:
            read_adblock(blocks, sink)
        case ListFormat.DNSMASQ:
            read_dnsmasq(blocks, sink)
        case ListFormat.UT1:
            UT1_READERS[part or "domains"](blocks, sink)
        case _:
            raise ValueError(f"unknown list format {fmt!r}")
    return sink.entries


def _line_format(line: str) -> ListFormat:
    if _DNSMASQ_LINE.match(line):
        return ListFormat.DNSMASQ
    if line.startswith(("||", "@@")):
        return ListFormat.ADBLOCK
    if line.startswith("*."):
        return ListFormat.WILDCARD
    if _ADDRESS_FIRST.match(line):
        return ListFormat.HOSTS
    if _CANDOR_LINE.match(line):
        return ListFormat.CANDOR
    if "/" in line:
        return ListFormat.UT1
    return ListFormat.DOMAINS


def _part_format(part: str) -> ListFormat:
    return ListFormat.DOMAINS if part == "domains" else ListFormat.UT1


def _ut1_part(head: bytes) -> str:
    """A UT1 file without a telling name: `urls` if most lines have a path, else `domains`."""
    lines = [line.strip() for line in decode_text(head).split("\n")[:_SNIFF_LINES]]
    lines = [line for line in lines if line and line[0] != "#"]
    with_path = sum("/" in line for line in lines)
    return "urls" if lines and with_path * 2 >= len(lines) else "domains"
