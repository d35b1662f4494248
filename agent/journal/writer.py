"""The proxy's way to the journal: events queued from any thread, committed in batches elsewhere."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, Self

from agent.journal.clock import Clock, format_ts, utc_now
from agent.journal.errors import JournalError, JournalWriteError
from agent.journal.events import EventBody, EventsLost, JournalUnwritable
from agent.journal.store import Draft, Journal, draft_of, make_draft, write_failure_words

log = logging.getLogger(__name__)


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class JournalWriter:
    """Takes events from any thread or event loop and commits them in batches on its own thread.

    `submit()` only stamps the time, checks the event and enqueues it, so the proxy's event
    loop never waits for the disk. The thread commits at most `flush_interval` seconds after an
    event arrives (sooner when `max_batch` events are waiting), so `kill -9` loses at most about
    that much; SQLite's transactions mean it never leaves a half-written batch. When a write
    fails (disk full, database locked too long) the thread logs it and retries the same batch;
    if the backlog passes `max_backlog`, new events are counted and dropped, and an
    `events_lost` row records how many once writing works again. A `journal_unwritable` row
    says, with the first batch that is written again, for how long and why writing failed.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utc_now,
        flush_interval: float = 0.5,
        max_batch: int = 500,
        max_backlog: int = 100_000,
        busy_timeout: float = 10.0,
        close_timeout: float = 10.0,
    ) -> None:
        if flush_interval <= 0 or max_batch < 1 or max_backlog < 1:
            raise ValueError("flush_interval, max_batch and max_backlog must be positive")
        self._journal = Journal(path, clock=clock, busy_timeout=busy_timeout)
        self._clock = clock
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._max_backlog = max_backlog
        self._close_timeout = close_timeout
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._closed = False
        self._stop_requested = threading.Event()
        self._lost_lock = threading.Lock()
        self._lost: tuple[int, str, str] | None = None
        self._failing: tuple[str, str] | None = None
        """(when writing first failed, why) while the batch in hand cannot be written."""
        self._thread = threading.Thread(target=self._run, name="candor-journal", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        """The journal file this writer commits to."""
        return self._journal.path

    def submit(self, event: EventBody, ts: datetime | None = None) -> None:
        """Queue a typed event without waiting. Raises ValueError for a body that is not plain
        JSON, and RuntimeError after close()."""
        self._queue_draft(lambda: draft_of(event, ts, self._clock))

    def submit_raw(
        self, kind: str, body: Mapping[str, Any] | None = None, ts: datetime | None = None
    ) -> None:
        """Queue a row from a kind and a plain body (tests); Candor's own writers use `submit`."""
        self._queue_draft(lambda: make_draft(kind, body, ts, self._clock))

    def _queue_draft(self, make: Callable[[], Draft]) -> None:
        if self._closed:
            raise RuntimeError("the journal writer is closed")
        draft = make()
        if self._queue.qsize() >= self._max_backlog:
            self._count_lost(draft.ts)
            return
        self._queue.put(draft)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False if that took too long."""
        if self._closed:
            return not self._thread.is_alive()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Commit everything submitted, then stop the thread. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._stop_requested.set()
        self._thread.join()
        self._journal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count_lost(self, ts: str) -> None:
        with self._lost_lock:
            if self._lost is None:
                log.warning(
                    "journal backlog is full (%d events); dropping new events until "
                    "writing catches up",
                    self._max_backlog,
                )
                self._lost = (1, ts, ts)
            else:
                count, first, _ = self._lost
                self._lost = (count + 1, first, ts)

    def _take_lost(self, stopping: bool) -> Draft | None:
        """The `events_lost` row, once the backlog has drained (or at close), so that a long
        overload is recorded once rather than once per batch."""
        if not stopping and self._queue.qsize() > self._max_backlog // 2:
            return None
        with self._lost_lock:
            lost, self._lost = self._lost, None
        if lost is None:
            return None
        count, first, last = lost
        log.warning("dropped %d journal events between %s and %s", count, first, last)
        return draft_of(EventsLost(count=count, first_ts=first, last_ts=last), None, self._clock)

    def _run(self) -> None:
        batch: list[Draft] = []
        waiting: list[_Flush] = []
        give_up_at: float | None = None
        failures = 0
        while True:
            if give_up_at is None and self._fill(batch, waiting):
                give_up_at = time.monotonic() + self._close_timeout
            if give_up_at is not None:
                self._drain(batch, waiting)
            lost = self._take_lost(stopping=give_up_at is not None)
            if lost is not None:
                batch.append(lost)
            if batch:
                if self._write(batch, failures):
                    batch = []
                    failures = 0
                    self._failing = None
                else:
                    failures += 1
                    if give_up_at is not None and time.monotonic() >= give_up_at:
                        log.error("gave up writing %d journal events at shutdown", len(batch))
                        return
                    delay = min(5.0, self._flush_interval * 2**failures)
                    if give_up_at is None:
                        self._stop_requested.wait(delay)
                    else:
                        time.sleep(min(delay, 0.5))
                    continue
            for marker in waiting:
                marker.done.set()
            waiting.clear()
            if give_up_at is not None and self._queue.empty():
                return

    def _fill(self, batch: list[Draft], waiting: list[_Flush]) -> bool:
        """Collect events until the batch is due; True when close() asked to stop."""
        deadline = time.monotonic() + self._flush_interval if batch else None
        while len(batch) < self._max_batch:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return False
            try:
                item = self._queue.get(timeout=timeout)
            except Empty:
                return False
            if item is _STOP:
                return True
            if isinstance(item, _Flush):
                waiting.append(item)
                return False
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self._flush_interval
        return False

    def _drain(self, batch: list[Draft], waiting: list[_Flush]) -> None:
        """After close(): take what is already queued, without waiting for more."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except Empty:
                return
            if isinstance(item, _Flush):
                waiting.append(item)
            elif item is not _STOP:
                batch.append(item)

    def _write(self, batch: list[Draft], failures: int) -> bool:
        try:
            self._journal.append_drafts([*batch, *self._recovered(failures)])
        except Exception as e:
            if self._failing is None:
                cause = e.cause if isinstance(e, JournalWriteError) else write_failure_words(e)
                self._failing = (format_ts(self._clock()), cause)
            if isinstance(e, sqlite3.Error | OSError | JournalError):
                log.warning(
                    "could not write %d journal events (attempt %d), will retry: %s",
                    len(batch),
                    failures + 1,
                    e,
                )
            else:
                log.exception(
                    "could not write %d journal events (attempt %d), will retry",
                    len(batch),
                    failures + 1,
                )
            return False
        return True

    def _recovered(self, failures: int) -> list[Draft]:
        """The `journal_unwritable` row that goes with the first batch written after failures."""
        if self._failing is None:
            return []
        since, cause = self._failing
        until = format_ts(self._clock())
        row = JournalUnwritable(since=since, until=until, reason=cause, attempts=failures)
        return [draft_of(row, None, self._clock)]
