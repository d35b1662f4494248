"""Bodies pass through as they arrive; the one Candor reads is held only up to a bound.

mitmproxy holds every request and response body whole before passing it on, unless told to
stream it: a 1 GB download took the agent to 1.85 GB and reached the browser only once all of it
had arrived. Candor decides on headers, so only DuckDuckGo's HTML search form (its terms come in
the POST body) is read; it is held up to `MAX_READ_BODY` and, past that, passes unread like any
other request. A request Candor answers itself is never sent on, so it is not streamed
(mitmproxy cannot stream a request that has its answer already); mitmproxy reads its body and
drops it, so one that announces more than `MAX_READ_BODY` (or, over HTTP/1, a body of unknown
size) has its connection closed instead: its decision is journaled already, and a page that
sends a gigabyte to a blocked address gets no page back rather than the agent's memory.

mitmproxy's own `stream_large_bodies` option is not used: on a request Candor answers, its
switch to streaming part-way through a body raises ("Can't set a response and enable streaming
at the same time") and ends the connection with "mitmproxy has crashed".
"""

from __future__ import annotations

from mitmproxy import http

from agent.proxy.client_closer import ClientCloser

MAX_READ_BODY = 256 * 1024
"""The largest request body Candor holds: a search form is a few hundred bytes."""

_READ_BODY = "candor_read_body"
"""flow.metadata key: an addon needs this request's body (`read_body`)."""
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
"""Methods a browser never sends a body with (fetch refuses one)."""


def read_body(flow: http.HTTPFlow) -> None:
    """Ask, in `requestheaders`, for this request's body in the `request` hook; a body over
    `MAX_READ_BODY`, or of unannounced size, streams anyway (`flow.request.stream` is then set)."""
    flow.metadata[_READ_BODY] = True


def announced_size(request: http.Request) -> int | None:
    """The size of the body the request's headers announce, or None when they do not say.

    HTTP/1 without `Content-Length` or `Transfer-Encoding` has no body. HTTP/2 and 3 may send one
    without announcing it, except on a GET or HEAD.
    """
    headers = request.headers
    if "transfer-encoding" in headers:
        return None
    length = headers.get("content-length")
    if length is not None:
        length = length.strip()
        digits = length.isascii() and length.isdigit() and len(length) < 19
        return int(length) if digits else None
    if request.http_version.startswith("HTTP/1") or request.method.upper() in _NO_BODY_METHODS:
        return 0
    return None


def too_large_to_drop(request: http.Request) -> bool:
    """Whether mitmproxy would hold more than `MAX_READ_BODY` of this request to drop it: a
    larger announced body, or one of unknown size over HTTP/1 (HTTP/2 and 3 streams share their
    connection with other requests, so theirs is left to mitmproxy)."""
    size = announced_size(request)
    if size is None:
        return request.http_version.startswith("HTTP/1")
    return size > MAX_READ_BODY


class BodyStreaming:
    """mitmproxy addon, last in the chain so it sees every page the others chose to serve:
    streams each body no addon asked to read, and bounds the one they did."""

    def __init__(self, closer: ClientCloser | None = None) -> None:
        self._closer = closer

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not flow.live:
            return
        wanted = flow.metadata.pop(_READ_BODY, False)
        if flow.response is not None:  # Candor answers: nothing goes upstream
            if self._closer is not None and too_large_to_drop(flow.request):
                self._closer.close(flow.client_conn.id)
            return
        size = announced_size(flow.request)
        if not (wanted and size is not None and size <= MAX_READ_BODY):
            flow.request.stream = True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.live and flow.response is not None:
            flow.response.stream = True  # Candor reads no response body
