"""The proxy addon that applies the person's rules to their traffic.

Most connections are decided once, at the TLS ClientHello, from the host names alone (the SNI
and the CONNECT target) and are then passed through without being decrypted: Candor never reads
what it has no rule about. Only hosts that are blocked or warned, named by a path rule, or
covered by SafeSearch and search capture are intercepted; their requests are decided one by one
in `requestheaders`, before any byte goes upstream. `server_connect` refuses any upstream
connection to a blocked host again, in case a request slips past the page logic.

Recording follows the same restraint: allowed traffic leaves nothing behind; a decision records
the category, the rule and the host, and the path only at the "detailed" level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mitmproxy import connection, http, tls
from mitmproxy.proxy import server_hooks

from agent.journal import events
from agent.journal.events import (
    BypassSuspected,
    EventBody,
    PinnedPassthrough,
    UnblockRequest,
    WarnContinue,
)
from agent.proxy.addons import doh, safesearch
from agent.proxy.addons.page_tokens import CONTINUE_PATH, MISTAKE_PATH, PREFIX, Shown, WarnState
from agent.proxy.pages import render as pages
from rules.hostnames import InvalidHost, normalise_host
from rules.matcher import Matcher
from rules.model import Decision, HostCheck

log = logging.getLogger(__name__)

Record = Callable[[EventBody], None]
"""Appends one journal event; must not block the event loop."""

REPEAT_WINDOW = 10.0
"""Seconds during which the same decision on the same host is recorded once (a page and its
favicon, a browser's parallel connections, a retry)."""

BYPASS_CATEGORY = "bypass"

_DISTRUST = ("does not trust the proxy's certificate",)
"""What mitmproxy says when a client answered Candor's certificate with a certificate alert."""


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """The parts of the configuration the filter reads on every request."""

    partner: str | None = None
    detailed: bool = False
    """The detail level allows paths and search terms in the journal."""
    safesearch: bool = True
    search_capture: bool = True


class Filter:
    """Candor's mitmproxy addon. Goes last in the chain, after TlsConfig."""

    def __init__(
        self,
        matcher: Callable[[], Matcher],
        record: Record,
        settings: Callable[[], FilterSettings] = FilterSettings,
        warn: WarnState | None = None,
        clock: Callable[[], float] = time.monotonic,
        answered_here: Iterable[str] = (),
    ) -> None:
        self._matcher = matcher
        self._record = record
        self._settings = settings
        self.warn = warn or WarnState(clock)
        self._clock = clock
        self.pinned: set[str] = set()
        """Hosts a client refused Candor's certificate for; passed through from then on."""
        self._answered_here = frozenset(answered_here)
        """Hosts only Candor answers (the canary): never passed through, whatever the client."""
        self._refused_clients: set[str] = set()
        self._cleared: set[tuple[str, str]] = set()
        """(client id, host): a request on a host-blocked host was allowed (an exception)."""
        self._recent: dict[tuple[Any, ...], float] = {}

    # -- connection level ------------------------------------------------------------------

    def http_connect(self, flow: http.HTTPFlow) -> None:
        host = _host(flow.request.host)
        check = self._matcher().check_host(host)
        if check.refuse:
            flow.response = http.Response.make(
                403, b"", {"X-Candor-Decision": pages.decision_header(check.decision)}
            )
            self._decided(check.decision, host)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        names = _names(data.client_hello.sni, data.context.server.address)
        checks = self._check_names(names)
        refused = next((c for _, c in checks if c.refuse), None)
        if refused is not None:
            # Never decrypt a never-inspect host; with no way to answer, refuse the upstream.
            self._refused_clients.add(data.context.client.id)
            data.ignore_connection = True
            self._decided(refused.decision, names[0])
            return
        data.ignore_connection = not self._intercepts(checks)
        if data.ignore_connection:
            self._passed(checks)

    def passes_at_hello(self, sni: str | None, address: tuple[str, int] | Any) -> bool:
        """True if a connection with this SNI and CONNECT target passes through undecrypted.

        Asked by `EarlyPassthrough` before any TLS layer exists; records what `tls_clienthello`
        would have recorded for such a connection. False leaves the full decision (interception,
        refusal) to `tls_clienthello`.
        """
        checks = self._check_names(_names(sni, address))
        if any(c.refuse for _, c in checks) or self._intercepts(checks):
            return False
        self._passed(checks)
        return True

    def _check_names(self, names: list[str]) -> list[tuple[str, HostCheck]]:
        matcher = self._matcher()
        return [(name, matcher.check_host(name)) for name in names]

    def _intercepts(self, checks: list[tuple[str, HostCheck]]) -> bool:
        return any(c.intercept for _, c in checks) and not self._pinned_only(checks)

    def _passed(self, checks: list[tuple[str, HostCheck]]) -> None:
        # A host-level `log` needs no decryption: the host name is all it records.
        for name, check in checks:
            if check.decision.decision == "log":
                self._decided(check.decision, name)
                break

    def tls_failed_client(self, data: tls.TlsData) -> None:
        error = data.conn.error or ""
        if not any(marker in error for marker in _DISTRUST):
            return
        address = data.context.server.address
        names = _names(data.conn.sni, address)
        matcher = self._matcher()
        checks = [(name, matcher.check_host(name)) for name in names]
        if any(c.decision.decision in ("block", "warn") for _, c in checks):
            return  # a blocked host stays blocked, whatever the client thinks of the certificate
        for name, check in checks:
            if check.intercept and name not in self.pinned and name not in self._answered_here:
                self.pinned.add(name)
                self._record(PinnedPassthrough(host=name))
                log.info("%s refused Candor's certificate; passing it through from now on", name)

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.server.error:
            return
        if data.client.id in self._refused_clients:
            data.server.error = "Candor: this host is blocked"
            return
        if not data.server.address:
            return
        host = _host(str(data.server.address[0]))
        if (data.client.id, host) in self._cleared:
            return
        if self._matcher().check_host(host).decision.decision == "block":
            data.server.error = "Candor: this host is blocked"

    def client_disconnected(self, client: connection.Client) -> None:
        self._refused_clients.discard(client.id)
        if self._cleared:
            self._cleared = {c for c in self._cleared if c[0] != client.id}

    # -- request level ---------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not flow.live:
            return
        request = flow.request
        host = _request_host(request)
        if request.path.startswith(PREFIX) and self._answer_own_link(flow, host):
            return
        if reason := doh.looks_like_doh(request):
            self._block_doh(flow, host, reason)
            return
        engine = safesearch.engine_for(host)
        capture = engine is not None and self._settings().search_capture
        search = safesearch.search_of(request, engine) if capture and engine else None
        if capture and engine == "duckduckgo" and search is None and request.method == "POST":
            flow.metadata["candor_search"] = engine  # the form arrives with the body
        self._apply(flow, host, engine, search)

    def request(self, flow: http.HTTPFlow) -> None:
        engine = flow.metadata.pop("candor_search", None)
        if engine is None or flow.response or not flow.live:
            return
        search = safesearch.search_of(flow.request, engine)
        if search is not None:
            self._apply(flow, _request_host(flow.request), engine, search)

    def _apply(
        self,
        flow: http.HTTPFlow,
        host: str,
        engine: str | None,
        search: safesearch.Search | None,
    ) -> None:
        request = flow.request
        matcher = self._matcher()
        url = _request_url(request, host)
        decision = matcher.decide(url, search_terms=search.terms if search else None)
        verdict = decision.decision
        if verdict == "warn" and self.warn.allowed(host):
            verdict = "allow"
        if search is not None:
            self._searched(search, decision)
        if verdict == "block":
            self._decided(decision, host, request.path)
            self._serve(flow, host, decision, pages.block_page, url)
            return
        if verdict == "warn":
            self._decided(decision, host, request.path)
            self._serve(flow, host, decision, pages.warn_page, url)
            return
        if verdict == "log":
            self._decided(decision, host, request.path)
        if engine and self._settings().safesearch:
            safesearch.enforce(request, engine)
        if matcher.check_host(host).decision.decision == "block":
            self._cleared.add((flow.client_conn.id, host))

    def _serve(
        self,
        flow: http.HTTPFlow,
        host: str,
        decision: Decision,
        render: Callable[[pages.PageInfo], str],
        url: str | None = None,
    ) -> None:
        """`url` is the request's URL when the caller has built it already."""
        request = flow.request
        if url is None:
            url = _request_url(request, host)
        back = url if request.method == "GET" else _request_url(request, host, "/")
        token = self.warn.issue(
            host, decision.category, decision.rule, decision.source, decision.decision, back
        )
        info = pages.PageInfo(host, url, decision, token, self._settings().partner)
        flow.response = pages.page_response(render(info), decision)

    def _answer_own_link(self, flow: http.HTTPFlow, host: str) -> bool:
        """The page's "continue" and "mistake" links; False lets the request be decided as usual."""
        path = flow.request.path.split("?", 1)[0]
        token = flow.request.query.get("token") or ""
        if path == CONTINUE_PATH:
            shown = self.warn.redeem(token, host)
            if shown is None or shown.decision != "warn":
                return False
            self.warn.allow(host)
            self._record(WarnContinue(**_page_action(shown)))
            flow.response = http.Response.make(
                303, b"", {"Location": shown.url, "Cache-Control": "no-store"}
            )
            return True
        if path == MISTAKE_PATH:
            shown, first = self.warn.report(token, host)
            if shown is None:
                return False
            if first:
                self._record(UnblockRequest(**_page_action(shown)))
            decision = Decision(
                shown.decision,  # type: ignore[arg-type]
                shown.category,
                rule=shown.rule,
                source=shown.source,
            )
            info = pages.PageInfo(host, shown.url, decision, token, self._settings().partner)
            flow.response = http.Response.make(
                200,
                pages.noted_page(info),
                {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
            )
            return True
        return False

    def _block_doh(self, flow: http.HTTPFlow, host: str, reason: str) -> None:
        decision = Decision(
            "block",
            BYPASS_CATEGORY,
            "block",
            rule=f"DNS over HTTPS ({reason})",
            source="built in: DNS-over-HTTPS detection",
        )
        if self._first(("bypass", host)):
            self._record(BypassSuspected(what="DoH", host=host, detail=reason))
        self._serve(flow, host, decision, pages.block_page)

    # -- recording -------------------------------------------------------------------------

    def _decided(self, decision: Decision, host: str, path: str | None = None) -> None:
        detailed = self._settings().detailed
        key = ("decision", host, decision.decision, decision.category, path if detailed else None)
        if not self._first(key):
            return
        self._record(
            events.Decision(
                decision=decision.decision,
                category=decision.category,
                action=decision.action,
                rule=decision.rule,
                source=decision.source,
                host=host,
                path=path.split("?", 1)[0] if detailed and path else None,
            )
        )

    def _searched(self, search: safesearch.Search, decision: Decision) -> None:
        detailed = self._settings().detailed
        if decision.decision == "allow" and not detailed:
            return
        key = ("search", search.engine, decision.category, search.terms)
        if self._first(key):
            self._record(
                events.Search(
                    engine=search.engine,
                    category=decision.category,
                    decision=decision.decision,
                    terms=search.terms if detailed else None,
                )
            )

    def _first(self, key: tuple[Any, ...]) -> bool:
        """True unless `key` was recorded within the last REPEAT_WINDOW seconds."""
        now = self._clock()
        last = self._recent.get(key)
        if last is not None and now - last < REPEAT_WINDOW:
            return False
        if len(self._recent) > 4096:
            self._recent = {k: t for k, t in self._recent.items() if now - t < REPEAT_WINDOW}
        self._recent[key] = now
        return True

    def _pinned_only(self, checks: Iterable[tuple[str, HostCheck]]) -> bool:
        """Intercepted for inspection only, on a host whose client refused Candor's certificate."""
        checks = list(checks)
        if any(c.decision.decision in ("block", "warn") for _, c in checks):
            return False
        return any(name in self.pinned for name, c in checks if c.intercept)


def _page_action(shown: Shown) -> dict[str, Any]:
    return {
        "host": shown.host,
        "category": shown.category,
        "rule": shown.rule,
        "source": shown.source,
    }


@lru_cache(maxsize=4096)
def _host(text: str) -> str:
    try:
        return normalise_host(text)
    except InvalidHost:
        return text.strip().lower().rstrip(".")


def _request_host(request: http.Request) -> str:
    """The host the request names: its Host header (or HTTP/2 authority), else the target.

    Like mitmproxy's `pretty_host`, without re-parsing the same header on every request. A
    Host header that disagrees with the connection's target cannot reach a blocked upstream:
    `server_connect` checks the address actually dialled.
    """
    authority = request.host_header
    if authority:
        return _authority_host(authority)
    return _host(request.host)


@lru_cache(maxsize=4096)
def _authority_host(authority: str) -> str:
    if authority.startswith("["):
        host = authority[1 : authority.find("]")] if "]" in authority else authority
    elif authority.count(":") == 1:
        host = authority.partition(":")[0]
    else:
        host = authority
    return _host(host)


def _request_url(request: http.Request, host: str, path: str | None = None) -> str:
    """The URL the person asked for, as the matcher and the pages want it."""
    if request.first_line_format == "authority":
        return f"{request.scheme}://{host}/"
    scheme = request.scheme
    port = request.port
    if path is None:
        path = request.path if request.path != "*" else "/"
    if port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{_bracketed(host)}{path}"
    return f"{scheme}://{_bracketed(host)}:{port}{path}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _names(sni: str | None, address: tuple[str, int] | Any) -> list[str]:
    """The SNI and the CONNECT target, normalised, without duplicates (SNI first)."""
    names: list[str] = []
    for raw in (sni, address[0] if address else None):
        if raw:
            name = _host(str(raw))
            if name not in names:
                names.append(name)
    return names
