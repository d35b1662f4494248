"""The links on Candor's pages ("continue", "this is a mistake") and what they unlock.

Each page Candor serves carries a fresh unguessable token, remembered here with the host and
category it was shown for. Following a link spends the token; a page on some other site cannot
forge one, so only the person in front of the interstitial can continue (or report a mistake).
Continuing lets that host through for ten minutes, for warn decisions only: a block never yields
to a token.
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
MAX_TOKENS = 2048

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
        self._tokens: OrderedDict[str, Shown] = OrderedDict()
        self._continued: dict[str, float] = {}

    def issue(
        self,
        host: str,
        category: str | None,
        rule: str | None,
        source: str | None,
        decision: str,
        url: str,
    ) -> str:
        """A fresh token for a page shown on `host`; `url` is where "continue" leads back to."""
        now = self._clock()
        self._prune(now)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = Shown(
            host, category, rule, source, decision, url, now + TOKEN_LIFETIME
        )
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def redeem(self, token: str, host: str) -> Shown | None:
        """The page `token` was issued with on `host`, spent; None if unknown, used or expired."""
        shown = self._tokens.get(token)
        if shown is None or shown.host != host:
            return None
        del self._tokens[token]
        return shown if shown.expires > self._clock() else None

    def report(self, token: str, host: str) -> tuple[Shown | None, bool]:
        """The page `token` was issued with, and whether this is the first report of it.

        The token stays valid, so "continue" still works after reporting a mistake.
        """
        shown = self._tokens.get(token)
        if shown is None or shown.host != host or shown.expires <= self._clock():
            return None, False
        if shown.reported:
            return shown, False
        self._tokens[token] = replace(shown, reported=True)
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

    def _prune(self, now: float) -> None:
        # Tokens are kept in issue order and all live equally long, so the expired ones are
        # at the front: stop at the first live one instead of scanning thousands per page.
        while self._tokens:
            token, shown = next(iter(self._tokens.items()))
            if shown.expires > now:
                return
            del self._tokens[token]
