"""Reloads due to time rather than to an edit: a cooling-off wait or a temporary allow ends."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from agent.journal import clock
from agent.policy import temporary_allow
from agent.policy.live_rules import LiveRules

log = logging.getLogger(__name__)


class DeadlineWatch:
    """Reloads when a cooling-off wait or a temporary allow ends, or when `candor allow` writes.

    A thread that looks twice a second at the grants file's stamp and at the clock: cheaper and
    simpler than a second file watcher, and a grant is live within a second. Start and stop it
    with the agent.
    """

    POLL_SECONDS = 0.5
    RETRY = timedelta(seconds=30)

    def __init__(self, live: LiveRules) -> None:
        self.live = live
        self._path = temporary_allow.grants_path(live.home.state_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="candor-deadlines", daemon=True)
        self._stamp = self._read_stamp()
        self._tried: tuple[datetime, datetime] | None = None
        """(deadline, when) of the last reload tried for a deadline: a refused reload (a broken
        file) is retried every `RETRY`, not on every poll."""

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
        """Reload if the grants changed or a deadline passed; True if it reloaded."""
        stamp = self._read_stamp()
        deadline = self.live.rules.next_deadline
        now = clock.now()
        due = deadline is not None and deadline <= now
        if due and self._tried and self._tried[0] == deadline and now < self._tried[1] + self.RETRY:
            due = False
        if stamp == self._stamp and not due:
            return False
        self._stamp = stamp
        if due and deadline is not None:
            self._tried = (deadline, now)
        self.live.reload()
        return True

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)
