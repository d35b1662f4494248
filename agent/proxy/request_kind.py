"""Whether the person opened a page or a page pulled a request in, read from what browsers send.

A page the person visits can load images, scripts and frames from any host it likes, thousands
of them, without the person seeing or choosing them. Candor tells these apart so that such a page
can neither fill the partner's report with sites the person never opened nor push the person's
own block pages out of Candor's memory. The one place that reads these headers.

Browsers say what a request is for in the Fetch Metadata headers: `Sec-Fetch-Dest: document` is a
page opened in a tab or window; anything else (`image`, `script`, `iframe`, `empty` for fetch)
was pulled in by a page. `Sec-Fetch-Mode: navigate` or `Sec-Fetch-User: ?1` without a
`Sec-Fetch-Dest` still mean a navigation. A client that sends none of them is read by its
`Accept` header: a page asks for HTML, an image or a script does not; what else it sends is
pulled in by a page if it names one in `Referer`, and unknown if it names none (an app or a
tool). For a pulled-in request the `Referer`, when the page sent one, names the site that pulled
it in (its host only). A Referer on another site than the request's does not make a navigation a
subresource: following a link sends one too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from mitmproxy import http

from rules.hostnames import InvalidHost, normalise_host

RequestKind = Literal["navigation", "subresource", "unknown"]
"""Opened by the person; pulled in by a page; not knowable (a refused connection)."""

NAVIGATION: RequestKind = "navigation"
SUBRESOURCE: RequestKind = "subresource"
UNKNOWN: RequestKind = "unknown"

_DOCUMENT_DESTS = frozenset({"document"})
"""`Sec-Fetch-Dest` values of a page in a tab or window. Frames (`iframe`, `frame`, `embed`,
`object`, `fencedframe`) are pages too, but another page chose to show them."""


_FETCH_METADATA = ("sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user")


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """How a request came about: its kind, and for a pulled-in one the site that pulled it."""

    kind: RequestKind = UNKNOWN
    referrer: str | None = None
    """The host of the page that pulled the request in (subresources only), when it said."""


UNKNOWN_ORIGIN = RequestOrigin()
"""A decision made on the connection, before any request was seen."""


def is_navigation(request: http.Request) -> bool:
    """Whether the person opened this page in a tab or window (not a page's image, script, fetch
    or frame)."""
    headers = request.headers
    dest = headers.get("sec-fetch-dest")
    if dest is not None:
        return dest.strip().lower() in _DOCUMENT_DESTS
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode.strip().lower() == "navigate"
    if headers.get("sec-fetch-user", "").strip() == "?1":
        return True  # only ever sent on a navigation the person started
    return "text/html" in headers.get("accept", "").lower()


def vouched_navigation(request: http.Request) -> bool | None:
    """Whether the person opened this URL as a page in a tab (a top-level navigation): True when
    the browser says so (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`); False when it
    only looks like a navigation (browsers send no `Sec-Fetch-*` to plain-HTTP sites): an HTML
    `Accept` and `Upgrade-Insecure-Requests: 1`, which a page's own no-cors request cannot send;
    None for anything else: a page's image, script, fetch or frame."""
    headers = request.headers
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        if mode != "navigate":
            return None
        return True if headers.get("sec-fetch-dest", "document") == "document" else None
    navigates = (
        "text/html" in headers.get("accept", "") and headers.get("upgrade-insecure-requests") == "1"
    )
    return False if navigates else None


def request_origin(request: http.Request) -> RequestOrigin:
    """The request's kind and, for a pulled-in request, the host of the page that pulled it.

    A request with no Fetch Metadata, no HTML `Accept` and no `Referer` comes from a program
    (an app, a command-line tool) or a browser that says nothing: no page is seen pulling it in,
    so it is unknown rather than blamed on a page."""
    if is_navigation(request):
        return RequestOrigin(NAVIGATION)
    headers = request.headers
    if "referer" in headers or any(name in headers for name in _FETCH_METADATA):
        return RequestOrigin(SUBRESOURCE, referring_host(request))
    return RequestOrigin(UNKNOWN)


def referring_host(request: http.Request) -> str | None:
    """The host the `Referer` header names, normalised; None when absent or not a web address."""
    referer = request.headers.get("referer")
    if not referer or len(referer) > 8192:
        return None
    try:
        parts = urlsplit(referer.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return normalise_host(parts.hostname)
    except (ValueError, InvalidHost):
        return None
