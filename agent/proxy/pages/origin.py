"""Where Candor's own pages live: `http://candor.invalid/`, an origin no site can share.

A page served on the blocked site's own origin can be read and driven by that site's scripts.
`candor.invalid` is a reserved name (RFC 6761: it never resolves), so no other site can be
same-origin with it; browsers send it through the proxy (unlike `*.localhost`, which they never
proxy), and only the proxy answers it. Pages are served over plain HTTP: the proxy refuses a
CONNECT to this name, so nothing is dialled and nothing needs a certificate.

This module names the origin, its paths and the per-page cookie; the pages themselves are
rendered by `render.py` and answered by `agent.proxy.addons.own_origin`.
"""

from __future__ import annotations

from urllib.parse import quote

HOST = "candor.invalid"
"""The only Host header Candor's pages answer to (no DNS rebinding: any other name is refused)."""
ORIGIN = f"http://{HOST}"

BLOCKED_PATH = "/blocked"
"""The block page (also DNS over HTTPS): `?t=<token>`."""
WARN_PATH = "/warn"
"""The warn interstitial: `?t=<token>`."""
NOTED_PATH = "/noted"
"""What "this is a mistake" answers, after its POST: `?t=<token>`."""
CONTINUE_PATH = "/continue"
"""POST only, with the page's cookie: let a warned host through and go back to it."""
MISTAKE_PATH = "/mistake"
"""POST only, with the page's cookie: note that the person thinks the rule is wrong."""
STATUS_PATH = "/"
"""The status page: what `candor status` says (GET only; it changes nothing)."""
WHY_PATH = "/why"
"""The status page answering "why was this blocked?" for `?url=` (GET; it only reads)."""
JOURNAL_PATH = "/journal"
"""The journal's newest rows, `?kind=` for one kind (GET; it only reads)."""
REPORT_PATH = "/report"
"""The next report as the partner will see it (GET; built, never sent)."""
READ_PATHS = (STATUS_PATH, WHY_PATH, JOURNAL_PATH, REPORT_PATH)
"""The pages that only read, written by the composition root's `own_page`."""
AWAY_PATH = "/away"
"""Where "Take me back" goes when there is nothing to go back to (the warn page opened in a new
tab): a quiet page that names no site."""

PAGE_FOR = {"block": BLOCKED_PATH, "warn": WARN_PATH}
"""Which page a decision is shown on."""

COOKIE_PREFIX = "candor-"


def page_url(path: str, token: str) -> str:
    """The address of one of Candor's pages, or the target of one of its forms, for `token`."""
    return f"{ORIGIN}{path}?t={quote(token, safe='')}"


def cookie_name(token: str) -> str:
    """The cookie a page's forms must send back: one per page, so two open pages never clash."""
    return COOKIE_PREFIX + token[:16]
