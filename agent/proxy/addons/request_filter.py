"""Decides each request on an intercepted host, before any byte of it goes upstream.

The full URL and the search terms (read from the engines' result and suggestion requests) are
matched against the rules: a block gets the block page, a warn the interstitial (unless the
person chose "continue" a moment ago), a log goes through and is recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from agent.proxy.addons import body_streaming, safesearch
from agent.proxy.addons.connection_gate import ConnectionGate
from agent.proxy.addons.own_pages import OwnPages
from agent.proxy.addons.recorder import Recorder
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.names import request_host, request_names, request_url
from agent.proxy.request_kind import request_origin
from rules.matcher import Matcher
from rules.model import STRENGTH

_SEARCH_IN_BODY = "candor_search"
"""flow.metadata key: the engine whose search form arrives with the request body."""


class RequestFilter:
    """mitmproxy addon: after Candor's own links and the DoH block, before SafeSearch."""

    def __init__(
        self,
        matcher: Callable[[], Matcher],
        recorder: Recorder,
        pages_: OwnPages,
        gate: ConnectionGate,
        settings: Callable[[], FilterSettings] = FilterSettings,
    ) -> None:
        self._matcher = matcher
        self._recorder = recorder
        self._pages = pages_
        self._gate = gate
        self._settings = settings

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not flow.live:
            return
        request = flow.request
        host = request_host(request)
        engine = safesearch.engine_for(host)
        capture = engine is not None and self._settings().search_capture
        # Read even without search capture: a search for help is told by its terms.
        search = safesearch.search_of(request, engine) if engine else None
        if capture and engine == "duckduckgo" and search is None and request.method == "POST":
            flow.metadata[_SEARCH_IN_BODY] = engine  # the form arrives with the body
            body_streaming.read_body(flow)
        self._decide(flow, host, search, capture)

    def request(self, flow: http.HTTPFlow) -> None:
        engine = flow.metadata.pop(_SEARCH_IN_BODY, None)
        if engine is None or flow.response or not flow.live or flow.request.stream:
            return  # streamed: a form too large to read is not a search
        search = safesearch.search_of(flow.request, engine)
        if search is not None:
            self._decide(flow, request_host(flow.request), search, True)

    def _decide(
        self, flow: http.HTTPFlow, host: str, search: safesearch.Search | None, capture: bool
    ) -> None:
        request = flow.request
        matcher = self._matcher()
        url = request_url(request, host)
        terms = search.terms if search else None
        decision = matcher.decide(url, search_terms=terms)
        names = request_names(flow)
        for name in names[1:]:  # where the request goes, if not the Host header's name
            other_url = request_url(request, name)
            other = matcher.decide(other_url, search_terms=terms)
            if STRENGTH.get(other.decision, 0) > STRENGTH.get(decision.decision, 0):
                host, url, decision = name, other_url, other  # the stricter wins
        verdict = decision.decision
        if verdict == "warn" and self._pages.tokens.allowed(host):
            verdict = "allow"
        if search is not None and capture:
            self._recorder.searched(search, decision)
        if verdict in ("block", "warn", "log"):
            self._recorder.decided(decision, host, request.path, request_origin(request))
        if verdict in ("block", "warn"):
            self._pages.serve(flow, host, decision, url)
        else:
            for name in names:
                if matcher.check_host(name).decision.decision == "block":
                    self._gate.clear(flow.client_conn.id, name)
