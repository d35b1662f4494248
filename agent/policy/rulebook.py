"""Everything the person chose, read from the home and compiled into one matcher snapshot.

The rulebook is the only place that knows where rules live on disk: the person's files in
`rules/`, imported lists in `lists/`, and the allowlist and category actions in `config.toml`.
It also remembers the rule set last put into force, so a rule deleted while Candor was stopped is
still seen as a loosening when it starts again, and it applies the cooling-off delay
(`agent.cooling_off`) and temporary allows (`agent.temporary_allow`) wherever rules are loaded:
the agent, `candor rules test` and `candor status` see the same rules in force.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agent.config import Config, Home, effective_categories
from agent.journal import clock
from agent.journal.loosening import Loosening
from agent.policy import cooling_off, temporary_allow
from agent.policy.cooling_off import LIST_PREFIX, Applied, Pending, Plan, Settings
from agent.policy.imported_lists import compiled, stored_lists
from agent.policy.temporary_allow import Grant
from rules.changes import CategoryChange, diff_identities
from rules.compiled_list import CompiledList, load_compiled
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.model import Action, Rejection, Rule, RuleKind
from rules.syntax import RulesFileError, RuleSyntaxError, parse_rule, read_rules_file

APPLIED_STATE = "applied-rules.json"

InspectFor = Callable[[Config], Sequence[Rule]]
"""Hosts to decrypt whatever the rules say, given the settings in force."""


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """A compiled snapshot and what was wrong while building it."""

    matcher: Matcher
    actions: dict[str, Action]
    rejected: tuple[Rejection, ...] = ()
    problems: tuple[str, ...] = ()
    list_counts: dict[str, int] = field(default_factory=dict)
    rule_counts: dict[str, int] = field(default_factory=dict)
    identities: dict[str, frozenset[str]] = field(default_factory=dict)
    """Per category, the canonical text of every rule and `list:<name>` of every list, as the
    files say (pending loosenings not counted). An imported list counts as one rule: updating
    it is not reported entry by entry."""
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    list_hashes: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None
    cooling: Plan = field(default_factory=Plan)
    """Loosening the cooling-off delay keeps stricter than the files, and what just took effect."""
    grants: tuple[Grant, ...] = ()
    """Temporary allows in force."""
    effective_config: Config | None = None
    """The configuration in force: the loaded one with the stricter values still waiting."""
    notes: tuple[str, ...] = ()
    """Things the person should know that do not stop a reload (a kept list went missing)."""

    @property
    def pending(self) -> tuple[Pending, ...]:
        """The loosenings the cooling-off delay still holds back."""
        return self.cooling.pending

    @property
    def next_deadline(self) -> datetime | None:
        """When something waiting or granted next ends, so the agent reloads then."""
        times = [p.until for p in self.cooling.pending] + [g.until for g in self.grants]
        return min(times) if times else None


def rules_file(home: Home, category: str) -> Path:
    """Where a category's rules live: rules/<category>.txt."""
    return home.rules_dir / f"{category}.txt"


def categories_on_disk(home: Home) -> list[str]:
    """Categories that have a rules file or an imported list."""
    names = {p.stem for p in home.rules_dir.glob("*.txt")} if home.rules_dir.is_dir() else set()
    names.update(s.meta.category for s in stored_lists(home.lists_dir))
    return sorted(names)


