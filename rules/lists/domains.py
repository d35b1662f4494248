"""Reader for one-name-a-line lists: plain domains, `*.` wildcards and UT1 `domains` files.

Plain and wildcard lists share this one reader because a wildcard list is a domain list whose
lines start with `*.`: both kinds of line may appear in either, and a second reader would repeat
this one. The usual line is handled by one regex in `scan`; only the rest reaches the handler.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.hostnames import is_ip_literal
from rules.lists.entries import NAME_PATTERN, NOT_UTF8, EntrySink, may_be_address, scan
from rules.lists.lines import Block

_NAME_LINE = re.compile(rf"[ \t]*(?:\*\.)?({NAME_PATTERN})[ \t]*")
_BARE_NAME_LINE = re.compile(rf"[ \t]*({NAME_PATTERN})[ \t]*")


def read_names(blocks: Iterable[Block], sink: EntrySink) -> None:
    """One name a line, `#` comments: plain domain lists, wildcard (`*.d`) lists, UT1 `domains`.

    `*.example.com` means the domain and all its subdomains whatever `exact` says.
    """

    def handle(lineno: int, line: str) -> None:
        name = line.strip()
        if not name:
            return
        if name[0] == "#":
            sink.skip("comment")
            return
        if "#" in name:
            name = name[: name.index("#")].rstrip()
        if "\ufffd" in name:
            sink.reject(lineno, line, NOT_UTF8)
            return
        subtree = name.startswith("*.")
        if subtree:
            name = name[2:]
        elif name == "*":
            sink.reject(lineno, line, "a bare '*' would match every site")
            return
        if " " in name or "\t" in name:
            first = name.split(None, 1)[0]
            if may_be_address(first) and is_ip_literal(first):
                sink.reject(lineno, line, "a hosts-file line; import it as hosts")
                return
        sink.add_host(name, lineno, line, subtree=subtree)

    scan(blocks, sink, _BARE_NAME_LINE if sink.exact_hosts else _NAME_LINE, handle)
