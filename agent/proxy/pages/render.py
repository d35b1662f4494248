"""The pages a person sees instead of a blocked or flagged site.

Someone meets these pages in a hard moment, so they are calm, never shaming, and specific: which
category and which rule matched (a false positive can then be fixed rather than resented), a
nudge towards the partner they chose, and a one-minute breathing pause. Each page is one
self-contained HTML document served on Candor's own origin (`origin.py`) under a strict
Content-Security-Policy: its one style sheet and its one small script are allowed by hash, nothing
else loads, its forms post only to Candor (and "continue" on to the warned site), and no other
site may frame it. The block, warn, noted and notice pages are fragments of templates/ set into
one base page (`base.html`, with `page.css` inlined; the warn page adds `back.js`), sharing the
"why" list and the breathing pause (`why.html`, `breathe.html`); each page is composed once,
then filled per request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote, urlsplit

from mitmproxy import http

from agent.config.shell_words import command_line
from agent.journal.loosening import held_until_words
from agent.proxy.pages.origin import CONTINUE_PATH, MISTAKE_PATH
from agent.proxy.pages.tokens import CONTINUE_FOR, TOKEN_LIFETIME
from rules.help_sites import help_links
from rules.hostnames import display_host
from rules.model import Decision
from rules.name_recogniser import SOURCE as RECOGNISER_SOURCE


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Everything a page shows; every field is escaped when rendered."""

    host: str
    url: str
    decision: Decision
    token: str
    partner: str | None = None
    partner_link: str | None = None
    """`mailto:`, `sms:` or `tel:`: the one-tap way to reach the partner the person chose."""


def block_page(info: PageInfo) -> str:
    """The page shown instead of a blocked site."""
    return _render("block.html", info, help_links=help_line(info.decision.category))


@cache
def help_line(category: str | None) -> str:
    """A short line of links to help and recovery sites from the help list (plain links: the
    page's policy loads nothing from them, and no referrer is sent)."""
    sites = help_links(category)
    if not sites:
        return ""
    links = " · ".join(
        f'<a href="{_e(site.url)}" rel="noreferrer noopener">{_e(site.name)}</a>' for site in sites
    )
    return f"<p>If you would like support: {links}.</p>"


def warn_page(info: PageInfo) -> str:
    """The interstitial for a warned site: a pause, then the person decides."""
    return _render("warn.html", info)


def noted_page(info: PageInfo) -> str:
    """The answer to "I think this is a mistake"."""
    more = ""
    if info.decision.decision == "warn":
        target = _link(CONTINUE_PATH, info.token)
        name = _e(display_host(info.host))
        more = (
            f'<form class="actions" method="post" action="{target}">'
            f'<button class="button" type="submit">Continue to {name}</button></form>'
        )
    d = info.decision
    test = command_line("candor", "rules", "test", info.url)
    return _render(
        "noted.html",
        info,
        continue_link=more,
        test_command=_e(test),
        change_it=_change_it(d, info.host),
    )


def source_words(source: str | None) -> str:
    """Where a decision came from, in words a person reads on a phone: "the public list
    'sinfonietta-porn'" rather than `lists/adult/sinfonietta-porn`, which reads as jargon."""
    if not source:
        return "Candor's built-in rules"
    if source == RECOGNISER_SOURCE:
        return "the words in the site's name"
    if source.startswith("lists/") and source.count("/") == 2:
        return f"the public list '{source.rsplit('/', 1)[1]}'"
    file, _, line = source.partition(":")
    if file.endswith(".txt") and "/" not in file:
        where = f"rules/{file}, line {line}" if line.isdigit() else f"rules/{file}"
        return f"your own rules ({where})"
    return source


def _change_it(d: Decision, host: str) -> str:
    """How the person can let the site through: `candor rules allow`, which overrides every
    source (a public list's entry has no line of theirs to remove); for their own rule, also
    removing it; for a recognised name, also turning recognising off."""
    site = d.rule if d.rule and _PLAIN_SITE.fullmatch(d.rule) else host
    allow = command_line("candor", "rules", "allow", site)
    said = f"let the site through with <code>{_e(allow)}</code>"
    if d.source == RECOGNISER_SOURCE:
        switch = f"[categories.{d.category or 'adult'}] recognise = false"
        return f"{said}, or turn recognising names off with <code>{_e(switch)}</code>."
    if d.source and d.source.partition(":")[0].endswith(".txt"):
        remove = command_line("candor", "rules", "remove", d.category or "none", d.rule or "")
        return f"{said}, or remove your rule with <code>{_e(remove)}</code>."
    return f"{said}."


_PLAIN_SITE = re.compile(r"=?[a-z0-9.-]+\.[a-z0-9-]+")
"""A rule that names a site (`camera.com`, `=www.example.com`), not a path or keyword."""


REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The report preview's policy: the report's own inline styles (written for mail clients, which
strip style sheets) and no script, form, frame or outside resource at all."""


def report_response(document: str) -> http.Response:
    """The next report's HTML, byte for byte as the partner gets it, under `REPORT_POLICY`."""
    response = page_response(document, 200)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


def status_page(body: str) -> str:
    """The status page (`agent.health.web_page` writes its escaped body) in Candor's frame."""
    return _fill("status.html", {"style": _asset("page.css"), "status_body": body})


