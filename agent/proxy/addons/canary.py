"""The canary: a host only a Candor agent in the path can answer, and a note of real traffic.

The self-check asks for the canary through the system's own proxy settings and trust store; an
answer proves the wiring still leads through Candor. The same addon notes when real traffic
last went through, so a long quiet stretch while the computer is awake can be noticed.

The canary's name carries a secret made afresh by each agent (`<secret>.canary.candor.invalid`),
known only to this agent and its self-check: any other name, such as one a web page probes to
learn whether Candor is installed, gets what any unknown host gets (it is not decrypted and
cannot be reached), so a page cannot tell.

Under transparent capture (`candor install --system`) a second name, the probe's, is answered
too, by DNS and over plain HTTP: a root timer makes a lookup and a connection to it as an
unprivileged user (`candor selfcheck --probe`), and the time one last arrived is noted, so a
capture that no longer reaches Candor is noticed (agent/health/capture_guard.py). Its name is
written for that timer only (`PROBE_FILE`, readable by Candor's user and root).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from rules.model import Rule, RuleKind

CANARY_DOMAIN = "canary.candor.invalid"
"""Under a name no DNS resolves: only a Candor agent in the path can answer its canary."""
CANARY_HEADER = "X-Candor-Canary"
PROBE_FILE = "probe-canary"
"""Under the home's state folder: the probe's canary name, for the root timer's probe."""


class Canary:
    """mitmproxy addon: answers the canary host and notes when real traffic last went through.

    Goes after the Filter in the addon chain, so it has the last word on the canary host only.
    The canary host is decrypted because the agent lists `rule` among hosts to inspect.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, secret: str | None = None
    ) -> None:
        self._clock = clock
        self.last_traffic: float | None = None
        self.host = f"{secret or secrets.token_hex(16)}.{CANARY_DOMAIN}"
        """This agent's canary name; its secret part is never written anywhere."""
        self.url = f"https://{self.host}/"
        self.rule = Rule(RuleKind.EXACT, self.host, source="canary")
        """Handed to the matcher as a host to inspect: the canary is answered inside its TLS."""
        self.probe_host = f"{secrets.token_hex(16)}.probe.{CANARY_DOMAIN}"
        """The probe's name: answered by DNS and over plain HTTP, through any listener."""
        self.last_probe: float | None = None
        """Monotonic time the probe's request last arrived, or None."""

    def http_connect(self, flow: Any) -> None:
        if flow.request.host.lower().rstrip(".") != self.host:
            self.last_traffic = self._clock()

    def requestheaders(self, flow: Any) -> None:
        # Runs on every request: the raw authority (under transparent capture `request.host` is
        # the address dialled), not mitmproxy's parsed `pretty_host`.
        authority = flow.request.host_header or flow.request.host
        name = authority.lower().partition(":")[0].rstrip(".")
        if name == self.probe_host:
            self.last_probe = self._clock()
        elif name != self.host:
            self.last_traffic = self._clock()
            return
        from mitmproxy import http  # only the canary request needs it; `candor status` does not

        flow.response = http.Response.make(
            200,
            b"Candor is in the path of this connection.\n",
            {CANARY_HEADER: "1", "Content-Type": "text/plain", "Cache-Control": "no-store"},
        )
