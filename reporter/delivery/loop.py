"""The agent's report sender: a thread that runs a sending pass at start, then regularly.

A pass every `interval` seconds of the report clock, at most a minute of real time apart (so a
wake from sleep is noticed quickly), and sooner when a retry falls due. A pass that fails is
logged and the loop keeps going: reports must not stop because one attempt hit a bug.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from agent.config import Home
from agent.journal import clock
from reporter.delivery.sender import Backoff, PassResult, Sender

log = logging.getLogger(__name__)


class SenderLoop:
    """The agent's sender: a daemon thread running `Sender.run_once` at start, then every
    `interval` seconds of the report clock (at most a minute of real time apart, so a wake
    from sleep is noticed quickly), or sooner when a retry falls due."""

    def __init__(
        self,
        home: Home,
        *,
        interval: float = 300.0,
        backoff: Backoff | None = None,
        now: Callable[[], datetime] = clock.now,
        max_real_wait: float = 60.0,
        on_pass: Callable[[PassResult], None] | None = None,
    ) -> None:
        self.home = home
        self.interval = interval
        self.backoff = backoff
        self.now = now
        self.max_real_wait = max_real_wait
        self.on_pass = on_pass
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the thread (once); the first pass runs at once."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="candor-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait for the pass in progress, for a clean agent stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poke(self) -> None:
        """Run a pass now (e.g. after a resume from sleep, or a consent change)."""
        self._wake.set()

    def _run(self) -> None:
        try:
            sender = Sender(self.home, backoff=self.backoff, now=self.now)
        except Exception as exc:  # e.g. a journal from a newer Candor: say so, do not crash
            log.exception("report sender cannot start")
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        try:
            while not self._stop.is_set():
                wait = self.interval
                try:
                    result = sender.run_once()
                    self.last_error = None
                    if self.on_pass is not None:
                        self.on_pass(result)
                    if result.next_attempt_at is not None:
                        until = (result.next_attempt_at - self.now()).total_seconds()
                        wait = min(wait, max(until, 0.0))
                except Exception as exc:  # keep the agent's sender alive; say what went wrong
                    log.exception("report sender pass failed")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                real = min(clock.real_seconds(wait), self.max_real_wait)
                self._wake.wait(max(real, 0.005))
                self._wake.clear()
        finally:
            sender.close()
