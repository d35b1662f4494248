"""Journals what the proxy decided: once per host and decision in a short window, and only the
data the detail level allows.

Allowed traffic leaves nothing behind; a decision records the category, the rule and the host,
and the path only at the "detailed" level. A page and its favicon, a browser's parallel
connections and a retry are one decision, not five.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.journal import events
from agent.journal.events import EventBody
from agent.proxy.addons.safesearch import Search
from agent.proxy.filter_settings import FilterSettings
from rules.model import Decision

Record = Callable[[EventBody], None]
"""Appends one journal event; must not block the event loop."""

REPEAT_WINDOW = 10.0
"""Seconds during which the same decision on the same host is recorded once."""

_MAX_KEYS = 4096
MAX_RECORDED_PATH = 512
"""Characters of a path the journal keeps (only at the detailed level)."""


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
        self._recent: dict[tuple[Any, ...], float] = {}

    def decided(self, decision: Decision, host: str, path: str | None = None) -> None:
        """A block, warn or log decision on `host` (`path` is kept only when detailed)."""
        detailed = self._settings().detailed
        if path is not None:  # a page may send megabyte paths: keep what a person reads
            path = path.split("?", 1)[0][:MAX_RECORDED_PATH]
        key = ("decision", host, decision.decision, decision.category, path if detailed else None)
        if not self.first(key):
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
            )
        )

    def searched(self, search: Search, decision: Decision) -> None:
        """A search that matched a category (any search, and its terms, only when detailed)."""
        detailed = self._settings().detailed
        if decision.decision == "allow" and not detailed:
            return
        key = ("search", search.engine, decision.category, search.terms)
        if self.first(key):
            self.record(
                events.Search(
                    engine=search.engine,
                    category=decision.category,
                    decision=decision.decision,
                    terms=search.terms if detailed else None,
                )
            )

    def first(self, key: tuple[Any, ...]) -> bool:
        """True unless `key` was recorded within the last REPEAT_WINDOW seconds."""
        now = self._clock()
        last = self._recent.get(key)
        if last is not None and now - last < REPEAT_WINDOW:
            return False
        if len(self._recent) > _MAX_KEYS:
            self._recent = {k: t for k, t in self._recent.items() if now - t < REPEAT_WINDOW}
        self._recent[key] = now
        return True
