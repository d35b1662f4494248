"""Everything the person chose, read from the home and compiled into one matcher snapshot.

The rulebook is the only place that knows where rules live on disk: the person's files in
`rules/`, imported lists in `lists/`, and the allowlist and category actions in `config.toml`.
It compares them with the rule set last put into force, as the journal records it
(`agent.policy.ledger`), so a rule deleted or a list replaced while Candor was stopped is still
seen as a loosening when it starts again, and it applies the cooling-off delay
(`agent.policy.cooling_off`) and temporary allows (`agent.policy.temporary_allow`) wherever rules
are loaded: the agent, `candor rules test` and `candor status` see the same rules in force.
`commit` journals what a load put into force, before it takes effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config, Home, effective_categories
from agent.journal import clock
from agent.journal.clock import Uptime
from agent.journal.loosening import Loosening
from agent.policy import cooling_off
from agent.policy.cooling_off import (
    LIST_PREFIX,
    Applied,
    ListChange,
    Moment,
    Pending,
    Plan,
    Settings,
    held_recognition,
    list_exception_identity,
)
from agent.policy.elapsed import ElapsedClock
from agent.policy.imported_lists import compiled, stored_lists
from agent.policy.ledger import (
    ConfigRecord,
    Ledger,
    body_digest,
    heartbeats,
    read_ledger,
    snapshot,
)
from agent.policy.list_cache import keep_fresh
from agent.policy.own_rules import (
    cached_form_missing,
    form_changes,
    is_own_list,
    read_own_rules,
    removed_from,
)
from agent.policy.temporary_allow import Grant
from rules.changes import CategoryChange, diff_identities
from rules.compiled_list import CompiledList, entries_missing, load_compiled
from rules.help_sites import help_site_rules
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.model import Action, Rejection, Rule, RuleKind
from rules.syntax import RulesFileError, RuleSyntaxError, parse_rule

if TYPE_CHECKING:
    from agent.journal.events import EventBody
    from agent.journal.store import Journal

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
    grant_ends: tuple[datetime, ...] = ()
    """When each of `grants` ends (by the wall clock or, sooner, by real time)."""
    effective_config: Config | None = None
    """The configuration in force: the loaded one with the stricter values still waiting."""
    notes: tuple[str, ...] = ()
    """Things the person should know that do not stop a reload (a kept list went missing)."""
    list_changes: tuple[ListChange, ...] = ()
    """Imported lists whose content differs from the version put into force."""
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per imported list: category, hash, entries and `@@` exceptions, as journaled."""
    ledger: Ledger = field(default_factory=Ledger)
    """What the journal said was in force when these rules were loaded."""
    held_gone: tuple[Pending, ...] = ()
    """Removed or shortened lists that should still be in force but whose compiled copy is
    gone (the agent journals each once as `bypass_suspected`)."""
    baseline: dict[str, frozenset[str]] | None = None
    """The applied identities these rules were compared with, when a rules file changed form
    (`agent.policy.own_rules.form_changes`); None: the applied identities themselves."""

    @property
    def pending(self) -> tuple[Pending, ...]:
        """The loosenings the cooling-off delay still holds back."""
        return self.cooling.pending

    @property
    def next_deadline(self) -> datetime | None:
        """When something waiting or granted next ends, so the agent reloads then."""
        times = [self.cooling.due_of(p) for p in self.cooling.pending]
        times += list(self.grant_ends) or [g.until for g in self.grants]
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
    uptime: Uptime | None = None,
    ledger: Ledger | None = None,
    elapsed: ElapsedClock | None = None,
    with_grants: bool = True,
) -> LoadedRules:
    """Read and compile everything; bad lines are collected, never fatal.

    `inspect` names, for the settings in force, hosts the agent needs decrypted whatever the
    rules say (SafeSearch engines while SafeSearch or search capture is on). What was in force
    comes from `ledger` (the agent's, kept in memory) or else from the journal. Loosenings the
    cooling-off delay holds back stay in force, and temporary allows are added (unless
    `with_grants` is false); nothing is written (see `commit`), so a command that only looks
    starts no clock.
    """
    moment = Moment(
        now or clock.now(),
        uptime or clock.uptime(),
        elapsed or ElapsedClock(heartbeats(home.journal_file)),
    )
    ledger = ledger if ledger is not None else read_ledger(home)
    actions = effective_categories(config, categories_on_disk(home))
    found = _Found()
    lists_by_category: dict[str, list[CompiledList]] = {name: [] for name in actions}
    for stored in stored_lists(home.lists_dir):
        if not stored.has_data:  # a subscription waiting for its first download
            continue
        try:
            built = compiled(stored, home.list_cache_dir)
        except OSError as exc:
            found.problems.append(
                f"{stored.data_path}: cannot read this imported list ({exc.strerror})."
            )
            continue
        lists_by_category.setdefault(stored.meta.category, []).append(built)
    rules_by_category, rule_counts, own = _read_own_files(home, actions, found)
    for category, own_list in own.items():
        lists_by_category.setdefault(category, []).append(own_list)
    lists = _list_facts(lists_by_category)
    identities = _identities(rules_by_category, lists)
    settings = Settings.of(config, actions)
    list_hashes = {name: str(info["hash"]) for name, info in lists.items()}
    baseline, shrunk = form_changes(ledger.applied, rules_by_category, own, home.list_cache_dir)
    changed = (*_list_changes(home, ledger.applied, lists_by_category), *shrunk)
    compared = ledger.applied
    if compared is not None and baseline is not None:
        compared = replace(compared, identities=baseline)
    cooling = cooling_off.plan(
        moment, compared, ledger.pending, identities, settings, changed, list_hashes
    )
    built_policy = _assemble(
        home,
        config,
        inspect,
        _Inputs(actions, rules_by_category, lists_by_category, cooling),
        tuple(g for g in ledger.grants if g.active(moment)) if with_grants else (),
        found,
    )
    return LoadedRules(
        matcher=Matcher.compile(built_policy.policy),
        actions=actions,
        rejected=tuple(found.rejected),
        problems=tuple(found.problems),
        list_counts={name: int(info["entries"]) for name, info in lists.items()},
        rule_counts=rule_counts,
        identities=identities,
        sources={
            cat: {r.text: r.source for r in rules} for cat, rules in rules_by_category.items()
        },
        list_hashes=list_hashes,
        settings=settings,
        cooling=cooling,
        grants=built_policy.grants,
        grant_ends=tuple(g.ends(moment) for g in built_policy.grants),
        effective_config=built_policy.in_force,
        notes=tuple(found.notes),
        list_changes=changed,
        lists=lists,
        ledger=ledger,
        held_gone=built_policy.gone,
        baseline=baseline,
    )


