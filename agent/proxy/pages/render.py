"""The pages a person sees instead of a blocked or flagged site.

Someone meets these pages in a hard moment, so they are calm, never shaming, and specific: which
category and which rule matched (a false positive can then be fixed rather than resented), a
nudge towards the partner they chose, and a one-minute breathing pause. Each page is one
self-contained HTML document: it is served on the blocked site's own origin, where nothing else
can be loaded. The block, warn and noted pages are fragments of templates/ set into one base
page (`base.html`, with `page.css` inlined), sharing the "why" list and the breathing pause
(`why.html`, `breathe.html`); each page is composed once, then filled per request.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote

from mitmproxy import http

from agent.config.shell_words import command_line
from agent.journal.loosening import held_until_words
from agent.proxy.pages.tokens import CONTINUE_FOR, CONTINUE_PATH, MISTAKE_PATH
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
    """The page shown instead of a blocked site."""
    return _render("block.html", info)


def warn_page(info: PageInfo) -> str:
    """The interstitial for a warned site: a pause, then the person decides."""
    return _render("warn.html", info)


def noted_page(info: PageInfo) -> str:
    """The answer to "I think this is a mistake"."""
    more = ""
    if info.decision.decision == "warn":
        link = _link(CONTINUE_PATH, info.token)
        name = _e(display_host(info.host))
        more = f'<p><a class="button" href="{link}">Continue to {name}</a></p>'
    d = info.decision
    test = command_line("candor", "rules", "test", info.url)
    remove = command_line("candor", "rules", "remove", d.category or "none", d.rule or "(built in)")
    return _render(
        "noted.html", info, continue_link=more, test_command=_e(test), remove_command=_e(remove)
    )


def page_response(body: str, decision: Decision) -> http.Response:
    """A 403 carrying the page and the machine-readable decision header.

    Served on every blocked request, so the body is encoded here once and the headers are
    handed over as bytes: mitmproxy would otherwise guess the charset and convert each one.
    """
    content = body.encode("utf-8")
    headers = http.Headers(
        [
            *_PAGE_HEADERS,
            (b"X-Candor-Decision", decision_header(decision).encode("utf-8", "replace")),
            (b"Content-Length", str(len(content)).encode("ascii")),
        ]
    )
    now = time.time()
    return http.Response(b"HTTP/1.1", 403, b"Forbidden", headers, content, None, now, now)


_PAGE_HEADERS = (
    (b"Content-Type", b"text/html; charset=utf-8"),
    (b"Cache-Control", b"no-store"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
)


def decision_header(decision: Decision) -> str:
    """The `X-Candor-Decision` value every substituted response carries."""
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
        "pending": pending_note(d.pending_until),
        "mistake_url": _link(MISTAKE_PATH, info.token),
        "continue_url": _link(CONTINUE_PATH, info.token),
        "minutes": str(int(CONTINUE_FOR // 60)),
    }
    values |= extra
    literals, names = _template(name)
    parts = [literals[0]]
    for key, literal in zip(names, literals[1:], strict=True):
        parts.append(values[key])
        parts.append(literal)
    return "".join(parts)


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


def pending_note(until: datetime | None) -> str:
    """Said the same whether a rule was removed or a category's action lowered: both loosen."""
    if until is None:
        return ""
    words = held_until_words(until)
    return f'<p class="quiet">{_e(words[:1].upper() + words[1:])}.</p>'


def _link(path: str, token: str) -> str:
    return _e(f"{path}?token={quote(token)}")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


@cache
def _template(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The page split once into literal text and `$name` slots, for a quick join per page."""
    text = _page_text(name)
    literals: list[str] = []
    names: list[str] = []
    chunk: list[str] = []
    last = 0
    for match in Template.pattern.finditer(text):
        chunk.append(text[last : match.start()])
        last = match.end()
        if match.group("escaped") is not None:
            chunk.append("$")
            continue
        if match.group("invalid") is not None:
            raise ValueError(f"{name}: a stray $ at offset {match.start()}")
        literals.append("".join(chunk))
        chunk = []
        names.append(match.group("named") or match.group("braced"))
    chunk.append(text[last:])
    literals.append("".join(chunk))
    return tuple(literals), tuple(names)


def _page_text(name: str) -> str:
    """One page: its fragment (a title line, a blank line, then the content) in the base page,
    with the parts pages share (`<!-- include why.html -->`) put in."""
    title, _, content = _asset(name).partition("\n\n")
    content = _INCLUDE.sub(lambda m: _asset(m[1]), content)
    base = _asset("base.html")
    return base.replace("$title", title, 1).replace("$content", content, 1)


_INCLUDE = re.compile(r"^ *<!-- include (\S+) -->\n", re.M)


@cache
def _asset(name: str) -> str:
    return resources.files("agent.proxy.pages").joinpath("templates", name).read_text("utf-8")
