"""Reader for dnsmasq configuration lists: `address=/d/…`, `local=/d/` and `server=/d/` lines.

The usual line is handled by one regex in `scan`; only the rest reaches the handler below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.lists.entries import NAME_PATTERN, NOT_UTF8, EntrySink, scan
from rules.lists.lines import Block

_DNSMASQ_LINE = re.compile(
    rf"address=/(?:\*\.)?({NAME_PATTERN})/[^/]*|(?:local|server)=/(?:\*\.)?({NAME_PATTERN})/"
)
_DNSMASQ = re.compile(r"(address|server|local)=/(.*)/([^/]*)")
_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]*(?:=.*)?")


def read_dnsmasq(blocks: Iterable[Block], sink: EntrySink) -> None:
    """`address=/d/…`, `local=/d/` and `server=/d/` lines; every name between the slashes.

    `#` starts a comment only at the start of a line: in `address=/d/#` it means "answer with
    nothing" and is part of the rule. `server=/d/1.2.3.4` and `server=/d/#` send the name to a
    real DNS server, so they block nothing and are skipped.
    """

    def handle(lineno: int, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if text[0] == "#":
            sink.skip("comment")
            return
        if "\ufffd" in text:
            sink.reject(lineno, line, NOT_UTF8)
            return
        match = _DNSMASQ.fullmatch(text)
        if match is None:
            key = text.split("=", 1)[0].strip()
            if key in ("address", "server", "local") or not _DIRECTIVE.fullmatch(text):
                sink.reject(lineno, line, "malformed dnsmasq line")
            else:
                sink.skip("other dnsmasq directive")
            return
        directive, names, answer = match.groups()
        if directive == "server" and answer:
            sink.skip("server= line that forwards rather than blocks")
            return
        if directive == "local" and answer:
            sink.reject(lineno, line, "malformed dnsmasq line")
            return
        several = "/" in names
        for name in names.split("/"):
            if name == "#":
                sink.reject(lineno, line, "'#' as a domain would match every site")
            elif not name:
                sink.reject(lineno, line, "empty domain between slashes")
            else:
                sink.add_host(name.removeprefix("*."), lineno, line, label=several)

    scan(blocks, sink, _DNSMASQ_LINE, handle, subtree=True)
