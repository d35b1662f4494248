"""Journals what the proxy decided: once per host and decision in a short window, and only the
data the detail level allows.

Allowed traffic leaves nothing behind; a decision records the category, the rule and the host,
whether the person opened the page or a page pulled it in (and, for that, the host of the page),
and the path only at the "detailed" level. A page and its favicon, a browser's parallel
connections and a retry are one decision, not five.

A page can pull in thousands of made-up hosts (`img1.example.test`, `img2…`): that must not make
thousands of rows. Within an hour, per decision, category and kind of request, at most
`HOSTS_PER_SITE` hosts of one site (registrable domain) and `SITES_PER_CATEGORY` sites are
recorded one by one; the rest are counted and written as one grouped row per site (`hosts`), or
under `*` for further sites, at most once a minute (`flush`, which the agent's heartbeat calls,
and at stop). A host a page pulled in is recorded once an hour, however often it is pulled in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agent.journal import events
from agent.journal.events import EventBody
from agent.proxy.addons.safesearch import Search
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.request_kind import SUBRESOURCE, UNKNOWN_ORIGIN, RequestOrigin
from rules.help_seeking import HELP_SEARCH_SOURCE
from rules.model import Decision
from rules.sites import registrable_domain

Record = Callable[[EventBody], None]
"""Appends one journal event; must not block the event loop."""

REPEAT_WINDOW = 10.0
"""Seconds during which the same decision on the same host is recorded once."""

_MAX_KEYS = 4096
MAX_RECORDED_PATH = 512
"""Characters of a path the journal keeps (only at the detailed level)."""

GROUP_WINDOW = 3600.0
"""Seconds over which hosts are counted towards the limits below."""
HOSTS_PER_SITE = 10
"""Hosts of one site recorded one by one per window (per decision, category, kind)."""
SITES_PER_CATEGORY = 100
"""Sites recorded per window (per decision, category, kind); further ones are grouped."""
MAX_COUNTED = 50_000
"""Grouped hosts remembered (as hashes) to count each once; beyond it, repeats count again."""
OTHER_SITES = "*"
"""The `host` of a grouped row for the sites beyond `SITES_PER_CATEGORY`."""


_WindowKey = tuple[str, str | None, str, str | None]
"""A grouping window's decision, category, kind of request and `via`."""


class _Admit(Enum):
    LISTED = "listed"
    """Recorded in a row of its own."""
    COUNTED = "counted"
    """Counted towards a grouped row."""
    SEEN = "seen"
    """Already recorded or counted in this window."""


@dataclass
class _Group:
    """Hosts counted for one grouped row: one site's, or other sites' (`site` is `*`)."""

    site: str
    listed: set[str] = field(default_factory=set)
    counted: set[int] = field(default_factory=set)
    sites: set[int] = field(default_factory=set)
    pending: int = 0
    pending_sites: int = 0
    first: Decision | None = None
    referrer: str | None = None
    mixed_referrers: bool = False

    def count(self, decision: Decision, referrer: str | None) -> None:
        """One more host for the next grouped row."""
        if self.pending == 0:
            self.first, self.referrer, self.mixed_referrers = decision, referrer, False
        elif referrer != self.referrer:
            self.mixed_referrers = True
        self.pending += 1


@dataclass
class _Window:
    """One decision, category and kind of request, over one `GROUP_WINDOW`."""

    started: float
    sites: dict[str, _Group] = field(default_factory=dict)
    other: _Group = field(default_factory=lambda: _Group(OTHER_SITES))