def load_rules(
    home: Home,
    config: Config,
    inspect: InspectFor | None = None,
    *,
    now: datetime | None = None,
) -> LoadedRules:
    """Read and compile everything; bad lines are collected, never fatal.

    `inspect` names, for the settings in force, hosts the agent needs decrypted whatever the
    rules say (SafeSearch engines while SafeSearch or search capture is on).
    Loosenings the cooling-off delay holds back stay in force, and temporary allows are added;
    nothing is written (see `remember_applied`), so a command that only looks starts no clock.
    """
    now = now or clock.now()
    actions = effective_categories(config, categories_on_disk(home))
    rejected: list[Rejection] = []
    problems: list[str] = []
    notes: list[str] = []
    lists_by_category: dict[str, list[CompiledList]] = {name: [] for name in actions}
    list_counts: dict[str, int] = {}
    list_hashes: dict[str, str] = {}
    for stored in stored_lists(home.lists_dir):
        try:
            built = compiled(stored, home.list_cache_dir)
        except OSError as exc:
            problems.append(f"{stored.data_path}: cannot read this imported list ({exc.strerror}).")
            continue
        lists_by_category.setdefault(stored.meta.category, []).append(built)
        list_counts[stored.source_name] = built.stats.accepted
        list_hashes[stored.source_name] = built.source_hash
    rules_by_category: dict[str, list[Rule]] = {}
    rule_counts: dict[str, int] = {}
    for name in actions:
        path = rules_file(home, name)
        rules: list[Rule] = []
        if path.exists():
            try:
                parsed = read_rules_file(path, display_name=f"{name}.txt")
            except RulesFileError as exc:
                problems.append(str(exc))
            else:
                rules = parsed.rules
                rejected.extend(parsed.rejected)
        rule_counts[name] = len(rules)
        rules_by_category[name] = rules
    identities = _identities(rules_by_category, list_counts)
    settings = Settings.of(config, actions)
    cooling = cooling_off.plan(
        now,
        read_applied(home),
        cooling_off.read_pending(home.state_dir),
        identities,
        settings,
    )
    categories = _category_policies(
        home, actions, rules_by_category, lists_by_category, cooling.pending, notes
    )
    in_force = cooling_off.effective_config(config, cooling.pending)
    grants = tuple(temporary_allow.active_grants(home.state_dir, now))
    allowlist, bad = _host_rules(in_force.allowlist, "allowlist")
    rejected.extend(bad)
    never_inspect, bad = _host_rules(in_force.never_inspect, "never_inspect")
    rejected.extend(bad)
    policy = Policy(
        categories=tuple(categories),
        allowlist=(*(g.rule() for g in grants), *allowlist),
        never_inspect=tuple(never_inspect),
        inspect=tuple(inspect(in_force)) if inspect else (),
    )
    return LoadedRules(
        matcher=Matcher.compile(policy),
        actions=actions,
        rejected=tuple(rejected),
        problems=tuple(problems),
        list_counts=list_counts,
        rule_counts=rule_counts,
        identities=identities,
        sources={
            cat: {r.text: r.source for r in rules} for cat, rules in rules_by_category.items()
        },
        list_hashes=list_hashes,
        settings=settings,
        cooling=cooling,
        grants=grants,
        effective_config=in_force,
        notes=tuple(notes),
    )


def _identities(
    rules_by_category: Mapping[str, Sequence[Rule]], list_counts: Mapping[str, int]
) -> dict[str, frozenset[str]]:
    ids = {cat: {r.text for r in rules} for cat, rules in rules_by_category.items()}
    for name in list_counts:
        category = name.split("/")[1]
        ids.setdefault(category, set()).add(f"{LIST_PREFIX}{name}")
    return {cat: frozenset(texts) for cat, texts in ids.items()}


def _category_policies(
    home: Home,
    actions: Mapping[str, Action],
    rules_by_category: Mapping[str, Sequence[Rule]],
    lists_by_category: Mapping[str, Sequence[CompiledList]],
    pending: Sequence[Pending],
    notes: list[str],
) -> list[CategoryPolicy]:
    """One policy per category, with what the cooling-off delay still holds in force.

    A category whose file was deleted while its removal waits is kept, with its old action.
    """
    names = list(actions)
    names += sorted({p.category for p in pending if p.category and p.category not in actions})
    out = []
    for name in names:
        mine = [p for p in pending if p.category == name]
        desired = actions.get(name)
        action = cooling_off.held_action(name, desired, mine)
        lowered = [p.until for p in mine if p.what == Loosening.ACTION_LOWERED]
        withheld = {p.value for p in mine if p.what == Loosening.EXCEPTION_ADDED}
        removed: dict[Rule, datetime] = {}
        for p in mine:
            if p.what == Loosening.RULE_REMOVED:
                rule = _pending_rule(p)
                if rule is not None:
                    removed[rule] = p.until
        held: list[tuple[CompiledList, datetime]] = []
        for p in mine:
            if p.what == Loosening.LIST_REMOVED:
                kept = load_compiled(home.list_cache_dir, p.source, p.value) if p.source else None
                if kept is None:
                    notes.append(
                        f"The imported list {p.value} was removed and should stay in force until "
                        f"{p.until:%Y-%m-%d %H:%M}, but its compiled copy is gone, so it no "
                        "longer applies. Import it again to keep it."
                    )
                else:
                    held.append((kept, p.until))
        out.append(
            CategoryPolicy(
                name=name,
                action=action,
                rules=tuple(r for r in rules_by_category.get(name, ()) if r.text not in withheld),
                lists=tuple(lists_by_category.get(name, ())),
                held_lists=tuple(held),
                pending=removed,
                action_pending_until=min(lowered) if action != desired and lowered else None,
            )
        )
    return out


