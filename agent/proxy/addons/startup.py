"""Two addons that matter only while the agent starts: stop on a start-up error, and say where
the proxy listens once it accepts connections."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable, Sequence

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


ANNOUNCED = {"regular": "listening on", "transparent": "transparent on"}
"""What each listener's line says, by mitmproxy's mode: `candor listening on HOST:PORT`."""


class Announce:
    """Prints `candor listening on HOST:PORT` once the proxy accepts connections (the CA exists
    by then), and tells the agent; then a line for each other listener (`candor transparent on
    HOST:PORT`, `candor dns on HOST:PORT`).

    Then takes itself and the start-up error check out of the addon chain: each addon that has
    nothing left to do would cost every request a little.
    """

    def __init__(
        self,
        listening: Callable[[str, int], None],
        others: Callable[[], Sequence[tuple[str, tuple[str, int]]]] = list,
        after: Sequence[str] = (),
    ) -> None:
        """`others`: listeners of Candor's own beside mitmproxy's, as (words, address);
        `after`: lines said once below them (what the home still lacks)."""
        self._listening = listening
        self._others = others
        self._after = after

    def running(self) -> None:
        check = ctx.master.addons.get(StartupCheck.name)
        if check is not None and check.logger.has_errored:
            return  # the start failed: it stops with its error, announcing nothing
        ps = ctx.master.addons.get("proxyserver")
        listeners = [
            (s.mode.type_name, s.listen_addrs[0][:2]) for s in ps.servers if s.listen_addrs
        ]
        listeners.sort(key=lambda listener: listener[0] != "regular")  # the proxy's line first
        for mode, (host, port) in listeners:
            if mode == "regular":
                self._listening(host, port)
            words = ANNOUNCED.get(mode, f"{mode} on")
            print(f"candor {words} {format_address(host, port)}", flush=True)
        for words, address in self._others():
            print(f"candor {words} {format_address(*address)}", flush=True)
        if any(s.mode.type_name == "local" and s.is_running for s in ps.servers):
            print("candor capturing this computer's programs (local mode)", flush=True)
        for line in self._after:
            print(line, flush=True)
        asyncio.get_running_loop().call_soon(self._leave_chain)

    def _leave_chain(self) -> None:
        addons = ctx.master.addons
        if check := addons.get(StartupCheck.name):
            addons.remove(check)
        addons.remove(self)


def format_address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_LISTEN_FAILED = re.compile(r"failed to listen on (?P<address>\S+?) with (?P<why>.*)", re.S)
LISTEN_WORDS = {
    "address already in use": (
        "{address} is already in use by another program (is Candor already running? "
        "`candor status` says). Start it on another port with --listen 127.0.0.1:PORT."
    ),
    "permission denied": (
        "this account may not listen on {address} (ports below 1024 need the system "
        "install). Use a port above 1024 with --listen 127.0.0.1:PORT."
    ),
    "cannot assign requested address": (
        "{address} is not an address of this computer. Use --listen 127.0.0.1:PORT."
    ),
}
"""What a listener that cannot start says: the cause and the one option that fixes it."""


class ListenErrorWords(logging.Filter):
    """Turns mitmproxy's "failed to listen … [Errno 98] …" into one sentence a person can act
    on; other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a failed listen's message in place; never drops a record."""
        found = _LISTEN_FAILED.search(record.getMessage())
        if found is None:
            return True
        why = found["why"].lower()
        for cause, words in LISTEN_WORDS.items():
            if cause in why:
                address = found["address"].rstrip(":.")
                record.msg, record.args = words.format(address=address), None
                break
        return True