def applied_rules(
    home: Home,
    config: Config,
    inspect: InspectFor | None = None,
    *,
    ledger: Ledger,
    now: datetime | None = None,
    uptime: Uptime | None = None,
) -> LoadedRules | None:
    """The rules the journal's newest `rules_applied` row put in force, rebuilt from that row
    alone: its rule texts, its settings, what it says waits, and the compiled copies of its
    lists and large rules files found under the hashes it names (each checked against its
    checksums). The agent serves these while a fresh build runs.

    The journal is the only source: nothing on disk but those compiled copies is read, and
    None is returned when one is missing or damaged, or when the row is not the journal's own
    (bridged from old state files): then the agent builds first, as it always did. What waits
    stays held even if its wait has ended, since its row is written with the fresh build.
    """
    applied = ledger.applied
    if applied is None or applied.settings is None or ledger.bridged:
        return None
    rules_by_category: dict[str, list[Rule]] = {}
    for category, texts in applied.sources.items():
        try:
            parsed = [parse_rule(text, source=where) for text, where in texts.items()]
        except RuleSyntaxError:
            return None
        rules_by_category[category] = [r for r in parsed if r is not None]
    actions = dict(applied.settings.actions)
    lists_by_category: dict[str, list[CompiledList]] = {name: [] for name in actions}
    for category, texts in applied.identities.items():
        for name in sorted(t[len(LIST_PREFIX) :] for t in texts if t.startswith(LIST_PREFIX)):
            kept = load_compiled(home.list_cache_dir, applied.list_hashes.get(name, ""), name)
            if kept is None:
                return None
            lists_by_category.setdefault(category, []).append(kept)
    moment = Moment(now or clock.now(), uptime or clock.uptime(), ElapsedClock())
    cooling = Plan(pending=ledger.pending)
    found = _Found()
    built = _assemble(
        home,
        _config_applied(config, applied.settings),
        inspect,
        _Inputs(actions, rules_by_category, lists_by_category, cooling),
        tuple(g for g in ledger.grants if g.active(moment)),
        found,
    )
    lists = _list_facts(lists_by_category)
    return LoadedRules(
        matcher=Matcher.compile(built.policy),
        actions=actions,
        rejected=tuple(found.rejected),
        list_counts={name: int(info["entries"]) for name, info in lists.items()},
        rule_counts={cat: len(rules) for cat, rules in rules_by_category.items()},
        identities=dict(applied.identities),
        sources={cat: dict(texts) for cat, texts in applied.sources.items()},
        list_hashes=dict(applied.list_hashes),
        settings=applied.settings,
        cooling=cooling,
        grants=built.grants,
        grant_ends=tuple(g.ends(moment) for g in built.grants),
        effective_config=built.in_force,
        lists=lists,
        ledger=ledger,
    )


