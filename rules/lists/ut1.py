"""Reader for UT1 blacklists (the squidGuard layout) and their single files.

A category folder holds `domains` (hosts, subdomains implied), `urls` (`host/path` prefixes, no
scheme) and sometimes `expressions` (regexes). The olbat/ut1-blacklists mirror splits files over
50 MB into `domains.0`, `domains.1`, …; the pieces are read in order. Other files (`usage`, and
`very_restrictive_expression`, which UT1 itself offers only as an opt-in) are not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from rules.lists.domains import read_names
from rules.lists.entries import NOT_UTF8, TOO_LONG, EntrySink
from rules.lists.lines import (
    MAX_LINE,
    Block,
    Progress,
    RulesFileError,
    file_error,
    iter_blocks,
    open_binary,
)
from rules.model import ImportedEntries, RuleKind
from rules.syntax import RuleSyntaxError, parse_url_prefix, regex_error

PARTS = ("domains", "urls", "expressions")
_PIECE = re.compile(r"(?:.*\.)?(domains|urls|expressions)(?:\.(\d+))?")


def part_of(filename: str) -> str | None:
    """Which UT1 file a name is: `urls`, `adult.urls`, `domains.1` …; None if none."""
    match = _PIECE.fullmatch(filename.lower())
    return match.group(1) if match else None


def read_urls(blocks: Iterable[Block], sink: EntrySink) -> None:
    """`host/path` prefixes; the `#fragment` is dropped, the case of the path kept.

    An entry whose path is empty after that (`planhomo.com/#`) covers the whole site, so it
    becomes a domain entry.
    """
    for start, lines in blocks:
        for lineno, line in enumerate(lines, start):
            if len(line) > MAX_LINE:
                sink.reject(lineno, line, TOO_LONG)
                continue
            text = line.strip()
            if not text:
                continue
            if text[0] == "#":
                sink.skip("comment")
                continue
            if "\ufffd" in text:
                sink.reject(lineno, line, NOT_UTF8)
                continue
            try:
                kind, value = parse_url_prefix(text)
            except RuleSyntaxError as exc:
                sink.reject(lineno, line, str(exc))
                continue
            if kind is RuleKind.PATH:
                sink.add_path(value)
            else:
                sink.add_host(value, lineno, line, subtree=True)


def read_expressions(blocks: Iterable[Block], sink: EntrySink) -> None:
    """One RE2 regex a line; a pattern RE2 refuses is rejected with RE2's reason."""
    for start, lines in blocks:
        for lineno, line in enumerate(lines, start):
            if len(line) > MAX_LINE:
                sink.reject(lineno, line, TOO_LONG)
                continue
            pattern = line.strip()
            if not pattern:
                continue
            if pattern[0] == "#":
                sink.skip("comment")
                continue
            if "\ufffd" in pattern:
                sink.reject(lineno, line, NOT_UTF8)
                continue
            if reason := regex_error(pattern):
                sink.reject(lineno, line, f"regex does not compile: {reason}")
            else:
                sink.add_regex(pattern)


READERS: dict[str, Callable[[Iterable[Block], EntrySink], None]] = {
    "domains": read_names,
    "urls": read_urls,
    "expressions": read_expressions,
}


def folder_files(folder: Path, name: str) -> list[Path]:
    """The rule files of a category folder, in reading order."""
    try:
        children = list(folder.iterdir())
    except OSError as exc:
        raise file_error(exc, name) from None
    found: list[tuple[int, int, Path]] = []
    for child in children:
        match = re.fullmatch(r"(domains|urls|expressions)(?:\.(\d+))?", child.name)
        if match and child.is_file():
            found.append((PARTS.index(match.group(1)), int(match.group(2) or -1), child))
    return [path for *_, path in sorted(found)]


def read_folder(folder: Path, name: str, progress: Progress | None = None) -> ImportedEntries:
    """A whole UT1 category folder as one list, its files read in order into one sink."""
    files = folder_files(folder, name)
    if not files:
        raise RulesFileError(
            f"cannot read {name}: no domains, urls or expressions file in it"
            " (not a UT1 category folder)"
        )
    sink = EntrySink(name)
    done = 0
    for path in files:
        sink.file = f"{name}/{path.name}"
        report = None if progress is None else _offset(progress, done)
        with open_binary(path, sink.file) as stream:
            READERS[part_of(path.name) or "domains"](iter_blocks(stream, sink.file, report), sink)
            done += stream.tell()
    return sink.entries


def _offset(progress: Progress, base: int) -> Progress:
    return lambda n: progress(base + n)
