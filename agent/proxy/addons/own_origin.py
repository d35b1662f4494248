"""Candor's own origin, `http://candor.invalid/`: its pages, and the forms that change something.

The proxy answers this name itself and never dials it. A page (`/blocked`, `/warn`, `/noted`)
is shown only to a top-level navigation whose request names `candor.invalid` exactly, as its
target and in its Host header (a page reached under any other name, as a DNS-rebinding site
would, could be read by that site); it sets a SameSite=Strict cookie, one per page. The two
forms (`/continue`, `/mistake`) change something only on a POST that brings back both the
page's token and its cookie, from Candor's own page (`Sec-Fetch-Site`, when sent, must say
same-origin): another site's link, form or script never carries a Strict cookie, so it can
neither continue past a warning nor report a mistake for the person. Everything else that names
this origin (an image, a fetch, a frame, another Host, a CONNECT for HTTPS) gets a bare 502, the
answer any name that does not resolve gets. The status page (`/`, `/why?url=` for "why was this
blocked?", `/journal`, `/report`) only reads, under the same rules as the other pages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import cache

from mitmproxy import http

from agent.journal.events import UnblockRequest, WarnContinue
from agent.proxy.addons.recorder import Recorder
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.names import host_name, request_host
from agent.proxy.pages import render as pages
from agent.proxy.pages.origin import (
    AWAY_PATH,
    BLOCKED_PATH,
    CONTINUE_PATH,
    HOST,
    MISTAKE_PATH,
    NOTED_PATH,
    READ_PATHS,
    REPORT_PATH,
    WARN_PATH,
    cookie_name,
    page_url,
)
from agent.proxy.pages.tokens import PageTokens, Shown
from agent.proxy.request_kind import vouched_navigation
from agent.proxy.socket_owners import Address
from rules.model import Decision

log = logging.getLogger("candor")

StatusPage = Callable[[str, dict[str, str]], str]
"""Writes a page that only reads, for its path and query: the status page's body (`/`, `/why`,
`/journal`) or the report preview's whole document (`/report`)."""
MAX_QUERY_VALUE = 2048
"""The longest query value those pages read (a longer one is cut there)."""

_SHOWS = {BLOCKED_PATH: "block", WARN_PATH: "warn"}
"""The page at each path, by the decision it shows."""


@cache
def _notice(kind: str) -> str:
    title, text = _NOTICES[kind]
    return pages.notice_page(title, text)


_NOTICES = {
    "unchanged": (
        "Nothing was changed",
        "This button works only on Candor's own page, in the browser it was shown in, within "
        "an hour. Open the site again to see its page.",
    ),
    "expired": (
        "This page has expired",
        "Candor's pages last an hour. Open the site again to see its page.",
    ),
    "away": (
        "You stepped back",
        "Good choice. You can close this tab now, or go on with something else.",
    ),
    "elsewhere": (
        "Nothing to see here",
        "Candor's pages open by themselves when a site on your list is blocked or asks for a "
        "pause.",
    ),
}