def _config_applied(config: Config, settings: Settings) -> Config:
    """`config` with the settings that loosen or tighten as they were applied (an edit made
    while Candor was stopped is journaled, and takes effect, with the fresh build)."""
    return config.model_copy(
        update={
            "allowlist": sorted(settings.allowlist),
            "never_inspect": sorted(settings.never_inspect),
            "safesearch": config.safesearch.model_copy(update={"enabled": settings.safesearch}),
            "search_capture": config.search_capture.model_copy(
                update={"enabled": settings.search_capture}
            ),
            "cooling_off": settings.cooling_off,
        }
    )


def needs_compiling(home: Home) -> bool:
    """Whether loading the rules now means compiling a large rules file of the person's own
    (changed since it was last compiled, or its compiled copy is gone): the slow case the
    agent opens its port for first, with `applied_rules`."""
    if not home.rules_dir.is_dir():
        return False
    return any(
        cached_form_missing(path, path.stem, home.list_cache_dir)
        for path in sorted(home.rules_dir.glob("*.txt"))
    )


@dataclass(slots=True)
class _Found:
    """What was wrong while reading, and what the person should know."""

    rejected: list[Rejection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """The rules a snapshot is compiled from, and what the cooling-off delay holds."""

    actions: dict[str, Action]
    rules: dict[str, list[Rule]]
    lists: dict[str, list[CompiledList]]
    cooling: Plan


@dataclass(frozen=True, slots=True)
class _Assembled:
    """A policy ready to compile, and what went into it."""

    policy: Policy
    in_force: Config
    grants: tuple[Grant, ...]
    gone: tuple[Pending, ...]


def _assemble(
    home: Home,
    config: Config,
    inspect: InspectFor | None,
    inputs: _Inputs,
    grants: tuple[Grant, ...],
    found: _Found,
) -> _Assembled:
    """The policy in force: the rules and lists with what the cooling-off delay holds back
    and keeps, the settings still held, and the temporary allows."""
    cooling = inputs.cooling
    shown = [replace(p, until=cooling.due_of(p)) for p in cooling.pending]
    gone: list[Pending] = []
    categories = _category_policies(home, inputs.actions, inputs.rules, inputs.lists, shown, gone)
    categories = [_recognising(c, config.recognises(c.name), shown) for c in categories]
    found.notes.extend(held_list_gone_words(p) for p in gone)
    in_force = cooling_off.effective_config(config, cooling.pending)
    allowlist, bad = _host_rules(in_force.allowlist, "allowlist")
    found.rejected.extend(bad)
    never_inspect, bad = _host_rules(in_force.never_inspect, "never_inspect")
    found.rejected.extend(bad)
    policy = Policy(
        categories=tuple(categories),
        allowlist=(*(g.rule() for g in grants), *allowlist),
        never_inspect=tuple(never_inspect),
        inspect=tuple(inspect(in_force)) if inspect else (),
        help_sites=help_site_rules(),
    )
    return _Assembled(policy, in_force, grants, tuple(gone))


def _read_own_files(
    home: Home, actions: Mapping[str, Action], found: _Found
) -> tuple[dict[str, list[Rule]], dict[str, int], dict[str, CompiledList]]:
    """Each category's rules file: its rules, how many, and the compiled hosts of a large one."""
    rules_by_category: dict[str, list[Rule]] = {}
    rule_counts: dict[str, int] = {}
    own: dict[str, CompiledList] = {}
    for name in actions:
        path = rules_file(home, name)
        rules: list[Rule] = []
        count = 0
        if path.exists():
            try:
                read = read_own_rules(path, name, home.list_cache_dir)
            except RulesFileError as exc:
                found.problems.append(str(exc))
            else:
                rules = read.parsed.rules
                found.rejected.extend(read.parsed.rejected)
                count = read.count
                if read.compiled is not None:
                    own[name] = read.compiled
        rule_counts[name] = count
        rules_by_category[name] = rules
    return rules_by_category, rule_counts, own


def _list_facts(lists_by_category: Mapping[str, Sequence[CompiledList]]) -> dict[str, dict]:
    """Per imported list what the journal keeps: category, hash, entries, `@@` exceptions."""
    facts: dict[str, dict[str, Any]] = {}
    for category, built in lists_by_category.items():
        for cl in built:
            facts[cl.name] = {
                "category": category,
                "hash": cl.source_hash,
                "entries": cl.stats.accepted,
                "exceptions": sorted(
                    list_exception_identity(r.text, cl.name) for r in cl.exceptions
                ),
            }
    return facts


def _list_changes(
    home: Home, applied: Applied | None, lists_by_category: Mapping[str, Sequence[CompiledList]]
) -> list[ListChange]:
    """Imported lists whose content differs from the version put into force, and what they lost
    (compared with the old version's compiled copy, kept in the cache)."""
    if applied is None:
        return []
    out: list[ListChange] = []
    for category, built in lists_by_category.items():
        for new in built:
            old_hash = applied.list_hashes.get(new.name)
            if not old_hash or old_hash == new.source_hash:
                continue
            old = load_compiled(home.list_cache_dir, old_hash, new.name)
            before = applied.list_counts.get(new.name) or (old.stats.accepted if old else 0)
            out.append(
                ListChange(
                    name=new.name,
                    category=category,
                    old_hash=old_hash,
                    new_hash=new.source_hash,
                    before=before,
                    after=new.stats.accepted,
                    removed=entries_missing(old, new) if old else None,
                    added=entries_missing(new, old) if old else None,
                    removed_rules=removed_from(old, new) if old and is_own_list(new.name) else (),
                )
            )
    return out


def _identities(
    rules_by_category: Mapping[str, Sequence[Rule]], lists: Mapping[str, Mapping[str, Any]]
) -> dict[str, frozenset[str]]:
    ids = {cat: {r.text for r in rules} for cat, rules in rules_by_category.items()}
    for name, info in lists.items():
        texts = ids.setdefault(str(info["category"]), set())
        texts.add(f"{LIST_PREFIX}{name}")
        texts.update(info["exceptions"])
    return {cat: frozenset(texts) for cat, texts in ids.items()}


def _category_policies(
    home: Home,
    actions: Mapping[str, Action],
    rules_by_category: Mapping[str, Sequence[Rule]],
    lists_by_category: Mapping[str, Sequence[CompiledList]],
    pending: Sequence[Pending],
    gone: list[Pending],
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
        withheld = {p.value: p.until for p in mine if p.what == Loosening.EXCEPTION_ADDED}
        removed: dict[Rule, datetime] = {}
        for p in mine:
            if p.what == Loosening.RULE_REMOVED:
                rule = _pending_rule(p)
                if rule is not None:
                    removed[rule] = p.until
        held = _held_lists(home, mine, gone)
        waiting: dict[Rule, datetime] = {}
        lists = tuple(
            _without_exceptions(cl, withheld, waiting) for cl in lists_by_category.get(name, ())
        )
        rules = []
        for rule in rules_by_category.get(name, ()):
            if rule.text in withheld:
                waiting[rule] = withheld[rule.text]
            else:
                rules.append(rule)
        out.append(
            CategoryPolicy(
                name=name,
                action=action,
                rules=tuple(rules),
                lists=lists,
                held_lists=tuple(held),
                waiting_exceptions=waiting,
                pending=removed,
                action_pending_until=min(lowered) if action != desired and lowered else None,
            )
        )
    return out


def _recognising(
    category: CategoryPolicy, wanted: bool, pending: Sequence[Pending]
) -> CategoryPolicy:
    """The category with the name recogniser on if wanted, or while its turning off waits."""
    on = held_recognition(category.name, wanted, pending)
    waits = [
        p.until
        for p in pending
        if p.what == Loosening.RECOGNISER_OFF and p.category == category.name and not wanted
    ]
    return replace(category, recognise=on, recognise_pending_until=min(waits, default=None))


def _held_lists(
    home: Home, pending: Sequence[Pending], gone: list[Pending]
) -> list[tuple[CompiledList, datetime]]:
    """The old versions of removed or shortened lists the cooling-off keeps in force, from their
    compiled copies; a copy that is gone is added to `gone`."""
    held: list[tuple[CompiledList, datetime]] = []
    for p in pending:
        if p.what not in (Loosening.LIST_REMOVED, Loosening.LIST_SHORTENED):
            continue
        kept = load_compiled(home.list_cache_dir, p.source, p.value) if p.source else None
        if kept is None:
            gone.append(p)
            continue
        keep_fresh(home.list_cache_dir, p.source, p.value)
        held.append((kept, p.until))
    return held


def held_list_gone_words(p: Pending) -> str:
    """What the person reads when a list version held in force has lost its compiled copy."""
    how = "removed" if p.what == Loosening.LIST_REMOVED else "shortened"
    return (
        f"The imported list {p.value} was {how} and its old version should stay in force until "
        f"{p.until:%Y-%m-%d %H:%M}, but its compiled copy is gone, so it no longer applies. "
        "Import it again to keep it."
    )


def _without_exceptions(
    cl: CompiledList, withheld: Mapping[str, datetime], waiting: dict[Rule, datetime]
) -> CompiledList:
    """`cl` without the `@@` exceptions whose cooling-off wait is not over (added to
    `waiting`, with the time each takes effect)."""
    kept = []
    for rule in cl.exceptions:
        until = withheld.get(list_exception_identity(rule.text, cl.name))
        if until is None:
            kept.append(rule)
        else:
            waiting[rule] = until
    return cl if len(kept) == len(cl.exceptions) else replace(cl, exceptions=tuple(kept))


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


def applied_of(loaded: LoadedRules) -> Applied:
    """What `loaded` puts into force, as the ledger keeps it."""
    return Applied(
        identities=dict(loaded.identities),
        sources=loaded.sources,
        list_hashes=dict(loaded.list_hashes),
        settings=loaded.settings,
        list_counts=dict(loaded.list_counts),
    )


def changes_since_applied(loaded: LoadedRules) -> list[CategoryChange]:
    """Loosening differs from the rule set last put into force (empty on a fresh home)."""
    applied = loaded.ledger.applied
    if applied is None:
        return []
    return diff_identities(compared_identities(loaded, applied.identities), loaded.identities)


def compared_identities(
    loaded: LoadedRules, applied: Mapping[str, frozenset[str]]
) -> Mapping[str, frozenset[str]]:
    """What `loaded` is compared with: `applied`, or the `baseline` when a rules file of the
    person's own changed form (its host rules moved into or out of its compiled copy)."""
    return loaded.baseline if loaded.baseline is not None else applied


def commit(
    journal: Journal,
    loaded: LoadedRules,
    events: Sequence[EventBody] = (),
    config: ConfigRecord | None = None,
) -> Ledger:
    """Journal `events` and, if it changed, the applied state `loaded` puts into force, in one
    transaction; return the ledger that now holds. Call it before `loaded` takes effect: if
    the journal cannot be written this raises, and nothing has loosened."""
    from agent.journal.store import draft_of

    row = snapshot(
        loaded.matcher.fingerprint,
        loaded.sources,
        loaded.lists,
        loaded.settings,
        loaded.pending,
        config,
    )
    digest = body_digest(row.as_body())
    rows = [*events] + ([row] if digest != loaded.ledger.digest else [])
    journal.append_drafts([draft_of(event, None, journal.clock) for event in rows])
    return replace(ledger_after(loaded), digest=digest)


def ledger_after(loaded: LoadedRules) -> Ledger:
    """The ledger once `loaded` is in force (what `commit` journals)."""
    return replace(loaded.ledger, applied=applied_of(loaded), pending=loaded.pending, bridged=False)


def remember_applied(home: Home, loaded: LoadedRules, events: Sequence[EventBody] = ()) -> Ledger:
    """`commit` on the home's journal, then mirror the new ledger into the `state/` caches."""
    from agent.journal.store import Journal
    from agent.policy.state_cache import write_caches

    with Journal(home.journal_file) as journal:
        ledger = commit(journal, loaded, events)
    write_caches(
        home.state_dir, ledger.applied, ledger.pending, ledger.grants, loaded.matcher.fingerprint
    )
    return ledger
