"""Reloads due to time rather than to an edit: a cooling-off wait or a temporary allow ends, a
grant is journaled by `candor allow`, a `state/` cache is touched by hand, or a reload refused
for want of a journal write (a full disk) is tried again."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from agent.journal import clock
from agent.policy.live_rules import LiveRules
from agent.policy.state_cache import cache_files

log = logging.getLogger(__name__)

Stamp = tuple[tuple[int, int] | None, ...]


class DeadlineWatch:
    """Reloads when a cooling-off wait or a temporary allow ends, when `candor allow` journals a
    grant, or when a cache file under `state/` changes (the reload then journals that once).

    A thread that looks twice a second at the journal's newest allow row (through the kind
    index), at the cache files' stamps and at the clock: cheaper and simpler than a second file
    watcher, and a grant is live within a second. Start and stop it with the agent.
    """

    POLL_SECONDS = 0.5
    RETRY = timedelta(seconds=30)
    WRITE_RETRY_SECONDS = 5.0
    """How often a reload refused because the journal could not be written is tried again."""

    def __init__(self, live: LiveRules) -> None:
        self.live = live
        self._files = cache_files(live.home.state_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="candor-deadlines", daemon=True)
        self._stamp = self._read_stamp()
        self._tried: tuple[datetime, datetime] | None = None
        """(deadline, when) of the last reload tried for a deadline: a refused reload (a broken
        file) is retried every `RETRY`, not on every poll."""
        self._write_tried: float | None = None
        """When a reload refused for want of a journal write was last seen or tried."""

    def start(self) -> None:
        """Start polling (a daemon thread)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            try:
                self.check()
            except Exception:
                log.exception("could not apply a cooling-off or temporary-allow change")

    def check(self) -> bool:
        """Reload if a grant was journaled, a cache changed or a deadline passed; True if so."""
        stamp = self._read_stamp()
        deadline = self.live.rules.next_deadline
        now = clock.now()
        due = deadline is not None and deadline <= now
        if due and self._tried and self._tried[0] == deadline and now < self._tried[1] + self.RETRY:
            due = False
        retry = self._write_retry_due()
        if stamp == self._stamp and not due and not retry and not self.live.grants_changed():
            return False
        if due and deadline is not None:
            self._tried = (deadline, now)
        self.live.reload()
        self._stamp = self._read_stamp()
        return True

    def _write_retry_due(self) -> bool:
        """Whether to try again a reload the journal refused (every `WRITE_RETRY_SECONDS`)."""
        if not self.live.unwritten:
            self._write_tried = None
            return False
        now = time.monotonic()
        if self._write_tried is not None and now - self._write_tried < self.WRITE_RETRY_SECONDS:
            return False
        first = self._write_tried is None
        self._write_tried = now
        return not first

    def _read_stamp(self) -> Stamp:
        stamps: list[tuple[int, int] | None] = []
        for path in self._files:
            try:
                st = path.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_mtime_ns, st.st_size))
        return tuple(stamps)
