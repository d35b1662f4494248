"""Loosening a start or a reload changed that matters to accountability, as journal events.

Rules added are tightening and rules removed loosening (per category); settings that loosen or
tighten (actions, allowlist, SafeSearch, the cooling-off delay itself) become `config_changed`;
a loosening the cooling-off delay holds back carries `pending_until`, and one whose wait ended
is recorded when it takes effect. Partner, delivery and report timing are consent and delivery
matters, left to the parts of Candor that own them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.config import Config
from agent.journal.events import ConfigChanged, EventBody, RulesChanged
from agent.journal.loosening import Loosening
from agent.policy import cooling_off
from agent.policy.cooling_off import RULE_WHATS, ListChange, Pending, Settings, journal_items
from agent.policy.rulebook import LoadedRules, changes_since_applied, compared_identities
from rules.changes import CategoryChange, diff_identities


def since_last_run(loaded: LoadedRules) -> list[EventBody]:
    """Loosening differs from the rule set and settings last put into force (edits made while the
    agent was stopped), and the loosenings whose wait ended meanwhile."""
    events: list[EventBody] = []
    changes = changes_since_applied(loaded)
    if changes or loaded.list_changes:
        events.append(rules_changed(changes, True, loaded.pending, loaded.list_changes))
    applied = loaded.ledger.applied
    if applied and applied.settings and loaded.settings:
        changed = cooling_off.settings_changes(applied.settings, loaded.settings)
        if changed:
            changed = cooling_off.annotate_config_changes(changed, loaded.pending)
            events.append(ConfigChanged(changes=changed, while_stopped=True))
    events.extend(ended_events(loaded.cooling.ended, while_stopped=True))
    return events


def of_reload(
    before: LoadedRules, after: LoadedRules, config_before: Config, config_after: Config
) -> list[EventBody]:
    """Loosening one reload changed, from the rules in force `before` to those `after`: rules,
    lists, settings, and loosenings that now apply."""
    pending = after.cooling.pending
    events: list[EventBody] = []
    changes = diff_identities(compared_identities(after, before.identities), after.identities)
    if changes or after.list_changes:
        events.append(rules_changed(changes, False, pending, after.list_changes))
    changed = cooling_off.settings_changes(
        Settings.of(config_before, before.actions), Settings.of(config_after, after.actions)
    )
    if changed:
        events.append(ConfigChanged(changes=cooling_off.annotate_config_changes(changed, pending)))
    events.extend(ended_events(after.cooling.ended, while_stopped=False))
    return events


def rules_changed(
    changes: Sequence[CategoryChange],
    while_stopped: bool,
    pending: Sequence[Pending] = (),
    lists: Sequence[ListChange] = (),
) -> RulesChanged:
    """Per category, what tightened and what loosened, and for each loosening that waits for
    the cooling-off delay, when it applies (`pending_until`, only present when something
    waits). An imported list whose content changed is listed under `lists` with its entries
    before and after and how many it lost (loosening) or gained."""
    entries: dict[str, dict[str, Any]] = {}
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
        entries[c.category] = entry
    for change in lists:
        entry = entries.setdefault(
            change.category,
            {
                "category": change.category,
                "tightening": [],
                "loosening": [],
                "appeared": False,
                "disappeared": False,
            },
        )
        item = change.as_json()
        until = _shortened_until(pending, change)
        if until is not None:
            item["pending_until"] = until
        entry.setdefault("lists", []).append(item)
    ordered = [entries[name] for name in sorted(entries)]
    return RulesChanged(while_stopped=while_stopped, changes=ordered)


def _shortened_until(pending: Sequence[Pending], change: ListChange) -> str | None:
    for p in pending:
        if p.what == Loosening.LIST_SHORTENED and (p.value, p.source) == (
            change.name,
            change.old_hash,
        ):
            return p.until.isoformat()
    return None


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
