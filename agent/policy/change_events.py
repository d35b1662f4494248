"""Loosening a start or a reload changed that matters to accountability, as journal events.

Rules added are tightening and rules removed loosening (per category); settings that loosen or
tighten (actions, allowlist, SafeSearch, the cooling-off delay itself) become `config_changed`;
a loosening the cooling-off delay holds back carries `pending_until`, and one whose wait ended
is recorded when it takes effect. Partner, delivery and report timing are consent and delivery
matters, left to the parts of Candor that own them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.config import Config, Home
from agent.journal.events import ConfigChanged, EventBody, RulesChanged
from agent.policy import cooling_off
from agent.policy.cooling_off import RULE_WHATS, Pending, Settings, journal_items
from agent.policy.live_rules import ReloadOutcome
from agent.policy.rulebook import LoadedRules, changes_since_applied, read_applied
from rules.changes import CategoryChange
from rules.model import Action


def since_last_run(home: Home, loaded: LoadedRules) -> list[EventBody]:
    """Loosening differs from the rule set and settings last put into force (edits made while the
    agent was stopped), and the loosenings whose wait ended meanwhile."""
    events: list[EventBody] = []
    if changes := changes_since_applied(home, loaded):
        events.append(rules_changed(changes, True, loaded.pending))
    applied = read_applied(home)
    if applied and applied.settings and loaded.settings:
        changed = cooling_off.settings_changes(applied.settings, loaded.settings)
        if changed:
            changed = cooling_off.annotate_config_changes(changed, loaded.pending)
            events.append(ConfigChanged(changes=changed, while_stopped=True))
    events.extend(ended_events(loaded.cooling.ended, while_stopped=True))
    return events


def of_reload(
    outcome: ReloadOutcome,
    before: Config,
    after: Config,
    actions_before: Mapping[str, Action],
    actions_after: Mapping[str, Action],
) -> list[EventBody]:
    """Loosening one applied reload changed: rules, settings, and loosenings that now apply.

    `actions_*` are the effective category actions (a category with rules and no config entry
    blocks)."""
    pending = outcome.cooling.pending
    events: list[EventBody] = []
    if outcome.changes:
        events.append(rules_changed(outcome.changes, False, pending))
    changed = cooling_off.settings_changes(
        Settings.of(before, actions_before), Settings.of(after, actions_after)
    )
    if changed:
        events.append(ConfigChanged(changes=cooling_off.annotate_config_changes(changed, pending)))
    events.extend(ended_events(outcome.cooling.ended, while_stopped=False))
    return events


def rules_changed(
    changes: Sequence[CategoryChange], while_stopped: bool, pending: Sequence[Pending] = ()
) -> RulesChanged:
    """Per category, what tightened and what loosened, and for each loosening that waits for
    the cooling-off delay, when it applies (`pending_until`, only present when something
    waits)."""
    entries = []
    for c in changes:
        entry: dict[str, Any] = {
            "category": c.category,
            "tightening": list(c.tightening),
            "loosening": list(c.loosening),
            "appeared": c.appeared,
            "disappeared": c.disappeared,
        }
        if waiting := cooling_off.rule_pending_until(pending, c.category, c.loosening):
            entry["pending_until"] = waiting
        entries.append(entry)
    return RulesChanged(while_stopped=while_stopped, changes=entries)


def ended_events(ended: Sequence[Pending], while_stopped: bool) -> list[EventBody]:
    """Loosenings whose wait is over: they apply from now on."""
    rules = [p for p in ended if p.what in RULE_WHATS]
    settings = [p for p in ended if p.what not in RULE_WHATS]
    events: list[EventBody] = []
    if rules:
        took = journal_items(rules)
        events.append(RulesChanged(while_stopped=while_stopped, changes=[], took_effect=took))
    if settings:
        events.append(ConfigChanged(changes=[], took_effect=journal_items(settings)))
    return events
