"""Readers for the line-per-host formats: hosts files, plain domains, `*.` wildcards, dnsmasq.

These are the big lists (a million lines is ordinary): the usual line is handled by one regex in
`scan`, and only the rest reaches the line handlers below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.hostnames import is_ip_literal
from rules.readers_entries import NAME_PATTERN, NOT_UTF8, EntrySink, scan
from rules.readers_text import Block

_HOSTS_LINE = re.compile(rf"(?:0\.0\.0\.0|127\.0\.0\.1)[ \t]+({NAME_PATTERN})[ \t]*")
_NAME_LINE = re.compile(rf"[ \t]*(?:\*\.)?({NAME_PATTERN})[ \t]*")
_BARE_NAME_LINE = re.compile(rf"[ \t]*({NAME_PATTERN})[ \t]*")
_DNSMASQ_LINE = re.compile(
    rf"address=/(?:\*\.)?({NAME_PATTERN})/[^/]*|(?:local|server)=/(?:\*\.)?({NAME_PATTERN})/"
)
_DNSMASQ = re.compile(r"(address|server|local)=/(.*)/([^/]*)")
_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]*(?:=.*)?")


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
        if first in addresses or (_may_be_address(first) and is_ip_literal(first)):
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
            if _may_be_address(first) and is_ip_literal(first):
                sink.reject(lineno, line, "a hosts-file line; import it as hosts")
                return
        sink.add_host(name, lineno, line, subtree=subtree)

    scan(blocks, sink, _BARE_NAME_LINE if sink.exact_hosts else _NAME_LINE, handle)


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


def _may_be_address(token: str) -> bool:
    """A cheap test before the costly one: addresses start with a digit or contain ':'."""
    return token[0].isdigit() or ":" in token
