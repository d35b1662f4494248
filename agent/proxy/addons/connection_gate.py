"""Decides each connection from its host names alone: pass it through untouched, intercept it,
or refuse it. The connection-level half of Candor's filtering.

Most connections are decided once, at the TLS ClientHello, from the SNI and the CONNECT target,
and then passed through without being decrypted: Candor never reads what it has no rule about.
Only hosts that are blocked or warned, named by a path rule, or covered by SafeSearch and search
capture are intercepted; their requests are then decided one by one by the request filter.
`server_connect` refuses any upstream connection to a blocked host again, in case a request
slips past the page logic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from mitmproxy import connection, http, tls
from mitmproxy.proxy import server_hooks

from agent.journal.events import PinnedPassthrough
from agent.proxy.addons.recorder import Recorder
from agent.proxy.names import connection_names, host_name
from agent.proxy.pages.render import decision_header
from agent.proxy.pinned_clients import PinnedClients, address_of
from rules.matcher import Matcher
from rules.model import HostCheck

log = logging.getLogger(__name__)

BLOCKED = "Candor: this host is blocked"
"""The upstream error a refused connection carries."""

_DISTRUST = ("does not trust the proxy's certificate",)
"""What mitmproxy says when a client answered Candor's certificate with a certificate alert."""

Checks = list[tuple[str, HostCheck]]


class ConnectionGate:
    """mitmproxy addon for CONNECT, the ClientHello and upstream connections; after TlsConfig."""

    def __init__(
        self,
        matcher: Callable[[], Matcher],
        recorder: Recorder,
        answered_here: Iterable[str] = (),
        pinned: PinnedClients | None = None,
    ) -> None:
        self._matcher = matcher
        self._recorder = recorder
        self.pinned = pinned if pinned is not None else PinnedClients()
        """Clients that refused Candor's certificate for a host; passed through from then on."""
        self._answered_here = frozenset(answered_here)
        """Hosts only Candor answers (the canary): never passed through, whatever the client."""
        self._refused_clients: set[str] = set()
        self._cleared: set[tuple[str, str]] = set()
        """(client id, host): a request on a host-blocked host was allowed (an exception)."""

    def http_connect(self, flow: http.HTTPFlow) -> None:
        host = host_name(flow.request.host)
        check = self._matcher().check_host(host)
        if check.refuse:
            flow.response = http.Response.make(
                403, b"", {"X-Candor-Decision": decision_header(check.decision)}
            )
            self._recorder.decided(check.decision, host)

    def tls_clienthello(self, data: tls.ClientHelloData) -> Coroutine[Any, Any, None] | None:
        names = connection_names(data.client_hello.sni, data.context.server.address)
        checks = self._check_names(names)
        refused = next((c for _, c in checks if c.refuse), None)
        if refused is not None:
            # Never decrypt a never-inspect host; with no way to answer, refuse the upstream.
            self._refused_clients.add(data.context.client.id)
            data.ignore_connection = True
            self._recorder.decided(refused.decision, names[0])
            return None
        intercepts = any(c.intercept for _, c in checks)
        if intercepts and self.pinned.concerns(names) and not self._hard(checks):
            client = data.context.client
            if self.pinned.needs_lookup(names, address_of(client.peername)):
                return self._hello_after_lookup(data, checks)
            intercepts = not self.pinned.passes(names, client.id, address_of(client.peername))
        data.ignore_connection = not intercepts
        if data.ignore_connection:
            self._passed(checks)
        return None

    async def _hello_after_lookup(self, data: tls.ClientHelloData, checks: Checks) -> None:
        """Decide a connection to a host some client refused, once its program is known."""
        client = data.context.client
        await asyncio.to_thread(self.pinned.look_up, client.id, client.peername, client.sockname)
        names = [name for name, _ in checks]
        data.ignore_connection = self.pinned.passes(names, client.id, address_of(client.peername))
        if data.ignore_connection:
            self._passed(checks)

    def passes_at_hello(self, sni: str | None, address: tuple[str, int] | Any) -> bool:
        """True if a connection with this SNI and CONNECT target passes through undecrypted.

        Asked by `EarlyPassthrough` before any TLS layer exists; records what `tls_clienthello`
        would have recorded for such a connection. False leaves the full decision (interception,
        refusal) to `tls_clienthello`.
        """
        checks = self._check_names(connection_names(sni, address))
        if any(c.refuse or c.intercept for _, c in checks):
            return False  # the client's own refusals are decided at the ClientHello
        self._passed(checks)
        return True

    def tls_failed_client(self, data: tls.TlsData) -> None:
        error = data.conn.error or ""
        if not any(marker in error for marker in _DISTRUST):
            return
        checks = self._check_names(connection_names(data.conn.sni, data.context.server.address))
        if self._hard(checks):
            # A blocked host stays blocked, whatever the client thinks of the certificate. A
            # client that refused it (an app, under transparent capture) saw no page, so the
            # journal has the refused connection instead.
            self._refused_by_client(checks)
            return
        client = data.context.client
        address = address_of(client.peername)
        for name, check in checks:
            if not check.intercept or name in self._answered_here:
                continue
            key = self.pinned.refused(name, client.id, address)
            if key is not None:
                self._recorder.record(PinnedPassthrough(host=name, client=key[0], program=key[1]))
                log.info("%s (%s) refused Candor's certificate for %s: passed through", *key, name)

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.server.error:
            return
        if data.client.id in self._refused_clients:
            data.server.error = BLOCKED
            return
        if not data.server.address:
            return
        host = host_name(str(data.server.address[0]))
        if (data.client.id, host) in self._cleared:
            return
        check = self._matcher().check_host(host)
        if check.decision.decision == "block":
            data.server.error = BLOCKED
            self._recorder.decided(check.decision, host)  # every refusal is journaled

    def client_disconnected(self, client: connection.Client) -> None:
        self._refused_clients.discard(client.id)
        self.pinned.forget(client.id)
        if self._cleared:
            self._cleared = {c for c in self._cleared if c[0] != client.id}

    def clear(self, client_id: str, host: str) -> None:
        """A request on a host-level-blocked `host` was allowed (a path exception, say): let
        this client's upstream connection to it be made."""
        self._cleared.add((client_id, host))

    def _check_names(self, names: list[str]) -> Checks:
        matcher = self._matcher()
        return [(name, matcher.check_host(name)) for name in names]

    def _refused_by_client(self, checks: Checks) -> None:
        for name, check in checks:
            if check.decision.decision == "block":
                self._recorder.decided(check.decision, name)
                break

    def _passed(self, checks: Checks) -> None:
        # A host-level `log` needs no decryption: the host name is all it records.
        for name, check in checks:
            if check.decision.decision == "log":
                self._recorder.decided(check.decision, name)
                break

    @staticmethod
    def _hard(checks: Checks) -> bool:
        """A host blocked or warned is decrypted for that reason: never passed through."""
        return any(c.decision.decision in ("block", "warn") for _, c in checks)
