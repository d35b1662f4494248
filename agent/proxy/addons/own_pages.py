"""What a blocked or warned request gets on the site's own origin: never Candor's page itself.

Anything served on the intercepted origin can be read by that site's scripts, so nothing there
carries the category, the rule, the partner's name or a page token. A top-level navigation (the
person opened the URL) is redirected to Candor's own origin (`agent.proxy.pages.origin`), where
the page is shown and its forms work; anything else (an image, a script, a fetch, a frame) gets
a bare 403 with no body. Both carry `X-Candor-Decision: block` or `warn`, the verdict alone,
which the status already gives away, so tools and tests can tell Candor's answer from a site's.
"""

from __future__ import annotations

import time

from mitmproxy import http

from agent.proxy.names import request_url
from agent.proxy.pages.origin import PAGE_FOR, page_url
from agent.proxy.pages.tokens import PageTokens
from agent.proxy.request_kind import vouched_navigation
from rules.model import Decision


class OwnPages:
    """Answers blocked and warned requests for the request filter and the DoH block, and holds
    the page tokens Candor's origin (`OwnOrigin`) redeems."""

    def __init__(self, tokens: PageTokens) -> None:
        self.tokens = tokens

    def serve(
        self, flow: http.HTTPFlow, host: str, decision: Decision, url: str | None = None
    ) -> None:
        """Answer `flow` for `decision` (block or warn); `url` is the request's URL when the
        caller has built it already."""
        request = flow.request
        vouched = vouched_navigation(request)
        if vouched is None:
            flow.response = refusal(decision)
            return
        if url is None:
            url = request_url(request, host)
        back = url if request.method == "GET" else request_url(request, host, "/")
        token = self.tokens.issue(
            host,
            decision.category,
            decision.rule,
            decision.source,
            decision.decision,
            back,
            navigation=vouched,
            pending_until=decision.pending_until,
        )
        flow.response = to_own_page(page_url(PAGE_FOR[decision.decision], token), decision)


def refusal(decision: Decision) -> http.Response:
    """A bare 403: what a page's subresources get, with nothing a script could learn from."""
    return _response(403, b"Forbidden", ((b"Content-Length", b"0"),), decision)


def to_own_page(location: str, decision: Decision) -> http.Response:
    """A 303 to Candor's page for this request, on Candor's own origin (no referrer sent on)."""
    headers = (
        (b"Location", location.encode("ascii")),
        (b"Referrer-Policy", b"no-referrer"),
        (b"Content-Length", b"0"),
    )
    return _response(303, b"See Other", headers, decision)


def _response(
    status: int, reason: bytes, headers: tuple[tuple[bytes, bytes], ...], decision: Decision
) -> http.Response:
    # Served for every blocked image of a page: headers handed over as bytes, not re-encoded.
    verdict = decision.decision.encode("ascii")
    fields = http.Headers(
        [(b"Cache-Control", b"no-store"), (b"X-Candor-Decision", verdict), *headers]
    )
    now = time.time()
    return http.Response(b"HTTP/1.1", status, reason, fields, b"", None, now, now)
