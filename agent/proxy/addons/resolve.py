"""`--resolve PATTERN:IP` and `--upstream-ca FILE`: point Candor at local test servers.

Like curl's `--resolve`, but with wildcards so a whole test domain (`*.test:127.0.0.1`) or every
name (`*:127.0.0.1`) can be kept on the loopback interface. Only the upstream address changes:
the Host header, the TLS server name and every decision still use the real name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mitmproxy.proxy import server_hooks

from rules.hostnames import InvalidHost, is_ip_literal, normalise_host


class ResolveSpecError(ValueError):
    """A `--resolve` value that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Override:
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
    """Rewrites the address of upstream connections whose host matches an override.

    Goes after the filter in the addon chain: a connection the filter refused keeps its error
    and is never rewritten, so a blocked host cannot reach a test server by accident.
    """

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.overrides = sorted(overrides, key=lambda o: o.specificity, reverse=True)

    def lookup(self, host: str) -> str | None:
        host = host.lower().rstrip(".")
        return next((o.address for o in self.overrides if o.matches(host)), None)

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.server.error or not data.server.address or not self.overrides:
            return
        host, port = data.server.address[:2]
        if address := self.lookup(str(host)):
            if data.server.tls and data.server.sni is None and not is_ip_literal(str(host)):
                data.server.sni = str(host)
            data.server.address = (address, port)


def upstream_ca_options(path: str | None) -> dict[str, str]:
    """mitmproxy options that make it trust `path` (a PEM file) for upstream certificates."""
    return {"ssl_verify_upstream_trusted_ca": path} if path else {}
