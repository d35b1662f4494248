"""`--resolve PATTERN:IP` and `--upstream-ca FILE`: point Candor at local test servers.

Like curl's `--resolve`, but with wildcards so a whole test domain (`*.test:127.0.0.1`) or every
name (`*:127.0.0.1`) can be kept on the loopback interface. Only the name lookup changes: the
Host header, the TLS server name and every decision still use the real name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rules.hostnames import InvalidHost, is_ip_literal, normalise_host


class ResolveSpecError(ValueError):
    """A `--resolve` value that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Override:
    """One `--resolve` pattern and the address it resolves to."""

    pattern: str
    """An exact name, `*.suffix` for the names under suffix, or `*` for every name."""
    address: str

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact names beat wildcards; a longer wildcard suffix beats a shorter one."""
        if self.pattern == "*":
            return (0, 0)
        if self.pattern.startswith("*."):
            return (1, len(self.pattern))
        return (2, len(self.pattern))

    def matches(self, host: str) -> bool:
        """Whether `host` (normalised) falls under this pattern."""
        if self.pattern == "*":
            return True
        if self.pattern.startswith("*."):
            return host.endswith(self.pattern[1:])
        return host == self.pattern


def parse_override(spec: str) -> Override:
    """`*.test:127.0.0.1`, `www.example.com:::1` or `host:[::1]`."""
    pattern, sep, address = spec.partition(":")
    address = address.strip().strip("[]")
    if not sep or not pattern or not address:
        raise ResolveSpecError(f"--resolve {spec!r}: expected PATTERN:IP, like '*.test:127.0.0.1'")
    if not is_ip_literal(address):
        raise ResolveSpecError(f"--resolve {spec!r}: {address!r} is not an IP address")
    pattern = pattern.strip().lower()
    if pattern != "*":
        name = pattern[2:] if pattern.startswith("*.") else pattern
        try:
            name = normalise_host(name)
        except InvalidHost as exc:
            raise ResolveSpecError(f"--resolve {spec!r}: {exc}") from None
        pattern = "*." + name if pattern.startswith("*.") else name
    return Override(pattern, address)


class Resolve:
    """Answers name lookups for matching hosts, as a hosts file would, for upstream connections.

    mitmproxy dials the host name it was asked for; the event loop resolves it. This addon puts
    itself in front of that lookup, so the connection keeps its real name: keep-alive requests
    reuse their upstream connection, and the TLS server name and every decision use the real
    name too. (Rewriting the address in `server_connect` instead made mitmproxy open, and keep,
    a new upstream connection for every request.) A blocked host is refused in `server_connect`
    before any lookup, so it cannot reach a test server by accident.
    """

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.overrides = sorted(overrides, key=lambda o: o.specificity, reverse=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    def lookup(self, host: str) -> str | None:
        """The address `host` resolves to, or None to leave it to the system's resolver."""
        host = host.lower().rstrip(".")
        return next((o.address for o in self.overrides if o.matches(host)), None)

    def running(self) -> None:
        if self.overrides and self._loop is None:
            self._loop = asyncio.get_running_loop()
            system = self._loop.getaddrinfo

            async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
                name = host.decode("idna") if isinstance(host, bytes) else host
                address = self.lookup(str(name)) if name else None
                return await system(address or host, port, *args, **kwargs)

            self._loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]

    def done(self) -> None:
        if self._loop is not None:
            del self._loop.getaddrinfo  # the loop's own method again
            self._loop = None


def upstream_ca_options(path: str | None) -> dict[str, str]:
    """mitmproxy options that make it trust `path` (a PEM file) for upstream certificates."""
    return {"ssl_verify_upstream_trusted_ca": path} if path else {}