class Recorder:
    """Shared by the proxy's addons: the one way their decisions reach the journal."""

    def __init__(
        self,
        record: Record,
        settings: Callable[[], FilterSettings] = FilterSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.record = record
        self._settings = settings
        self._clock = clock
        self._recent: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._windows: dict[_WindowKey, _Window] = {}
        self._remembered = 0

    def decided(
        self,
        decision: Decision,
        host: str,
        path: str | None = None,
        origin: RequestOrigin = UNKNOWN_ORIGIN,
        via: str | None = None,
    ) -> None:
        """A block, warn or log decision on `host` (`path` is kept only when detailed); `origin`
        says whether the person opened it or a page pulled it in (unknown on a connection);
        `via` marks a DNS lookup (its rows are counted and grouped apart from pages)."""
        settings = self._settings()
        detailed = settings.detailed
        if path is not None:  # a page may send megabyte paths: keep what a person reads
            path = path.split("?", 1)[0][:MAX_RECORDED_PATH]
        if origin.referrer is not None and not settings.sites_named:
            origin = RequestOrigin(origin.kind)  # "summary": no site the person visited is kept
        kind = origin.kind
        key = ("decision", host, decision.decision, decision.category, kind,
               path if detailed else None, via)  # fmt: skip
        if not self.first(key):
            return
        if self._admit(decision, host, origin, via) is not _Admit.LISTED:
            return
        self.record(
            events.Decision(
                decision=decision.decision,
                category=decision.category,
                action=decision.action,
                rule=decision.rule,
                source=decision.source,
                host=host,
                path=path if detailed and path else None,
                request=kind,
                referrer=origin.referrer if kind == SUBRESOURCE else None,
                via=via,
            )
        )

    def flush(self) -> None:
        """Write the grouped rows that wait, and forget windows that ended. The agent calls it
        every minute (with its heartbeat) and when it stops."""
        now = self._clock()
        for key, window in list(self._windows.items()):
            self._write_grouped(key, window)
            if now - window.started >= GROUP_WINDOW:
                self._forget(key)

    def searched(self, search: Search, decision: Decision) -> None:
        """A search that matched a category, or asked for help (any search, and its terms, only
        when detailed). A help-seeking search is counted on its page of results, not on each
        suggestion asked for while it was typed."""
        detailed = self._settings().detailed
        helping = decision.source == HELP_SEARCH_SOURCE and not search.suggestion
        if decision.decision == "allow" and not detailed and not helping:
            return
        key = ("search", search.engine, decision.category, search.terms)
        if self.first(key):
            self.record(
                events.Search(
                    engine=search.engine,
                    category=decision.category,
                    decision=decision.decision,
                    terms=search.terms if detailed else None,
                    help=True if helping else None,
                )
            )

    def first(self, key: tuple[Any, ...]) -> bool:
        """True unless `key` was recorded within the last REPEAT_WINDOW seconds (of the last
        `_MAX_KEYS` keys: a burst forgets its oldest in constant time, never all at once)."""
        now = self._clock()
        recent = self._recent
        last = recent.get(key)
        if last is not None and now - last < REPEAT_WINDOW:
            return False
        recent[key] = now
        recent.move_to_end(key)
        while recent:
            oldest, at = next(iter(recent.items()))
            if now - at < REPEAT_WINDOW and len(recent) <= _MAX_KEYS:
                break
            del recent[oldest]
        return True

    def _admit(
        self, decision: Decision, host: str, origin: RequestOrigin, via: str | None = None
    ) -> _Admit:
        """Whether `host` gets a row of its own, joins a grouped row, or was seen already."""
        window = self._window((decision.decision, decision.category, origin.kind, via))
        site = registrable_domain(host)
        group = window.sites.get(site)
        if group is None and len(window.sites) < SITES_PER_CATEGORY:
            group = window.sites[site] = _Group(site)
        if group is not None:
            if host in group.listed:  # a page's host once an hour; the person's every time
                return _Admit.SEEN if origin.kind == SUBRESOURCE else _Admit.LISTED
            if len(group.listed) < HOSTS_PER_SITE:
                group.listed.add(host)
                return _Admit.LISTED
        else:
            group = window.other
            if self._remember(group.sites, hash(site)):
                group.pending_sites += 1
        if not self._remember(group.counted, hash(host)):
            return _Admit.SEEN
        group.count(decision, origin.referrer)
        return _Admit.COUNTED

    def _remember(self, seen: set[int], digest: int) -> bool:
        """False if `digest` is in `seen`; otherwise adds it (while the budget lasts)."""
        if digest in seen:
            return False
        if self._remembered < MAX_COUNTED:
            seen.add(digest)
            self._remembered += 1
        return True

    def _window(self, key: _WindowKey) -> _Window:
        """The current window for `key`; an ended one is written out and started afresh."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and now - window.started >= GROUP_WINDOW:
            self._write_grouped(key, window)
            self._forget(key)
            window = None
        if window is None:
            window = self._windows[key] = _Window(now)
        return window

    def _forget(self, key: _WindowKey) -> None:
        window = self._windows.pop(key)
        for group in (*window.sites.values(), window.other):
            self._remembered -= len(group.counted) + len(group.sites)

    def _write_grouped(self, key: _WindowKey, window: _Window) -> None:
        """One row per group with hosts counted since its last row."""
        verdict, category, kind, via = key
        for group in (*window.sites.values(), window.other):
            if not group.pending or group.first is None:
                continue
            other = group.site == OTHER_SITES
            referrer = None if group.mixed_referrers or kind != SUBRESOURCE else group.referrer
            self.record(
                events.Decision(
                    decision=verdict,
                    category=category,
                    action=group.first.action,
                    rule=None if other else group.first.rule,
                    source=None if other else group.first.source,
                    host=group.site,
                    request=kind,
                    referrer=referrer,
                    hosts=group.pending,
                    sites=group.pending_sites if other else None,
                    via=via,
                )
            )
            group.pending = group.pending_sites = 0
