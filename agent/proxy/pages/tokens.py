"""The links on Candor's pages ("continue", "this is a mistake") and what they unlock.

Each page Candor serves carries a fresh unguessable token, remembered here with the host and
category it was shown for. Following a link spends the token; a page on some other site cannot
forge one, so only the person in front of the interstitial can continue (or report a mistake).
Continuing lets that host through for ten minutes, for warn decisions only: a block never yields
to a token.

Any web page can make Candor serve pages (a page of 400 images on a blocked host is 400 block
pages), so what is kept is bounded: at most `MAX_TOKENS` tokens for the pages the person opened
(navigations) and as many again for everything else (images, scripts, frames), each pool
evicting only its own oldest, so a hostile page's subresources never push out the person's own
tokens; and each token keeps at most `MAX_KEPT_URL` characters of URL and `MAX_KEPT_RULE` of
rule text (a longer URL returns to its site's front page).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

CONTINUE_FOR = 10 * 60.0
"""Seconds a host stays open after "continue" on its warn page."""
TOKEN_LIFETIME = 60 * 60.0
MAX_TOKENS = 1024
"""Per pool: the person's navigations, and everything else."""
MAX_KEPT_URL = 2048
"""Characters of the URL "continue" returns to; a longer one returns to the site's front page."""
MAX_KEPT_RULE = 512
"""Characters of the rule text shown on a "this is a mistake" page."""

PREFIX = "/.candor/"
"""Candor's own links live under this path on the page's origin."""
CONTINUE_PATH = PREFIX + "continue"
MISTAKE_PATH = PREFIX + "mistake"


@dataclass(frozen=True, slots=True)
class Shown:
    """What a page was shown for, kept until its token is used or expires."""

    host: str
    category: str | None
    rule: str | None
    source: str | None
    decision: str
    url: str
    """Where "continue" returns to; never taken from the link, so it cannot redirect elsewhere."""
    expires: float
    reported: bool = False


class PageTokens:
    """Tokens handed out with pages, and hosts a person chose to continue to."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pools: tuple[OrderedDict[str, Shown], OrderedDict[str, Shown]] = (
            OrderedDict(),
            OrderedDict(),
        )
        """The person's navigations, then everything else; a token lives in one of them."""
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
    ) -> str:
        """A fresh token for a page shown on `host`; `url` is where "continue" leads back to.
        `navigation` is false for a page's subresources, kept apart from the person's pages."""
        now = self._clock()
        pool = self._pools[0 if navigation else 1]
        self._prune(pool, now)
        token = secrets.token_urlsafe(24)
        if len(url) > MAX_KEPT_URL:
            url = front_page(url)
        if rule is not None and len(rule) > MAX_KEPT_RULE:
            rule = rule[: MAX_KEPT_RULE - 1] + "…"
        pool[token] = Shown(host, category, rule, source, decision, url, now + TOKEN_LIFETIME)
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

    def redeem(self, token: str, host: str) -> Shown | None:
        """The page `token` was issued with on `host`, spent; None if unknown, used or expired."""
        pool, shown = self._find(token)
        if pool is None or shown is None or shown.host != host:
            return None
        del pool[token]
        return shown if shown.expires > self._clock() else None

    def report(self, token: str, host: str) -> tuple[Shown | None, bool]:
        """The page `token` was issued with, and whether this is the first report of it.

        The token stays valid, so "continue" still works after reporting a mistake.
        """
        pool, shown = self._find(token)
        if pool is None or shown is None or shown.host != host or shown.expires <= self._clock():
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


def front_page(url: str) -> str:
    """`scheme://host[:port]/` of `url`: where "continue" returns when the URL is too long to
    keep."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}/"
