"""The configuration and rules in force right now, swapped whole on every good reload.

Readers (the proxy's hooks, `candor rules watch`) take `live.rules.matcher` and get a complete,
immutable snapshot; a reload builds the next one aside and replaces the reference in one step,
so no request ever sees half of an edit.

What was in force is the ledger (`agent.policy.ledger`): read from the journal once, then kept
here and updated by what each reload commits. With a journal (the agent), a reload journals what
it changed and the new applied state first, in one transaction, and swaps only once that is
durable: nothing loosens without its row. Without one (`candor rules watch`) it only looks.

Some reloads are due to time rather than to an edit: a loosening whose cooling-off delay has
passed, a temporary allow that ends or was just granted; `agent.policy.deadlines` triggers those.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.config import Config, ConfigError, Home, load_config
from agent.config.last_good import forget_other_copies, keep_copy, kept_words, last_good_config
from agent.journal import JournalError, JournalWriteError, clock
from agent.policy import change_events
from agent.policy.cooling_off import Moment, Plan
from agent.policy.elapsed import ElapsedClock
from agent.policy.input_stamp import input_stamp
from agent.policy.ledger import (
    LEDGER_KINDS,
    ConfigRecord,
    heartbeats,
    ledger_from,
    read_ledger,
    with_grants,
)
from agent.policy.rulebook import (
    InspectFor,
    LoadedRules,
    applied_rules,
    commit,
    ledger_after,
    load_rules,
    needs_compiling,
)
from agent.policy.state_cache import disagreement_event, disagreements, write_caches
from rules.changes import CategoryChange, diff_identities

if TYPE_CHECKING:
    from agent.journal.events import EventBody
    from agent.journal.store import Journal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did: applied with these changes, or kept the old rules and why."""

    applied: bool
    changes: list[CategoryChange] = field(default_factory=list)
    reason: str | None = None
    cooling: Plan = field(default_factory=Plan)
    """What waits now, what took effect and what was undone in this reload."""
    events: tuple[EventBody, ...] = ()
    """What was journaled for it (before it took effect)."""
    config_problem: str | None = None
    """config.toml newly broken: why, and that the settings in force stay (said once)."""


