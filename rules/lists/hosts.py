"""Reader for hosts files: `IP name [name ...]`, the format operating systems read.

These are the big lists (a million lines is ordinary): the usual line is handled by one regex in
`scan`, and only the rest reaches the line handler below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.hostnames import is_ip_literal
from rules.lists.entries import NAME_PATTERN, NOT_UTF8, EntrySink, may_be_address, scan
from rules.lists.lines import Block

_HOSTS_LINE = re.compile(rf"(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+({NAME_PATTERN})[ \t]*")


def read_hosts(blocks: Iterable[Block], sink: EntrySink) -> None:
    """`IP name [name ...]`, `#` comments anywhere; a bare name on its own line is accepted.

    Every name after the address counts (the OS reads them all). Any address is accepted as the
    first token: lists use 0.0.0.0, 127.0.0.1 and typos such as 127.0.0.7 alike.
    """
    addresses: set[str] = set()

    def handle(lineno: int, line: str) -> None:
        body = line
        if "#" in line:
            body = line[: line.index("#")]
            if not body or body.isspace():
                sink.skip("comment")
                return
        parts = body.split()
        if not parts:
            return
        if "\ufffd" in body:
            sink.reject(lineno, line, NOT_UTF8)
            return
        first = parts[0]
        if first in addresses or (may_be_address(first) and is_ip_literal(first)):
            addresses.add(first)
            names = parts[1:]
            if not names:
                sink.reject(lineno, line, "an address with no host name after it")
                return
        elif len(parts) == 1:
            names = parts
        else:
            sink.reject(lineno, line, "a hosts line starts with an IP address")
            return
        for name in names:
            sink.add_host(name, lineno, line, label=len(names) > 1)

    scan(blocks, sink, _HOSTS_LINE, handle)
