"""Where Candor's DNS forwards the lookups it does not answer itself: the resolver the person
named (`--dns-upstream IP[:PORT]`), or the system's current resolvers.

The system's resolvers are the `nameserver` lines of /etc/resolv.conf, read again whenever the
file changes (a network change rewrites it). A loopback address there is never used: it is
either a local stub such as systemd-resolved's 127.0.0.53, which would forward to the same
resolvers with a cache of its own in between (and, under system-wide capture, back to Candor), or
Candor itself, a loop. When only a stub is listed, the resolvers it forwards to are read from
systemd-resolved's own list, /run/systemd/resolve/resolv.conf. With no usable address at all,
lookups fail (SERVFAIL) and the agent says so once, rather than guessing a public resolver.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("candor")

DNS_PORT = 53
SYSTEM_RESOLV_CONF = Path("/etc/resolv.conf")
RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")
"""systemd-resolved's list of the resolvers it forwards to (not the 127.0.0.53 stub)."""
CHECK_EVERY = 2.0
"""Seconds between two looks at whether the resolver files changed (a stat each)."""

Address = tuple[str, int]


def parse_upstream(spec: str) -> Address:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address as (ip, port); ValueError if not."""
    text = spec.strip()
    host, port = text, DNS_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"must be an IP address, optionally with :PORT (found {spec!r})")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError(f"must be an IP address, optionally with :PORT (found {spec!r})")
        port = int(number)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"must be an IP address, optionally with :PORT (found {spec!r})") from None
    if not 0 < port < 65536:
        raise ValueError(f"the port must be between 1 and 65535 (found {spec!r})")
    return str(address), port


def nameservers(text: str) -> list[str]:
    """The `nameserver` addresses of a resolv.conf text, in order (scope ids kept)."""
    found: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                ipaddress.ip_address(words[1].partition("%")[0])
            except ValueError:
                continue
            found.append(words[1])
    return found


def is_loopback(address: str) -> bool:
    """Whether a nameserver address is this machine's loopback (a stub resolver, or Candor)."""
    return ipaddress.ip_address(address.partition("%")[0]).is_loopback


@dataclass
class _Seen:
    stamp: tuple[int, int, int] | None
    servers: list[str]


class SystemResolvers:
    """The system's non-loopback resolvers, re-read when the files holding them change."""

    def __init__(
        self,
        files: Sequence[Path] = (SYSTEM_RESOLV_CONF, RESOLVED_UPSTREAMS),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`files`: resolv.conf first, then where a stub's own upstreams are listed."""
        self._files = tuple(files)
        self._clock = clock
        self._seen: dict[Path, _Seen] = {}
        self._checked = float("-inf")
        self._current: Address | None = None
        self._said: str | None = None

    def current(self) -> Address | None:
        """The first usable resolver, or None (then said once in the log)."""
        now = self._clock()
        if now - self._checked >= CHECK_EVERY:
            self._checked = now
            self._current = self._choose()
        return self._current

    def _choose(self) -> Address | None:
        stub_only = False
        for path in self._files:
            servers = self._servers(path)
            usable = [s for s in servers if not is_loopback(s)]
            if usable:
                self._say(None)
                return usable[0], DNS_PORT
            stub_only = stub_only or bool(servers)
        if stub_only:
            self._say(
                f"{self._files[0]} lists only a local stub resolver and its upstream resolvers "
                "are not known: DNS lookups through Candor fail until --dns-upstream is given."
            )
        else:
            self._say(
                f"{self._files[0]} lists no resolver: DNS lookups through Candor fail until "
                "--dns-upstream is given."
            )
        return None

    def _servers(self, path: Path) -> list[str]:
        """A file's nameservers, read again only when its inode, size or mtime changed."""
        try:
            st = os.stat(path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        seen = self._seen.get(path)
        if seen is not None and seen.stamp == stamp:
            return seen.servers
        try:
            servers = nameservers(path.read_text("utf-8", "replace")) if stamp else []
        except OSError:
            servers = []
        self._seen[path] = _Seen(stamp, servers)
        return servers

    def _say(self, problem: str | None) -> None:
        if problem is not None and problem != self._said:
            log.warning("%s", problem)
        self._said = problem