class OwnOrigin:
    """mitmproxy addon for `candor.invalid`; before the DoH block and the request filter."""

    def __init__(
        self,
        tokens: PageTokens,
        recorder: Recorder,
        settings: Callable[[], FilterSettings] = FilterSettings,
        status_page: StatusPage | None = None,
        may_read: Callable[[Address, Address], bool] = lambda client, proxy: True,
    ) -> None:
        """`status_page` writes the pages that only read (`StatusPage`), and `may_read` says
        who may see them; the composition root hands both in, since they read the journal,
        the reporter's notes and /proc."""
        self._tokens = tokens
        self._recorder = recorder
        self._settings = settings
        self._status_page = status_page
        self._may_read = may_read
        """Whether the program at a client address may read the status pages (the person's,
        not another local user's: `agent.proxy.page_readers`)."""

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """Candor's origin is plain HTTP: a tunnel to it (HTTPS first, say) fails at once, so a
        browser falls back to `http://`; nothing is dialled."""
        if host_name(flow.request.host) == HOST:
            flow.response = unreachable()

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response or not flow.live:
            return
        request = flow.request
        if host_name(request.host) != HOST and request_host(request) != HOST:
            return
        transparent = flow.client_conn.proxy_mode.type_name == "transparent"
        if not addressed_exactly(request, transparent) or vouched_navigation(request) is None:
            flow.response = unreachable()
            return
        path = request.path.partition("?")[0]
        token = request.query.get("t") or ""
        if request.method == "POST" and path in (CONTINUE_PATH, MISTAKE_PATH):
            cookie = request.cookies.get(cookie_name(token)) or ""
            if not from_own_page(request) or not cookie:
                flow.response = _unchanged()
            elif path == CONTINUE_PATH:
                flow.response = self._continue(token, cookie)
            else:
                flow.response = self._mistake(token, cookie)
        elif request.method == "GET" and path in READ_PATHS and self._status_page:
            query = {k: v[:MAX_QUERY_VALUE] for k, v in request.query.items()}
            return self._serve_status(flow, self._status_page, path, query)
        elif request.method == "GET":
            flow.response = self._page(path, token)
        else:
            flow.response = _unchanged(405, b"GET")

    async def _serve_status(
        self, flow: http.HTTPFlow, page: StatusPage, path: str, query: dict[str, str]
    ) -> None:
        """A page that only reads, built off the event loop: it reads the journal and rules,
        and only for the person (another local user gets the page for unknown paths)."""
        client = flow.client_conn.peername[:2]
        proxy = flow.client_conn.sockname[:2]
        if not await asyncio.to_thread(self._may_read, client, proxy):
            flow.response = pages.page_response(_notice("elsewhere"), 404)
            return
        try:
            body = await asyncio.to_thread(page, path, query)
        except Exception as exc:  # a full disk, a broken journal: say so, never hang the tab
            log.warning("the status page could not be built: %s", exc)
            flow.response = pages.page_response(_unreadable(exc), 500)
            return
        if path == REPORT_PATH:
            flow.response = pages.report_response(body)
        else:
            flow.response = pages.page_response(pages.status_page(body), 200)

    def _page(self, path: str, token: str) -> http.Response:
        """The block, warn or noted page `token` was issued for, and the cookie its forms need."""
        if path in (CONTINUE_PATH, MISTAKE_PATH):
            return _unchanged(405, b"POST")  # a link to a form's target changes nothing
        if path == AWAY_PATH:
            return pages.page_response(_notice("away"), 200)
        if path not in (*_SHOWS, NOTED_PATH):
            return pages.page_response(_notice("elsewhere"), 404)
        shown = self._tokens.shown(token)
        fits = shown is not None and (
            _SHOWS.get(path) == shown.decision or (path == NOTED_PATH and shown.reported)
        )
        if shown is None or not fits:
            return pages.page_response(_notice("expired"), 404)
        info = self._info(shown, token)
        cookie = (cookie_name(token), shown.cookie)
        continue_to = shown.url if shown.decision == "warn" else None
        if path == NOTED_PATH:
            body, status, decision = pages.noted_page(info), 200, None
        elif shown.decision == "warn":
            body, status, decision = pages.warn_page(info), 403, info.decision
        else:
            body, status, decision = pages.block_page(info), 403, info.decision
        return pages.page_response(
            body, status, decision=decision, cookie=cookie, continue_to=continue_to
        )

    def _continue(self, token: str, cookie: str) -> http.Response:
        """A warn page's "continue": let the host through, and go back where the person was."""
        shown = self._tokens.shown(token)
        if shown is None or shown.decision != "warn":
            return _unchanged()  # a block never yields to a token
        shown = self._tokens.redeem(token, cookie)
        if shown is None:
            return _unchanged()
        self._tokens.allow(shown.host)
        self._recorder.record(WarnContinue(**_page_action(shown)))
        return _see_other(shown.url, token)

    def _mistake(self, token: str, cookie: str) -> http.Response:
        """ "I think this is a mistake": noted once, then the page saying how to fix it."""
        shown, first = self._tokens.report(token, cookie)
        if shown is None:
            return _unchanged()
        if first:
            self._recorder.record(UnblockRequest(**_page_action(shown)))
        return _see_other(page_url(NOTED_PATH, token))

    def _info(self, shown: Shown, token: str) -> pages.PageInfo:
        decision = Decision(
            shown.decision,  # type: ignore[arg-type]
            shown.category,
            rule=shown.rule,
            source=shown.source,
            pending_until=shown.pending_until,
        )
        settings = self._settings()
        return pages.PageInfo(
            shown.host, shown.url, decision, token, settings.partner, settings.partner_link
        )


def _unreadable(exc: Exception) -> str:
    """The page said when the status cannot be read, naming the cause in one line."""
    cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return pages.notice_page(
        "The status cannot be read just now",
        f"Candor is still filtering; only this page failed ({cause}). `candor status` in a "
        "terminal says more.",
    )


def addressed_exactly(request: http.Request, transparent: bool = False) -> bool:
    """Whether the request is for `http://candor.invalid/` by that name alone: plain HTTP to
    port 80 of that name, with a Host header of exactly `candor.invalid`.

    A `transparent` connection (redirected by the firewall, docs/capture.md) names no target of
    its own: the client resolved `candor.invalid` to the address it connected to (Candor's DNS
    answers it), so the Host header, which a page cannot set, is the name it asked for."""
    return (
        request.scheme == "http"
        and (transparent or request.host == HOST)
        and request.port == 80
        and request.host_header == HOST
    )


def from_own_page(request: http.Request) -> bool:
    """Whether a form's POST came from Candor's own page: `Sec-Fetch-Site`, which browsers set
    and scripts cannot, says same-origin (a client that sends none relies on the cookie alone)."""
    site = request.headers.get("sec-fetch-site")
    return site is None or site == "same-origin"


def unreachable() -> http.Response:
    """What a request for Candor's origin that is not one of its pages gets: a bare 502, as for
    any name that does not resolve."""
    now = time.time()
    headers = http.Headers([(b"Cache-Control", b"no-store"), (b"Content-Length", b"0")])
    return http.Response(b"HTTP/1.1", 502, b"Bad Gateway", headers, b"", None, now, now)


def _unchanged(status: int = 403, allow: bytes | None = None) -> http.Response:
    extra = ((b"Allow", allow),) if allow is not None else ()
    return pages.page_response(_notice("unchanged"), status, extra=extra)


def _see_other(location: str, spent: str | None = None) -> http.Response:
    """303 after a form's POST; after "continue", the spent page's cookie is removed too."""
    headers = [(b"Location", location.encode("utf-8", "surrogateescape"))]
    if spent is not None:
        gone = f"{cookie_name(spent)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        headers.append((b"Set-Cookie", gone.encode("ascii")))
    return pages.page_response("", 303, extra=tuple(headers))


def _page_action(shown: Shown) -> dict[str, str | None]:
    return {
        "host": shown.host,
        "category": shown.category,
        "rule": shown.rule,
        "source": shown.source,
    }