def notice_page(title: str, text: str) -> str:
    """A short page on Candor's origin saying what happened (nothing changed, a page expired)."""
    values = {
        "style": _asset("page.css"),
        "notice_title": _e(title),
        "notice_text": _e(text),
    }
    return _fill("notice.html", values)


def page_response(
    body: str,
    status: int,
    *,
    decision: Decision | None = None,
    cookie: tuple[str, str] | None = None,
    continue_to: str | None = None,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> http.Response:
    """A page on Candor's origin, with the headers every answer from there carries
    (`own_headers`), the decision header, and the cookie its forms must send back."""
    content = body.encode("utf-8")
    headers = [(b"Content-Type", b"text/html; charset=utf-8"), *own_headers(continue_to), *extra]
    if decision is not None:
        headers.append((b"X-Candor-Decision", decision_header(decision).encode("utf-8", "replace")))
    if cookie is not None:
        headers.append((b"Set-Cookie", set_cookie(*cookie).encode("ascii")))
    headers.append((b"Content-Length", str(len(content)).encode("ascii")))
    now = time.time()
    reason = _REASONS.get(status, b"")
    return http.Response(
        b"HTTP/1.1", status, reason, http.Headers(headers), content, None, now, now
    )


_REASONS = {
    200: b"OK",
    303: b"See Other",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
}


def own_headers(continue_to: str | None = None) -> tuple[tuple[bytes, bytes], ...]:
    """What every answer from Candor's origin carries: a strict Content-Security-Policy (no
    framing, nothing loaded, forms only to Candor, or on to `continue_to`'s origin), and no
    sniffing, no referrer, no caching."""
    return (
        (b"Content-Security-Policy", content_security_policy(continue_to).encode("ascii")),
        (b"X-Frame-Options", b"DENY"),
        (b"X-Content-Type-Options", b"nosniff"),
        (b"Referrer-Policy", b"no-referrer"),
        (b"Cache-Control", b"no-store"),
        (b"Cross-Origin-Resource-Policy", b"same-origin"),
    )


def content_security_policy(continue_to: str | None = None) -> str:
    """The pages' policy: only their own style and script (by hash), forms to Candor's origin
    (and, after "continue", the redirect on to the warned URL's origin), never framed."""
    forms = "'self'"
    if continue_to is not None:
        forms += " " + csp_source(continue_to)
    return (
        f"default-src 'none'; style-src '{_hash('page.css')}'; script-src '{_hash('back.js')}'; "
        f"form-action {forms}; frame-ancestors 'none'; base-uri 'none'"
    )


_CSP_HOST = re.compile(r"[a-z0-9.-]+")


def csp_source(url: str) -> str:
    """`url`'s origin as a CSP source (`https://host:port`); its scheme alone when the host
    cannot be written in a policy (an IPv6 address), never text that could end the directive."""
    parts = urlsplit(url)
    scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
    host = parts.hostname or ""
    if not _CSP_HOST.fullmatch(host):
        return f"{scheme}:"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{scheme}://{host}{port}"


@cache
def _hash(name: str) -> str:
    digest = hashlib.sha256(_asset(name).encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def set_cookie(name: str, value: str) -> str:
    """A page's cookie: sent back only by forms on Candor's own pages (SameSite=Strict), never
    readable by a script, gone when the page's token expires."""
    age = int(TOKEN_LIFETIME)
    return f"{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict"


def decision_header(decision: Decision) -> str:
    """The `X-Candor-Decision` value on Candor's own pages (and a refused CONNECT, which no page
    can read): the verdict and the category."""
    return f"{decision.decision}; category={decision.category or 'none'}"


def _render(name: str, info: PageInfo, **extra: str) -> str:
    d = info.decision
    values = {
        "style": _asset("page.css"),
        "script": _asset("back.js"),
        "display_host": _e(display_host(info.host)),
        "url": _e(info.url),
        "category": _e(d.category or "none"),
        "rule": _e(d.rule or "(built in)"),
        "source": _e(source_words(d.source)),
        "reach_out": _reach_out(info.partner, info.partner_link),
        "recorded": _recorded(info.partner),
        "pending": pending_note(d.pending_until),
        "mistake_url": _link(MISTAKE_PATH, info.token),
        "continue_url": _link(CONTINUE_PATH, info.token),
        "minutes": str(int(CONTINUE_FOR // 60)),
    }
    values |= extra
    return _fill(name, values)


def _fill(name: str, values: dict[str, str]) -> str:
    literals, names = _template(name)
    parts = [literals[0]]
    for key, literal in zip(names, literals[1:], strict=True):
        parts.append(values[key])
        parts.append(literal)
    return "".join(parts)


def _reach_out(partner: str | None, link: str | None = None) -> str:
    who = f"<strong>{_e(partner)}</strong>" if partner else "someone you trust"
    said = (
        f"This could be a good moment to reach out to {who}: a call, a text, or meeting up. "
        "You don't have to explain anything; saying hello is enough."
    )
    if not (partner and link):
        return said
    verb = {"mailto": "Write to", "sms": "Text", "tel": "Call"}.get(link.partition(":")[0])
    if verb is None:
        return said
    return f'{said}</p>\n  <p><a class="button" href="{_e(link)}">{verb} {_e(partner)}</a>'


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
    """A form's target on Candor's origin (relative, so `form-action 'self'` covers it)."""
    return _e(f"{path}?t={quote(token, safe='')}")


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
