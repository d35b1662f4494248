"""The configuration and rules in force right now, swapped whole on every good reload.

Readers (the proxy's hooks, `candor rules watch`) take `live.rules.matcher` and get a complete,
immutable snapshot; a reload builds the next one aside and replaces the reference in one step,
so no request ever sees half of an edit.

Some reloads are due to time rather than to an edit: a loosening whose cooling-off delay has
passed, a temporary allow that ends or was just granted. `DeadlineWatch` triggers those.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agent import clock, temporary_allow
from agent.config import Config, ConfigError, Home, load_config
from agent.cooling_off import Plan
from agent.rulebook import InspectFor, LoadedRules, load_rules, remember_applied
from rules.changes import CategoryChange, diff_identities

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did: applied with these changes, or kept the old rules and why."""

    applied: bool
    changes: list[CategoryChange] = field(default_factory=list)
    reason: str | None = None
    cooling: Plan = field(default_factory=Plan)
    """What waits now, what took effect and what was undone in this reload."""


class LiveRules:
    def __init__(
        self,
        home: Home,
        inspect: InspectFor | None = None,
        on_reload: Callable[[ReloadOutcome], None] | None = None,
    ) -> None:
        self.home = home
        self._inspect = inspect
        self._on_reload = on_reload
        self._lock = threading.Lock()
        self.config: Config = load_config(home)
        self.rules: LoadedRules = load_rules(home, self.config, self._inspect)

    @property
    def effective_config(self) -> Config:
        """The settings in force: `config` with the stricter values a cooling-off still holds."""
        return self.rules.effective_config or self.config

    def reload(self) -> ReloadOutcome:
        """Rebuild from disk; keep the current snapshot if the new one would be broken."""
        with self._lock:
            outcome = self._reload_locked()
            # Inside the lock: the file watcher and the deadline watch may reload at once, and
            # the journal must see their outcomes in the order the snapshots were swapped.
            if self._on_reload:
                self._on_reload(outcome)
        return outcome

    def _reload_locked(self) -> ReloadOutcome:
        try:
            config = load_config(self.home)
        except ConfigError as exc:
            return ReloadOutcome(False, reason=f"{exc} The previous settings stay in force.")
        loaded = load_rules(self.home, config, self._inspect)
        new_problems = [p for p in loaded.problems if p not in self.rules.problems]
        old_rejected = {(r.file, r.text, r.reason) for r in self.rules.rejected}
        new_rejected = [
            r for r in loaded.rejected if (r.file, r.text, r.reason) not in old_rejected
        ]
        if new_problems or new_rejected:
            first = new_problems[0] if new_problems else str(new_rejected[0])
            more = len(new_problems) + len(new_rejected) - 1
            extra = f" (and {more} more)" if more else ""
            return ReloadOutcome(
                False,
                reason=f"{first}{extra}. The previous rules stay in force until this is fixed.",
            )
        changes = diff_identities(self.rules.identities, loaded.identities)
        self.config = config
        self.rules = loaded
        remember_applied(self.home, loaded)
        return ReloadOutcome(True, changes=changes, cooling=loaded.cooling)


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
        self._thread.start()

    def stop(self) -> None:
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
