"""Candor's own pages and links: the block and warn pages it serves in place of a site, and the
"continue" and "this is a mistake" links on them.

Every page carries a fresh unguessable token (`agent.proxy.pages.tokens`); following a link
spends it, so a page on some other site cannot continue past a warning or report a mistake for
the person.
"""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from agent.journal.events import UnblockRequest, WarnContinue
from agent.proxy.addons.recorder import Recorder
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.names import request_host, request_url
from agent.proxy.pages import render as pages
from agent.proxy.pages.tokens import (
    CONTINUE_PATH,
    MAX_KEPT_URL,
    MISTAKE_PATH,
    PREFIX,
    PageTokens,
    Shown,
)
from agent.proxy.request_kind import is_navigation
from rules.model import Decision

Render = Callable[[pages.PageInfo], str]
"""A page: block, warn or noted."""


class OwnPages:
    """mitmproxy addon for Candor's links (before the request filter), and the page server the
    request filter and the DoH block use."""

    def __init__(
        self,
        tokens: PageTokens,
        recorder: Recorder,
        settings: Callable[[], FilterSettings] = FilterSettings,
    ) -> None:
        self.tokens = tokens
        self._recorder = recorder
        self._settings = settings

    def serve(
        self,
        flow: http.HTTPFlow,
        host: str,
        decision: Decision,
        render: Render,
        url: str | None = None,
    ) -> None:
        """Answer `flow` with a page for `decision`; `url` is the request's URL when the caller
        has built it already."""
        request = flow.request
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
            navigation=is_navigation(request),
        )
        if len(url) > MAX_KEPT_URL:  # what the page shows; a page may send megabytes
            url = url[:MAX_KEPT_URL] + "…"
        info = pages.PageInfo(host, url, decision, token, self._settings().partner)
        flow.response = pages.page_response(render(info), decision)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not flow.live or not flow.request.path.startswith(PREFIX):
            return
        host = request_host(flow.request)
        path = flow.request.path.split("?", 1)[0]
        token = flow.request.query.get("token") or ""
        if path == CONTINUE_PATH:
            self._continue(flow, host, token)
        elif path == MISTAKE_PATH:
            self._mistake(flow, host, token)

    def _continue(self, flow: http.HTTPFlow, host: str, token: str) -> None:
        """A warn page's "continue": let the host through, and go back where the person was."""
        shown = self.tokens.redeem(token, host)
        if shown is None or shown.decision != "warn":
            return  # not Candor's link: the request is decided as usual
        self.tokens.allow(host)
        self._recorder.record(WarnContinue(**_page_action(shown)))
        flow.response = http.Response.make(
            303, b"", {"Location": shown.url, "Cache-Control": "no-store"}
        )

    def _mistake(self, flow: http.HTTPFlow, host: str, token: str) -> None:
        """ "I think this is a mistake": noted once, answered with how to fix it."""
        shown, first = self.tokens.report(token, host)
        if shown is None:
            return
        if first:
            self._recorder.record(UnblockRequest(**_page_action(shown)))
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


def _page_action(shown: Shown) -> dict[str, str | None]:
    return {
        "host": shown.host,
        "category": shown.category,
        "rule": shown.rule,
        "source": shown.source,
    }
