"""The agent's daily refresh of subscribed lists (`agent.policy.subscriptions`).

A daemon thread, like the time anchors' loop: each subscription is checked once a day (the
`[lists] refresh_every` setting) with up to an hour of jitter, so computers do not all ask at
the same minute; a failed check is tried again within the hour. Every outcome is journaled as a
`list_refresh` row (failures and "downloads are off" at most once a day per list), and a new
copy is put into force at once through `reload`, which journals what it added (tightening,
immediate) and lost (loosening, held for the cooling-off delay). `candor lists add` and
`candor lists update` go through the same `refresh_recorded`, so a refresh by hand is journaled
by the same row.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from agent.config import Config, Home
from agent.journal import clock
from agent.journal.clock import parse_ts
from agent.journal.events import EventBody, ListRefresh
from agent.policy.imported_lists import StoredList
from agent.policy.subscriptions import (
    REFRESH_DEADLINE,
    FetchState,
    Refreshed,
    fetch_states,
    note_fetch,
    refresh,
    subscriptions,
)

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(hours=1)
"""A failed check is tried again after this long."""
JITTER = timedelta(hours=1)
NOTE_EVERY = timedelta(days=1)
"""A failure (or "downloads are off") is journaled at most this often per list."""
TICK = 30.0


class ListUpdater:
    """A daemon thread: refreshes each subscription when due, journals how it went."""

    def __init__(
        self,
        home: Home,
        record: Callable[[EventBody], None],
        settings: Callable[[], Config],
        reload: Callable[[], object],
        *,
        interval: timedelta | None = None,
        retry: timedelta = RETRY_AFTER,
        jitter: timedelta = JITTER,
        tick: float = TICK,
        deadline: float = REFRESH_DEADLINE,
        limit: int | None = None,
    ) -> None:
        """`interval`, `retry`, `jitter`, `tick`, `deadline` and `limit` (bytes) are shortened by
        tests (Python API only); by default the interval is the setting in force."""
        self.home = home
        self._record = record
        self._settings = settings
        self._reload = reload
        self._interval = interval
        self.retry = retry
        self.jitter = jitter
        self.tick = tick
        self.deadline = deadline
        self.limit = limit
        self._next: dict[str, datetime] = {}
        """When each list is due next (in memory: a restart checks what is overdue)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checking in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="candor-lists", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting for a download in progress to be cut off."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # a download in progress is cut off by its deadline

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.exception("could not refresh the subscribed lists")
            if self._stop.wait(self.tick):
                return

    def run_due(self, now: datetime | None = None) -> list[Refreshed]:
        """Check every subscription that is due now; what each check did."""
        now = now or clock.now()
        config = self._settings()
        interval = self._interval or config.lists.refresh_every
        states = fetch_states(self.home)
        done: list[Refreshed] = []
        for stored in subscriptions(self.home):
            if self._stop.is_set():
                break
            name = stored.source_name
            state = states.get(name, FetchState())
            if now < self._due(name, state, interval, now):
                continue
            if not config.lists.downloads:
                self._next[name] = now + interval
                self._note_off(stored, state, now)
                continue
            result = self.refresh_one(stored)
            done.append(result)
            wait = interval + self._jitter() if result.outcome != "failed" else self.retry
            self._next[name] = now + wait
        return done

    def refresh_one(self, stored: StoredList) -> Refreshed:
        """Refresh one list now, journal how it went, and put a new copy into force."""
        return refresh_recorded(
            self.home, stored, self._record, self._reload, deadline=self.deadline, limit=self.limit
        )

    def _due(self, name: str, state: FetchState, interval: timedelta, now: datetime) -> datetime:
        due = self._next.get(name)
        if due is not None:
            return due
        if state.error_at is not None:  # failed before this run: a retry, not a full day
            return _parsed(state.error_at, now) + self.retry
        if state.checked_at is None:
            return now
        return _parsed(state.checked_at, now) + interval

    def _jitter(self) -> timedelta:
        return timedelta(seconds=random.uniform(0, self.jitter.total_seconds()))

    def _note_off(self, stored: StoredList, state: FetchState, now: datetime) -> None:
        if not worth_noting(self.home, stored.source_name, state):
            return
        self._record(
            ListRefresh(
                list=stored.source_name,
                outcome="off",
                last_good=state.succeeded_at,
                reason="Downloads are turned off ([lists] downloads = false).",
            )
        )


def refresh_recorded(
    home: Home,
    stored: StoredList,
    record: Callable[[EventBody], None],
    reload: Callable[[], object],
    *,
    deadline: float = REFRESH_DEADLINE,
    limit: int | None = None,
) -> Refreshed:
    """Refresh one list, put a new copy into force through `reload`, and journal the outcome
    as a `list_refresh` row (a failure at most once a day per list): the agent's daily check
    and `candor lists add/update` alike, so the journal records every refresh."""
    kwargs = {"limit": limit} if limit is not None else {}
    result = refresh(home, stored, deadline=deadline, **kwargs)
    state = fetch_states(home).get(result.name, FetchState())
    if result.outcome == "updated":
        try:
            reload()
        except Exception:
            log.exception("could not put the new copy of %s into force", result.name)
    if result.outcome != "failed" or worth_noting(home, result.name, state):
        record(
            ListRefresh(
                list=result.name,
                outcome=result.outcome,
                last_good=state.succeeded_at,
                entries=result.after,
                before=result.before,
                added=result.added,
                removed=result.removed,
                reason=result.reason,
            )
        )
    return result


def worth_noting(home: Home, name: str, state: FetchState) -> bool:
    """Whether this failure is the first journaled today for this list (and mark it)."""
    now = clock.now()
    if state.noted_at is not None and now - _parsed(state.noted_at, now) < NOTE_EVERY:
        return False
    stamp = now.isoformat(timespec="seconds")
    note_fetch(home, name, lambda s: replace(s, noted_at=stamp))
    return True


def _parsed(text: str, fallback: datetime) -> datetime:
    try:
        return parse_ts(text)
    except (TypeError, ValueError):
        return fallback
