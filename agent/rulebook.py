"""Everything the person chose, read from the home and compiled into one matcher snapshot.

The rulebook is the only place that knows where rules live on disk: the person's files in
`rules/`, imported lists in `lists/`, and the allowlist and category actions in `config.toml`.
It also remembers the rule set last put into force, so a rule deleted while Candor was stopped is
still seen as a loosening when it starts again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Config, Home, effective_categories
from agent.imported_lists import compiled, stored_lists
from rules.changes import CategoryChange, diff_identities
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.model import Action, Rejection, Rule, RuleKind
from rules.syntax import RulesFileError, RuleSyntaxError, parse_rule, read_rules_file

APPLIED_STATE = "applied-rules.json"


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """A compiled snapshot and what was wrong while building it."""

    matcher: Matcher
    actions: dict[str, Action]
    rejected: tuple[Rejection, ...] = ()
    problems: tuple[str, ...] = ()
    list_counts: dict[str, int] = field(default_factory=dict)
    rule_counts: dict[str, int] = field(default_factory=dict)

    @property
    def identities(self) -> dict[str, frozenset[str]]:
        """Per category, the canonical text of every rule and `list:<name>` of every list.

        An imported list counts as one rule: updating it is not reported entry by entry.
        """
        ids = {cat: set(texts) for cat, texts in self.matcher.identities().items()}
        for name in self.list_counts:
            category = name.split("/")[1]
            ids.setdefault(category, set()).add(f"list:{name}")
        return {cat: frozenset(texts) for cat, texts in ids.items()}


def rules_file(home: Home, category: str) -> Path:
    return home.rules_dir / f"{category}.txt"


def categories_on_disk(home: Home) -> list[str]:
    """Categories that have a rules file or an imported list."""
    names = {p.stem for p in home.rules_dir.glob("*.txt")} if home.rules_dir.is_dir() else set()
    names.update(s.meta.category for s in stored_lists(home.lists_dir))
    return sorted(names)


def load_rules(home: Home, config: Config, inspect: Sequence[Rule] = ()) -> LoadedRules:
    """Read and compile everything; bad lines are collected, never fatal.

    `inspect` names hosts the agent needs decrypted whatever the rules say (SafeSearch engines).
    """
    actions = effective_categories(config, categories_on_disk(home))
    rejected: list[Rejection] = []
    problems: list[str] = []
    lists_by_category: dict[str, list] = {name: [] for name in actions}
    list_counts: dict[str, int] = {}
    for stored in stored_lists(home.lists_dir):
        try:
            built = compiled(stored, home.list_cache_dir)
        except OSError as exc:
            problems.append(f"{stored.data_path}: cannot read this imported list ({exc.strerror}).")
            continue
        lists_by_category.setdefault(stored.meta.category, []).append(built)
        list_counts[stored.source_name] = built.stats.accepted
    categories = []
    rule_counts: dict[str, int] = {}
    for name, action in actions.items():
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
        categories.append(
            CategoryPolicy(
                name=name,
                action=action,
                rules=tuple(rules),
                lists=tuple(lists_by_category.get(name, ())),
            )
        )
    allowlist, bad = _host_rules(config.allowlist, "allowlist")
    rejected.extend(bad)
    never_inspect, bad = _host_rules(config.never_inspect, "never_inspect")
    rejected.extend(bad)
    policy = Policy(
        categories=tuple(categories),
        allowlist=tuple(allowlist),
        never_inspect=tuple(never_inspect),
        inspect=tuple(inspect),
    )
    return LoadedRules(
        matcher=Matcher.compile(policy),
        actions=actions,
        rejected=tuple(rejected),
        problems=tuple(problems),
        list_counts=list_counts,
        rule_counts=rule_counts,
    )


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


def applied_identities(home: Home) -> dict[str, frozenset[str]] | None:
    """The rule set last put into force, or None on a fresh home."""
    try:
        raw = json.loads((home.state_dir / APPLIED_STATE).read_text("utf-8"))
        return {cat: frozenset(texts) for cat, texts in raw["identities"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def changes_since_applied(home: Home, loaded: LoadedRules) -> list[CategoryChange]:
    """What differs from the rule set last put into force (empty on a fresh home)."""
    before = applied_identities(home)
    if before is None:
        return []
    return diff_identities(before, loaded.identities)


def remember_applied(home: Home, loaded: LoadedRules) -> None:
    """Record `loaded` as the rule set in force (atomic, so a crash keeps the old record)."""
    home.state_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "fingerprint": loaded.matcher.fingerprint,
        "identities": {cat: sorted(texts) for cat, texts in loaded.identities.items()},
    }
    path = home.state_dir / APPLIED_STATE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, path)
