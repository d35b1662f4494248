"""Candor's DNS listeners (`candor run --dns`), started and stopped with the proxy.

They are Candor's own lean servers (`agent/proxy/dns_server.py`) rather than mitmproxy's DNS
mode: that mode builds a flow and runs the whole addon chain for every lookup, about 2.3 ms of
CPU each on a small machine, while a lookup here costs a tenth of that (docs/dns.md,
docs/benchmarks.md). The decisions are the same rules, hot-reloaded, as the proxy's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mitmproxy import addonmanager, ctx, exceptions

from agent.config import parse_listen
from agent.proxy.addons.startup import format_address
from agent.proxy.dns_forwarder import UdpForwarder
from agent.proxy.dns_policy import DnsPolicy
from agent.proxy.dns_server import DnsServer
from agent.proxy.dns_upstream import Address, SystemResolvers, parse_upstream

log = logging.getLogger("candor")


class DnsService:
    """mitmproxy addon: listens for DNS where `dns_listen` says, forwarding to `dns_upstream`
    (or the system's resolvers)."""

    def __init__(self, policy: DnsPolicy, system: SystemResolvers | None = None) -> None:
        self._policy = policy
        self._system = system if system is not None else SystemResolvers()
        self._upstream: Address | None = None
        self._addresses: list[Address] = []
        self._servers: list[DnsServer] = []
        self._forwarder = UdpForwarder()
        self.listening: list[Address] = []
        """Where the listeners answer, once started (port 0 resolved): for the start-up lines."""

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "dns_listen", Sequence[str], [], "HOST:PORT where Candor answers DNS (UDP and TCP)."
        )
        loader.add_option(
            "dns_upstream",
            str,
            "",
            "IP[:PORT] of the resolver Candor's DNS forwards to; empty: the system's resolvers.",
        )

    def configure(self, updated: set[str]) -> None:
        if "dns_upstream" in updated:
            spec = ctx.options.dns_upstream
            try:
                self._upstream = parse_upstream(spec) if spec else None
            except ValueError as exc:
                raise exceptions.OptionsError(f"--dns-upstream {exc}") from None
        if "dns_listen" in updated:
            try:
                self._addresses = [parse_listen(spec) for spec in ctx.options.dns_listen]
            except ValueError as exc:
                raise exceptions.OptionsError(f"--dns {exc}") from None

    async def running(self) -> None:
        for host, port in self._addresses:
            server = DnsServer(self._policy, self._forwarder, self.upstream)
            try:
                self.listening.append(await server.start(host, port))
            except OSError as exc:
                log.error(
                    "Candor cannot answer DNS on %s: %s.",
                    format_address(host, port),
                    (exc.strerror or str(exc)).lower(),
                )
                continue
            self._servers.append(server)

    def done(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        self._forwarder.close()

    def upstream(self) -> Address | None:
        """Where forwarded lookups go now: `--dns-upstream`, else the system's resolver."""
        return self._upstream or self._system.current()
