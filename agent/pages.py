"""The pages a person sees instead of a blocked or flagged site.

Someone meets these pages in a hard moment, so they are calm, never shaming, and specific: which
category and which rule matched (a false positive can then be fixed rather than resented), a
nudge towards the partner they chose, and a one-minute breathing pause. Each page is one
self-contained HTML document: it is served on the blocked site's own origin, where nothing else
can be loaded.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote

from mitmproxy import http

from agent.warn import CONTINUE_FOR, CONTINUE_PATH, MISTAKE_PATH
from rules.hostnames import display_host
from rules.model import Decision


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Everything a page shows; every field is escaped when rendered."""

    host: str
    url: str
    decision: Decision
    token: str
    partner: str | None = None


def block_page(info: PageInfo) -> str:
    return _render("block.html", info)


def warn_page(info: PageInfo) -> str:
    return _render("warn.html", info)


def noted_page(info: PageInfo) -> str:
    """The answer to "I think this is a mistake"."""
    more = ""
    if info.decision.decision == "warn":
        link = _link(CONTINUE_PATH, info.token)
        name = _e(display_host(info.host))
        more = f'<p><a class="button" href="{link}">Continue to {name}</a></p>'
    return _render("noted.html", info, continue_link=more)


def page_response(body: str, decision: Decision) -> http.Response:
    """A 403 carrying the page and the machine-readable decision header."""
    return http.Response.make(
        403,
        body,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Candor-Decision": decision_header(decision),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def decision_header(decision: Decision) -> str:
    return f"{decision.decision}; category={decision.category or 'none'}"


def _render(name: str, info: PageInfo, **extra: str) -> str:
    d = info.decision
    values = {
        "style": _asset("page.css"),
        "display_host": _e(display_host(info.host)),
        "url": _e(info.url),
        "category": _e(d.category or "none"),
        "rule": _e(d.rule or "(built in)"),
        "source": _e(d.source or "Candor"),
        "reach_out": _reach_out(info.partner),
        "recorded": _recorded(info.partner),
        "pending": _pending(d.pending_until),
        "mistake_url": _link(MISTAKE_PATH, info.token),
        "continue_url": _link(CONTINUE_PATH, info.token),
        "minutes": str(int(CONTINUE_FOR // 60)),
    }
    return Template(_asset(name)).substitute(values | extra)


def _reach_out(partner: str | None) -> str:
    who = f"<strong>{_e(partner)}</strong>" if partner else "someone you trust"
    return (
        f"This could be a good moment to reach out to {who}: a call, a text, or meeting up. "
        "You don't have to explain anything; saying hello is enough."
    )


def _recorded(partner: str | None) -> str:
    if partner:
        return f"Candor notes that this page was blocked, for the summary {_e(partner)} gets."
    return "Candor notes that this page was blocked."


def _pending(until: datetime | None) -> str:
    if until is None:
        return ""
    when = until.astimezone().strftime("%A %d %B %Y at %H:%M")
    return (
        f'<p class="quiet">You chose to remove this rule; it ends on {_e(when)}, '
        "after the cooling-off time you set.</p>"
    )


def _link(path: str, token: str) -> str:
    return _e(f"{path}?token={quote(token)}")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


@cache
def _asset(name: str) -> str:
    return resources.files("agent").joinpath("templates", name).read_text("utf-8")