class LiveRules:
    """The rules and settings in force, and the one way to reload them."""

    def __init__(
        self,
        home: Home,
        inspect: InspectFor | None = None,
        on_reload: Callable[[ReloadOutcome], None] | None = None,
        journal: Journal | None = None,
        *,
        quick_start: bool = False,
    ) -> None:
        """With `quick_start` (the agent), when the rules on disk need compiling, what the
        journal last applied is served first (`provisional`) and `finish_start` builds them."""
        self.home = home
        self._inspect = inspect
        self._on_reload = on_reload
        self._journal = journal
        self._lock = threading.Lock()
        self._gone_said: set[tuple[str, str]] = set()
        """Held list versions whose missing copy was journaled in this run."""
        self.unwritten = False
        """The last reload was refused because the journal could not be written (a full
        disk): `agent.policy.deadlines` tries it again until it goes through."""
        self._caches_stale = False
        """The `state/` caches could not be written: they lag behind the journal, so they are
        not compared with it (that would read as an edit by hand) until they are written."""
        self.elapsed = ElapsedClock(heartbeats(home.journal_file))
        self._stamp = input_stamp(home)
        """The files as they were just before the last load: `reload_if_changed` compares."""
        first = last_good_config(home)
        self.config: Config = first.config
        self.config_problem: str | None = first.note
        """Why config.toml is not what is in force, while it is broken."""
        self.ledger = ledger_from(journal, home) if journal is not None else read_ledger(home)
        snapshot = self._snapshot() if quick_start and journal is not None else None
        self.provisional = snapshot is not None
        """Serving what the journal last applied until `finish_start` has built the rules."""
        self.rules: LoadedRules = snapshot if snapshot is not None else self._load(self.config)

    @property
    def effective_config(self) -> Config:
        """The settings in force: `config` with the stricter values a cooling-off still holds."""
        return self.rules.effective_config or self.config

    def _load(self, config: Config) -> LoadedRules:
        return load_rules(
            self.home, config, self._inspect, ledger=self.ledger, elapsed=self.elapsed
        )

    def _snapshot(self) -> LoadedRules | None:
        """The rules last applied, from the journal, when building the rules on disk is slow."""
        if not needs_compiling(self.home):
            return None
        return applied_rules(self.home, self.config, self._inspect, ledger=self.ledger)

    def finish_start(self) -> list[EventBody]:
        """Build the rules on disk and put them in force as `start` would have (what changed
        while stopped and the applied state journaled first); the rows. Raises if the journal
        cannot be written: the rules last applied then stay in force."""
        with self._lock:
            loaded = self._load(self.config)
            events = [
                *change_events.since_last_run(loaded),
                *self._cache_check(),
                *self._gone_check(loaded),
            ]
            self._commit(loaded, events, self.config, self.config_problem)
            self.rules = loaded
            self.provisional = False
            return events

    def start(self, first: Sequence[EventBody] = ()) -> list[EventBody]:
        """Journal `first` (the agent's start), what changed while the agent was stopped, a
        cache found edited, and the applied state, before anything is served; the rows. While
        `provisional`, only `first`: the rest comes with `finish_start`."""
        if self.provisional and self._journal is not None:
            from agent.journal.store import draft_of

            with self._lock:
                clock_ = self._journal.clock
                self._journal.append_drafts([draft_of(e, None, clock_) for e in first])
            return list(first)
        with self._lock:
            events = [
                *first,
                *change_events.since_last_run(self.rules),
                *self._cache_check(),
                *self._gone_check(self.rules),
            ]
            self._commit(self.rules, events, self.config, self.config_problem)
            return events

    def grants_changed(self) -> bool:
        """Whether another command journaled an allow or unlock row since the ledger was read."""
        if self._journal is None:
            return False
        return self._journal.last_seq_of(LEDGER_KINDS) != self.ledger.allow_seq

    def reload(self) -> ReloadOutcome:
        """Rebuild from disk; keep the current snapshot if the new one would be broken."""
        with self._lock:
            outcome = self._reload_locked()
            # Inside the lock: the file watcher and the deadline watch may reload at once, and
            # the outcomes must be seen in the order the snapshots were swapped.
            if self._on_reload:
                try:
                    self._on_reload(outcome)
                except Exception:  # the outcome stands: telling about it must not change it
                    log.exception("could not pass on a reload (applied: %s)", outcome.applied)
        return outcome

    def reload_if_changed(self) -> ReloadOutcome | None:
        """Reload if a settings, rules or list file changed since it was last read; else None.

        The start-up's re-check: an edit after the first load and before the watcher's first
        event would otherwise be missed until the next one."""
        if input_stamp(self.home) == self._stamp:
            return None
        return self.reload()

    def _reload_locked(self) -> ReloadOutcome:
        self._stamp = input_stamp(self.home)
        problem = None
        try:
            config = load_config(self.home)
        except ConfigError as exc:  # the rules still reload, with the settings in force
            config, problem = self.config, kept_words(exc)
        said = problem if problem != self.config_problem else None
        if self._journal is not None:
            try:
                self.ledger = with_grants(self.ledger, self._journal)
            except (JournalError, sqlite3.Error) as exc:
                return ReloadOutcome(False, reason=f"Candor could not read its journal ({exc}).")
        loaded = self._load(config)
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
                config_problem=said,
            )
        gone_said = set(self._gone_said)
        events = [
            *change_events.of_reload(self.rules, loaded, self.config, config),
            *self._cache_check(),
            *self._gone_check(loaded),
        ]
        changes = diff_identities(self.rules.identities, loaded.identities)
        # The rows first; once they are durable nothing can fail before the swap.
        self.unwritten = False
        try:
            self._record(loaded, events, config, problem)
        except (JournalError, sqlite3.Error, OSError) as exc:
            self.unwritten = True
            self._gone_said = gone_said  # not written: said again when the reload is tried again
            return ReloadOutcome(False, reason=unwritten_reason(exc), config_problem=said)
        self.config = config
        self.config_problem = problem
        self.rules = loaded
        self._refresh_caches(loaded)
        return ReloadOutcome(
            True, changes=changes, cooling=loaded.cooling, events=tuple(events), config_problem=said
        )

    def _cache_check(self) -> list[EventBody]:
        """One `bypass_suspected` row if a `state/` cache says something the journal does not."""
        if self._journal is None:
            return []
        if self.ledger.bridged or self._caches_stale:  # the caches are not the journal's
            return []
        now = Moment(clock.now(), clock.uptime(), self.elapsed)
        ledger = self.ledger
        found = disagreements(
            self.home.state_dir, ledger.applied, ledger.pending, ledger.grants, now
        )
        return [disagreement_event(found)] if found else []

    def _gone_check(self, loaded: LoadedRules) -> list[EventBody]:
        """One `bypass_suspected` row per held list version whose compiled copy was deleted."""
        from agent.journal.events import BypassSuspected

        if self._journal is None:
            return []
        events: list[EventBody] = []
        for p in loaded.held_gone:
            if (p.value, p.source) in self._gone_said:
                continue
            self._gone_said.add((p.value, p.source))
            name = p.value.rsplit("/", 1)[-1]
            events.append(
                BypassSuspected(
                    what="held_list_gone",
                    source=p.value,
                    detail=f"The kept copy of the imported list {name} was deleted, so the "
                    "entries it lost stopped applying before the cooling-off delay ended.",
                )
            )
        return events

    def _commit(
        self,
        loaded: LoadedRules,
        events: Sequence[EventBody],
        config: Config,
        config_problem: str | None,
    ) -> None:
        """Journal first (raises if it cannot), then remember, then refresh the caches."""
        self._record(loaded, events, config, config_problem)
        self._refresh_caches(loaded)

    def _record(
        self,
        loaded: LoadedRules,
        events: Sequence[EventBody],
        config: Config,
        config_problem: str | None,
    ) -> None:
        """Journal `events` and the applied state with the settings' digest (raises if it
        cannot: then nothing changed), then remember the ledger they make. The settings' copy
        is kept before their digest is journaled, and older copies go after."""
        if self._journal is None:
            self.ledger = ledger_after(loaded)
            return
        digest = keep_copy(self.home, config)
        self.ledger = commit(self._journal, loaded, events, ConfigRecord(digest, config_problem))
        forget_other_copies(self.home, digest)

    def _refresh_caches(self, loaded: LoadedRules) -> None:
        """Mirror the ledger into `state/`. Caches only: a failure (a full disk) is logged and
        changes nothing in force."""
        if self._journal is None:
            return
        ledger = self.ledger
        try:
            write_caches(
                self.home.state_dir,
                ledger.applied,
                ledger.pending,
                ledger.grants,
                loaded.matcher.fingerprint,
            )
        except Exception as exc:
            self._caches_stale = True
            log.warning("could not refresh the caches under %s: %s", self.home.state_dir, exc)
        else:
            self._caches_stale = False


def unwritten_reason(exc: BaseException) -> str:
    """The one sentence for a reload refused because its rows could not be written."""
    cause = exc.cause if isinstance(exc, JournalWriteError) else str(exc)
    return (
        f"Candor could not write to its journal ({cause}), so the change is not in force: "
        "the previous rules stay until it can, and Candor tries again by itself."
    )
