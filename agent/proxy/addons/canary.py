"""The canary: a host only a Candor agent in the path can answer, and a note of real traffic.

The self-check asks for the canary through the system's own proxy settings and trust store; an
answer proves the wiring still leads through Candor. The same addon notes when real traffic
last went through, so a long quiet stretch while the computer is awake can be noticed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rules.model import Rule, RuleKind

CANARY_HOST = "canary.candor.invalid"
"""A name no DNS resolves: only a Candor agent in the path can answer it."""
CANARY_HEADER = "X-Candor-Canary"
CANARY_URL = f"https://{CANARY_HOST}/"
CANARY_RULE = Rule(RuleKind.EXACT, CANARY_HOST, source="canary")
"""Handed to the matcher as a host to inspect: the canary is answered inside its TLS."""


class Canary:
    """mitmproxy addon: answers the canary host and notes when real traffic last went through.

    Goes after the Filter in the addon chain, so it has the last word on the canary host only.
    The canary host is decrypted because the agent lists `CANARY_RULE` among hosts to inspect.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last_traffic: float | None = None

    def http_connect(self, flow: Any) -> None:
        if flow.request.host.lower().rstrip(".") != CANARY_HOST:
            self.last_traffic = self._clock()

    def requestheaders(self, flow: Any) -> None:
        # Runs on every request: the raw authority, not mitmproxy's parsed `pretty_host`.
        authority = flow.request.host_header or flow.request.host
        if authority.lower().partition(":")[0].rstrip(".") != CANARY_HOST:
            self.last_traffic = self._clock()
            return
        from mitmproxy import http  # only the canary request needs it; `candor status` does not

        flow.response = http.Response.make(
            200,
            b"Candor is in the path of this connection.\n",
            {CANARY_HEADER: "1", "Content-Type": "text/plain", "Cache-Control": "no-store"},
        )
