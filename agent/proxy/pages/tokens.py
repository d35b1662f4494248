"""What Candor's pages were shown for, and what their forms ("continue", "this is a mistake")
unlock.

Each page Candor shows on its own origin (`origin.py`) has a fresh unguessable token in its
address, remembered here with the host, decision and rule it was shown for, and a second secret
that the page sets as a SameSite=Strict cookie. A form changes something only when it brings
both back: the token names the page, the cookie proves the POST came from that page in the
person's browser (another site's form or script never sends a Strict cookie). "Continue" spends
the token and lets that host through for ten minutes, for warn decisions only: a block never
yields to a token.

Any web page can make Candor show pages (a page of 400 frames on a blocked host, or many pages
opened at once), so what is kept is bounded: at most `MAX_TOKENS` tokens for the navigations a
browser vouched for (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`) and as many again
for navigations only guessed from an HTML `Accept` header, each pool evicting only its own
oldest, so guessed ones never push out the person's own tokens; and each token keeps at most
`MAX_KEPT_URL` characters of URL and `MAX_KEPT_RULE` of rule text (a longer URL returns to its
site's front page). Images, scripts and frames get no page and no token at all.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

CONTINUE_FOR = 10 * 60.0
"""Seconds a host stays open after "continue" on its warn page."""
TOKEN_LIFETIME = 60 * 60.0
MAX_TOKENS = 1024
"""Per pool: the navigations a browser vouched for, and those guessed from `Accept`."""
MAX_KEPT_URL = 2048
"""Characters of the URL "continue" returns to; a longer one returns to the site's front page."""
MAX_KEPT_RULE = 512
"""Characters of the rule text shown on a "this is a mistake" page."""


@dataclass(frozen=True, slots=True)
class Shown:
    """What a page was shown for, kept until its token is used or expires."""

    host: str
    category: str | None
    rule: str | None
    source: str | None
    decision: str
    url: str
    """Where "continue" returns to; never taken from the form, so it cannot redirect elsewhere."""
    expires: float
    cookie: str
    """The value of the page's cookie (`origin.cookie_name`) its forms must send back."""
    pending_until: datetime | None = None
    """When the rule that decided was loosened but still holds (a cooling-off delay)."""
    reported: bool = False


class PageTokens:
    """Tokens handed out with pages, and hosts a person chose to continue to."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pools: tuple[OrderedDict[str, Shown], OrderedDict[str, Shown]] = (
            OrderedDict(),
            OrderedDict(),
        )
        """Vouched-for navigations, then guessed ones; a token lives in one of them."""
        self._continued: dict[str, float] = {}

    def issue(
        self,
        host: str,
        category: str | None,
        rule: str | None,
        source: str | None,
        decision: str,
        url: str,
        *,
        navigation: bool = True,
        pending_until: datetime | None = None,
    ) -> str:
        """A fresh token for a page shown for `host`; `url` is where "continue" leads back to.
        `navigation` is false for a navigation only guessed at, kept apart from the person's."""
        now = self._clock()
        pool = self._pools[0 if navigation else 1]
        self._prune(pool, now)
        token = secrets.token_urlsafe(24)
        if len(url) > MAX_KEPT_URL:
            url = front_page(url)
        if rule is not None and len(rule) > MAX_KEPT_RULE:
            rule = rule[: MAX_KEPT_RULE - 1] + "…"
        pool[token] = Shown(
            host,
            category,
            rule,
            source,
            decision,
            url,
            expires=now + TOKEN_LIFETIME,
            cookie=secrets.token_urlsafe(24),
            pending_until=pending_until,
        )
        while len(pool) > MAX_TOKENS:
            pool.popitem(last=False)
        return token

    def __len__(self) -> int:
        """How many tokens are kept (both pools)."""
        return sum(len(pool) for pool in self._pools)

    def _find(self, token: str) -> tuple[OrderedDict[str, Shown], Shown] | tuple[None, None]:
        for pool in self._pools:
            shown = pool.get(token)
            if shown is not None:
                return pool, shown
        return None, None

    def shown(self, token: str) -> Shown | None:
        """What the page `token` names was shown for, to show it (again); None if unknown, used
        or expired."""
        _, shown = self._find(token)
        if shown is None or shown.expires <= self._clock():
            return None
        return shown

    def redeem(self, token: str, cookie: str) -> Shown | None:
        """The page `token` was issued with, spent, if `cookie` is its cookie; None if unknown,
        used, expired or the cookie is wrong (which spends nothing)."""
        pool, shown = self._find(token)
        if pool is None or shown is None or not _matches(shown, cookie):
            return None
        del pool[token]
        return shown if shown.expires > self._clock() else None

    def report(self, token: str, cookie: str) -> tuple[Shown | None, bool]:
        """The page `token` was issued with if `cookie` is its cookie, and whether this is the
        first report of it.

        The token stays valid, so "continue" still works after reporting a mistake.
        """
        pool, shown = self._find(token)
        if pool is None or shown is None or shown.expires <= self._clock():
            return None, False
        if not _matches(shown, cookie):
            return None, False
        if shown.reported:
            return shown, False
        pool[token] = replace(shown, reported=True)
        return shown, True

    def allow(self, host: str) -> None:
        """The person chose "continue": let `host` through for `CONTINUE_FOR` seconds."""
        self._continued[host] = self._clock() + CONTINUE_FOR

    def allowed(self, host: str) -> bool:
        """Whether the person chose "continue" for `host` in the last `CONTINUE_FOR` seconds."""
        until = self._continued.get(host)
        if until is None:
            return False
        if until <= self._clock():
            del self._continued[host]
            return False
        return True

    @staticmethod
    def _prune(pool: OrderedDict[str, Shown], now: float) -> None:
        # Tokens are kept in issue order and all live equally long, so the expired ones are
        # at the front: stop at the first live one instead of scanning thousands per page.
        while pool:
            token, shown = next(iter(pool.items()))
            if shown.expires > now:
                return
            del pool[token]


def _matches(shown: Shown, cookie: str) -> bool:
    # Bytes: a cookie sent by a client may hold anything, and compare_digest wants ASCII text.
    return secrets.compare_digest(shown.cookie.encode(), cookie.encode("utf-8", "replace"))


def front_page(url: str) -> str:
    """`scheme://host[:port]/` of `url`: where "continue" returns when the URL is too long to
    keep."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}/"
