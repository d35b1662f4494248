"""The configuration and rules in force right now, swapped whole on every good reload.

Readers (the proxy's hooks, `candor rules watch`) take `live.rules.matcher` and get a complete,
immutable snapshot; a reload builds the next one aside and replaces the reference in one step,
so no request ever sees half of an edit.

Some reloads are due to time rather than to an edit: a loosening whose cooling-off delay has
passed, a temporary allow that ends or was just granted; `agent.policy.deadlines` triggers those.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.config import Config, ConfigError, Home, load_config
from agent.policy.cooling_off import Plan
from agent.policy.rulebook import InspectFor, LoadedRules, load_rules, remember_applied
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
    """The rules and settings in force, and the one way to reload them."""

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
