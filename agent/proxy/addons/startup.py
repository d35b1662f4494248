"""Two addons that matter only while the agent starts: stop on a start-up error, and say where
the proxy listens once it accepts connections."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from mitmproxy import ctx
from mitmproxy.addons import errorcheck


class StartupCheck(errorcheck.ErrorCheck):
    """Stops a start that logged an error (the port is taken, say) with exit code 1.

    The error itself has already been printed by Candor's log handler, so unlike mitmproxy's
    check this adds no second message.
    """

    name = "errorcheck"

    async def shutdown_if_errored(self) -> None:
        await asyncio.sleep(0)
        if self.logger.has_errored:
            sys.exit(1)


LISTENER_WORDS = {"regular": "listening", "dns": "dns", "transparent": "transparent"}
"""What each mode's start-up line says: `candor dns on HOST:PORT`, ..."""


class Announce:
    """Prints `candor listening on HOST:PORT` once the proxy accepts connections (the CA exists
    by then), and tells the agent; before it, `candor dns on HOST:PORT` for each other listener.

    Then takes itself and the start-up error check out of the addon chain: each addon that has
    nothing left to do would cost every request a little.
    """

    def __init__(self, listening: Callable[[str, int], None]) -> None:
        self._listening = listening

    def running(self) -> None:
        ps = ctx.master.addons.get("proxyserver")
        for server in ps.servers:
            if server.mode.type_name != "regular" and server.listen_addrs:
                words = LISTENER_WORDS.get(server.mode.type_name, server.mode.type_name)
                print(f"candor {words} on {format_address(*server.listen_addrs[0][:2])}")
        host, port = ps.listen_addrs()[0][:2]
        self._listening(host, port)
        print(f"candor listening on {format_address(host, port)}", flush=True)
        asyncio.get_running_loop().call_soon(self._leave_chain)

    def _leave_chain(self) -> None:
        addons = ctx.master.addons
        if check := addons.get(StartupCheck.name):
            addons.remove(check)
        addons.remove(self)


def format_address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
