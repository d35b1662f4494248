"""DNS over HTTPS, recognised by how it talks rather than by who serves it.

A DoH resolver lets a browser look names up where Candor cannot see them, and new resolvers
appear faster than any list of them. RFC 8484 fixes the wire format, so the request itself gives
it away on any host Candor decrypts: the `application/dns-message` media type, the conventional
`/dns-query` path, or a `dns=` query parameter carrying the base64url message. The JSON flavour
that Google and Cloudflare also offer (`application/dns-json`) is caught the same way.
"""

from __future__ import annotations

from mitmproxy import http

from agent.journal.events import BypassSuspected
from agent.proxy.addons.own_pages import OwnPages
from agent.proxy.addons.recorder import Recorder
from agent.proxy.names import request_host
from rules.model import Decision

DNS_MEDIA_TYPES = ("application/dns-message", "application/dns-json")
BYPASS_CATEGORY = "bypass"
"""Where a DoH block is filed: it would get around Candor."""
_MEDIA_MARK = b"application/dns-"
_HEADERS = (b"content-type", b"accept")


def looks_like_doh(request: http.Request) -> str | None:
    """Why this request looks like a DNS query over HTTPS, or None.

    Runs on every decrypted request, so it reads the raw header bytes once instead of looking
    each header up by name.
    """
    for name, value in request.headers.fields:
        if _MEDIA_MARK in value.lower() and name.lower() in _HEADERS:
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return f"{name.decode('latin-1').lower()}: {media}"
    path, _, query = request.path.partition("?")
    if path.rstrip("/").endswith("/dns-query"):
        return "path /dns-query"
    if "dns=" in query and "dns" in request.query:
        return "dns= parameter"
    return None


class DohBlock:
    """mitmproxy addon: blocks DNS over HTTPS on any intercepted host, before the request filter.

    Recorded as a possible way around Candor, once per host in the recorder's window.
    """

    def __init__(self, pages: OwnPages, recorder: Recorder) -> None:
        self._pages = pages
        self._recorder = recorder

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not flow.live:
            return
        reason = looks_like_doh(flow.request)
        if reason is None:
            return
        host = request_host(flow.request)
        decision = Decision(
            "block",
            BYPASS_CATEGORY,
            "block",
            rule=f"DNS over HTTPS ({reason})",
            source="built in: DNS-over-HTTPS detection",
        )
        if self._recorder.first(("bypass", host)):
            self._recorder.record(BypassSuspected(what="DoH", host=host, detail=reason))
        self._pages.serve(flow, host, decision)