def _pending_rule(p: Pending) -> Rule | None:
    try:
        rule = parse_rule(p.value, source=p.source or f"{p.category}.txt")
    except RuleSyntaxError:
        return None
    return rule


def _host_rules(entries: Sequence[str], key: str) -> tuple[list[Rule], list[Rejection]]:
    """Allowlist-style entries: a host or domain each (`=host` for that host only)."""
    rules: list[Rule] = []
    bad: list[Rejection] = []
    for i, text in enumerate(entries, 1):
        where = f"config.toml {key}[{i}]"
        try:
            rule = parse_rule(text, source=where)
        except RuleSyntaxError as exc:
            bad.append(Rejection("config.toml", 0, text, f"{key} entry {i}: {exc}"))
            continue
        if rule is None or rule.kind not in (RuleKind.DOMAIN, RuleKind.EXACT) or rule.exception:
            bad.append(Rejection("config.toml", 0, text, f"{key} entry {i}: must be a host name"))
            continue
        rules.append(rule)
    return rules, bad


def read_applied(home: Home) -> Applied | None:
    """Loosening was last put into force, or None on a fresh home (nothing can have loosened)."""
    try:
        raw = json.loads((home.state_dir / APPLIED_STATE).read_text("utf-8"))
        identities = {cat: frozenset(texts) for cat, texts in raw["identities"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    try:
        settings = Settings.from_json(raw["settings"])
    except (KeyError, TypeError, ValueError, AttributeError):
        settings = None  # written before settings were remembered
    sources = raw.get("sources")
    hashes = raw.get("list_hashes")
    return Applied(
        identities=identities,
        sources=sources if isinstance(sources, dict) else {},
        list_hashes=hashes if isinstance(hashes, dict) else {},
        settings=settings,
    )


def applied_identities(home: Home) -> dict[str, frozenset[str]] | None:
    """The rule set last put into force, or None on a fresh home."""
    applied = read_applied(home)
    return None if applied is None else dict(applied.identities)


def changes_since_applied(home: Home, loaded: LoadedRules) -> list[CategoryChange]:
    """Loosening differs from the rule set last put into force (empty on a fresh home)."""
    before = applied_identities(home)
    if before is None:
        return []
    return diff_identities(before, loaded.identities)


def remember_applied(home: Home, loaded: LoadedRules) -> None:
    """Record `loaded` as the rule set in force, and what still waits.

    Both files are replaced atomically, the waiting list first: a crash in between leaves the
    old applied state, so the next start sees the loosening again and keeps its first clock.
    """
    home.state_dir.mkdir(parents=True, exist_ok=True)
    cooling_off.write_pending(home.state_dir, loaded.pending)
    data = {
        "fingerprint": loaded.matcher.fingerprint,
        "identities": {cat: sorted(texts) for cat, texts in loaded.identities.items()},
        "sources": loaded.sources,
        "list_hashes": loaded.list_hashes,
    }
    if loaded.settings is not None:
        data["settings"] = loaded.settings.as_json()
    path = home.state_dir / APPLIED_STATE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, path)
