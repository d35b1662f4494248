"""Loosening waits; tightening does not.

A cooling-off delay is a commitment the person makes to themselves: when they remove a rule,
add an exception or an allowlist entry, lower a category's action, turn SafeSearch off or
shorten the delay itself, the stricter behaviour stays in force until the delay has passed. A
hard moment passes; the change still happens if it was meant.

This module is the bookkeeping, kept apart from the matcher: `plan` compares what is on disk now
with what was last put into force and with what is already waiting, both as the journal records
them (`agent.policy.ledger`), and returns what must still be enforced and until when. The clock
of a change starts when Candor first sees it: at the agent's reload, or at its next start for an
edit made while it was stopped. A wait ends when both the wall clock and the computer's uptime
say it is over (`agent.policy.elapsed`), so a clock set forward ends nothing early. Undoing a
loosening (re-adding the rule) simply cancels it; a further loosening of a setting that is
already waiting (block → warn, then warn → off) restarts its wait. The detail level and consent
are not here: sharing less is never delayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.config import Config, format_duration
from agent.journal.clock import Uptime
from agent.journal.loosening import Loosening, loosening_words
from agent.policy.elapsed import Anchor, ElapsedClock, anchor_of
from rules.changes import diff_identities, is_exception
from rules.model import STRENGTH, Action

PENDING_STATE = "pending.json"
LIST_PREFIX = "list:"
"""How an imported list appears among a category's rule identities (`list:lists/adult/foo`)."""


def list_exception_identity(rule_text: str, list_name: str) -> str:
    """How an imported list's `@@` exception appears among its category's rule identities:
    `@@||x.test^ (from lists/adult/foo)`. It starts with `@@`, so adding one loosens."""
    return f"{rule_text} (from {list_name})"


RULE_WHATS = (
    Loosening.RULE_REMOVED,
    Loosening.EXCEPTION_ADDED,
    Loosening.LIST_REMOVED,
    Loosening.LIST_SHORTENED,
)
"""Loosenings of a category's rules; the others are settings in config.toml."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings that loosen or tighten, as one comparable value."""

    actions: Mapping[str, Action]
    allowlist: frozenset[str] = frozenset()
    never_inspect: frozenset[str] = frozenset()
    safesearch: bool = True
    search_capture: bool = True
    cooling_off: timedelta = timedelta(0)
    report_timezone: str | None = None
    listen: str | None = None
    """Neither loosens or tightens, but both are journaled when they change: the time zone
    decides which hours a report names, the address is where the self-check looks for Candor.
    None in a record written before they were kept."""
    anchors: bool | None = None
    """Whether hourly time anchors are on: journaled when it changes, and the report says so.
    None in a record written before it was kept."""
    recognised: frozenset[str] | None = None
    """The categories whose host names the name recogniser reads (`recognise`, on by default).
    None in a record written before it was kept."""

    @classmethod
    def of(cls, config: Config, actions: Mapping[str, Action]) -> Settings:
        """The settings that loosen or tighten, read from a config and its category actions."""
        return cls(
            actions=dict(actions),
            allowlist=frozenset(config.allowlist),
            never_inspect=frozenset(config.never_inspect),
            safesearch=config.safesearch.enabled,
            search_capture=config.search_capture.enabled,
            cooling_off=config.cooling_off,
            report_timezone=config.report.timezone,
            listen=config.agent.listen,
            anchors=config.anchors.enabled,
            recognised=frozenset(name for name in actions if config.recognises(name)),
        )

    def as_json(self) -> dict[str, Any]:
        """The settings as the journal (and the applied-state cache) keep them."""
        return {
            "report_timezone": self.report_timezone,
            "listen": self.listen,
            "actions": dict(sorted(self.actions.items())),
            "allowlist": sorted(self.allowlist),
            "never_inspect": sorted(self.never_inspect),
            "safesearch": self.safesearch,
            "search_capture": self.search_capture,
            "cooling_off_seconds": int(self.cooling_off.total_seconds()),
            "anchors": self.anchors,
            "recognised": sorted(self.recognised) if self.recognised is not None else None,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Settings:
        """Settings read back from the applied-state file."""
        return cls(
            actions={str(k): v for k, v in raw["actions"].items() if v in STRENGTH},
            allowlist=frozenset(raw["allowlist"]),
            never_inspect=frozenset(raw["never_inspect"]),
            safesearch=bool(raw["safesearch"]),
            search_capture=bool(raw["search_capture"]),
            cooling_off=timedelta(seconds=int(raw["cooling_off_seconds"])),
            report_timezone=_text_or_none(raw.get("report_timezone")),
            listen=_text_or_none(raw.get("listen")),
            anchors=raw["anchors"] if isinstance(raw.get("anchors"), bool) else None,
            recognised=_names_or_none(raw.get("recognised")),
        )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _names_or_none(value: Any) -> frozenset[str] | None:
    return frozenset(map(str, value)) if isinstance(value, list) else None


@dataclass(frozen=True, slots=True)
class Applied:
    """Loosening was last put into force, as it was on disk then."""

    identities: Mapping[str, frozenset[str]]
    sources: Mapping[str, Mapping[str, str]]
    """Per category, rule text → where it was (`adult.txt:12`), to name a rule kept in force."""
    list_hashes: Mapping[str, str]
    """Imported list name → its content hash: the compiled cache a removed list is kept from."""
    settings: Settings | None
    """None in a record written before settings were remembered."""
    list_counts: Mapping[str, int] = field(default_factory=dict)
    """Imported list name → its entries when applied (0 when not recorded)."""


@dataclass(frozen=True, slots=True)
class ListChange:
    """An imported list whose content differs from the version put into force."""

    name: str
    category: str
    old_hash: str
    new_hash: str
    before: int
    after: int
    removed: int | None
    """Entries of the old version the new one lacks; None when the old version is gone."""
    added: int | None = None
    removed_rules: tuple[str, ...] = ()
    """For a large rules file of the person's own (`rules/adult.txt`): the host rules it lost,
    named (up to a limit), as a small file's removed rules are."""

    def as_json(self) -> dict[str, Any]:
        """The change as a `rules_changed` entry lists it."""
        out: dict[str, Any] = {
            "list": self.name,
            "entries_before": self.before,
            "entries_after": self.after,
            "entries_removed": self.removed,
            "entries_added": self.added,
        }
        if self.removed_rules:
            out["rules_removed"] = list(self.removed_rules)
        return out


@dataclass(frozen=True, slots=True)
class Moment:
    """One look at the rules: the wall clock, the uptime clock, and real time since anchors."""

    wall: datetime
    uptime: Uptime
    elapsed: ElapsedClock = field(default_factory=ElapsedClock)

    def remaining(self, p: Pending) -> float:
        """Real seconds `p` must still wait (0 for a record from before uptime was kept)."""
        anchor = p.anchor
        if anchor is None or p.seconds is None:
            return 0.0
        passed = self.elapsed.since(anchor, self.uptime, self.wall.timestamp())
        return max(0.0, p.seconds - passed)

    def due(self, p: Pending) -> datetime:
        """When `p` ends: its time on the wall clock, or later if less real time has passed."""
        return max(p.until, self.wall + timedelta(seconds=self.remaining(p)))


@dataclass(frozen=True, slots=True)
class Pending:
    """One loosening that is waiting, and what stays in force until `until`."""

    what: Loosening
    category: str | None
    value: str
    """The rule text, list name or host; empty for a setting."""
    held: str
    """The stricter value kept in force: an action (for a removed rule or list, the action of
    its category then) or the delay in seconds."""
    since: datetime
    until: datetime
    source: str = ""
    """Where a removed rule was, so the block page can still name it; for a removed or
    shortened list, the content hash of the version kept, which finds its compiled copy."""
    boot_id: str | None = None
    uptime: float | None = None
    """The computer's boot and uptime when the wait started (None in older records)."""
    seconds: float | None = None
    """The real time the wait lasts, measured from (`boot_id`, `uptime`)."""
    entries_removed: int | None = None
    entries_before: int | None = None
    """For a shortened list: how many of its entries the new version lacks, and had before."""

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What makes two waiting loosenings the same one."""
        if self.what == Loosening.LIST_SHORTENED:
            return (self.what, self.category, f"{self.value}#{self.source}")
        return (self.what, self.category, self.value)

    @property
    def anchor(self) -> Anchor | None:
        """Where the wait's real time is measured from (None in older records)."""
        if self.uptime is None:
            return None
        return Anchor(self.boot_id, self.uptime, self.since.timestamp())

    def started(self, at: datetime, uptime: Uptime, delay: timedelta) -> Pending:
        """This loosening, waiting `delay` from `at`."""
        anchor = anchor_of(uptime, at)
        return replace(
            self,
            since=at,
            until=at + delay,
            boot_id=anchor.boot_id,
            uptime=anchor.uptime,
            seconds=delay.total_seconds(),
        )

    def describe(self) -> str:
        """Loosening will happen when the wait ends, in the words every part of Candor uses."""
        words = loosening_words(self.what, self.category, self.value)
        if self.what == Loosening.LIST_SHORTENED and self.entries_removed:
            of = f" of its {self.entries_before:,}" if self.entries_before else ""
            words += f" (it lost {self.entries_removed:,}{of} entries)"
        return words

    def as_json(self) -> dict[str, Any]:
        """The loosening as the journal, the pending cache and `candor status --json` keep it."""
        out: dict[str, Any] = {
            "what": str(self.what),
            "category": self.category,
            "value": self.value,
            "held": self.held,
            "source": self.source,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }
        optional = {
            "boot_id": self.boot_id,
            "uptime": self.uptime,
            "seconds": self.seconds,
            "entries_removed": self.entries_removed,
            "entries_before": self.entries_before,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Pending:
        """A waiting loosening read back from the journal (or an old pending file)."""

        def number(key: str) -> float | None:
            value = raw.get(key)
            return float(value) if isinstance(value, int | float) else None

        def count(key: str) -> int | None:
            value = raw.get(key)
            return value if isinstance(value, int) else None

        boot_id = raw.get("boot_id")
        return cls(
            what=Loosening(raw["what"]),
            category=raw.get("category"),
            value=str(raw.get("value", "")),
            held=str(raw.get("held", "")),
            since=datetime.fromisoformat(raw["since"]),
            until=datetime.fromisoformat(raw["until"]),
            source=str(raw.get("source", "")),
            boot_id=boot_id if isinstance(boot_id, str) else None,
            uptime=number("uptime"),
            seconds=number("seconds"),
            entries_removed=count("entries_removed"),
            entries_before=count("entries_before"),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of one look at the rules: what waits, what just took effect, what was undone."""

    pending: tuple[Pending, ...] = ()
    ended: tuple[Pending, ...] = ()
    """Waited long enough: the loosening applies from now on."""
    cancelled: tuple[Pending, ...] = ()
    """Undone before it applied (the rule was added back, the setting raised again)."""
    new: tuple[Pending, ...] = ()
    """First seen now (also in `pending`)."""
    due: Mapping[tuple[str, str | None, str], datetime] = field(default_factory=dict)
    """When each waiting loosening really ends (later than its `until` if the wall clock ran
    ahead of the computer's uptime)."""

    def due_of(self, p: Pending) -> datetime:
        """When `p` really ends."""
        return self.due.get(p.key, p.until)

    def of(self, what: Loosening, category: str | None = None) -> list[Pending]:
        """The waiting loosenings of one kind (and category)."""
        return [p for p in self.pending if p.what == what and p.category == category]


def plan(
    now: Moment,
    applied: Applied | None,
    before: Sequence[Pending],
    identities: Mapping[str, frozenset[str]],
    settings: Settings,
    lists: Sequence[ListChange] = (),
    list_hashes: Mapping[str, str] | None = None,
) -> Plan:
    """Loosening stays stricter than the files say, given what was in force and what already waits.

    `identities`, `settings`, `list_hashes` (and `lists`, the imported lists whose content
    changed) describe the files now. With no applied state (a fresh home) nothing can have
    loosened. A wait is over once both the wall clock and the uptime clock have passed it.
    """
    hashes = list_hashes or {}
    ended = tuple(p for p in before if p.until <= now.wall and now.remaining(p) == 0)
    live = [p for p in before if p not in ended]
    kept = [p for p in live if _still_loosening(p, identities, settings, hashes)]
    cancelled = tuple(p for p in live if p not in kept)
    delay = effective_delay(settings, kept)
    if applied is not None and applied.settings is not None:
        delay = max(delay, applied.settings.cooling_off)  # the delay in force until now
    new: list[Pending] = []
    if applied is not None and delay > timedelta(0):
        by_key = {p.key: p for p in kept}
        for found in _loosenings(applied, identities, settings, kept, lists):
            existing = by_key.get(found.key)
            if existing is None:
                item = found.started(now.wall, now.uptime, delay)
                new.append(item)
                by_key[item.key] = item
            elif existing.what in _SETTINGS_THAT_RESTART:
                # A further loosening of a setting already waiting: the wait starts again.
                by_key[found.key] = existing.started(now.wall, now.uptime, delay)
        kept = list(by_key.values())
    return Plan(
        pending=tuple(sorted(kept, key=_order)),
        ended=ended,
        cancelled=cancelled,
        new=tuple(new),
        due={p.key: now.due(p) for p in kept},
    )


_SETTINGS_THAT_RESTART = (Loosening.ACTION_LOWERED, Loosening.COOLING_OFF_SHORTENED)


def effective_delay(settings: Settings, pending: Iterable[Pending]) -> timedelta:
    """The delay in force: a shortened delay keeps its old length until its own wait ends."""
    delay = settings.cooling_off
    for p in pending:
        if p.what == Loosening.COOLING_OFF_SHORTENED:
            delay = max(delay, timedelta(seconds=int(p.held)))
    return delay


def effective_config(config: Config, pending: Sequence[Pending]) -> Config:
    """`config` with the stricter values still in force (category actions are in the policy)."""
    whats = {p.what for p in pending}
    if not whats & _CONFIG_WHATS:
        return config
    withheld_allow = {p.value for p in pending if p.what == Loosening.ALLOWLIST_ADDED}
    withheld_never = {p.value for p in pending if p.what == Loosening.NEVER_INSPECT_ADDED}
    update: dict[str, Any] = {
        "allowlist": [h for h in config.allowlist if h not in withheld_allow],
        "never_inspect": [h for h in config.never_inspect if h not in withheld_never],
        "cooling_off": effective_delay(Settings.of(config, {}), pending),
    }
    if Loosening.SAFESEARCH_OFF in whats:
        update["safesearch"] = config.safesearch.model_copy(update={"enabled": True})
    if Loosening.SEARCH_CAPTURE_OFF in whats:
        update["search_capture"] = config.search_capture.model_copy(update={"enabled": True})
    return config.model_copy(update=update)


_CONFIG_WHATS = {
    Loosening.ALLOWLIST_ADDED,
    Loosening.NEVER_INSPECT_ADDED,
    Loosening.SAFESEARCH_OFF,
    Loosening.SEARCH_CAPTURE_OFF,
    Loosening.COOLING_OFF_SHORTENED,
}


def held_recognition(category: str, desired: bool, pending: Sequence[Pending]) -> bool:
    """Whether the name recogniser serves a category now: still on while its turning off
    waits for the cooling-off delay."""
    return desired or any(
        p.what == Loosening.RECOGNISER_OFF and p.category == category for p in pending
    )


def held_action(category: str, desired: Action | None, pending: Sequence[Pending]) -> Action:
    """The action in force for a category: the stricter held one while its lowering waits.

    A category whose rules file is gone (`desired` None) keeps the action its removed rules had.
    """
    considered = (Loosening.ACTION_LOWERED,) if desired else (Loosening.ACTION_LOWERED, *RULE_WHATS)
    best: Action = desired or "off"
    for p in pending:
        stricter = p.held in STRENGTH and STRENGTH[p.held] > STRENGTH[best]
        if p.category == category and p.what in considered and stricter:
            best = p.held  # type: ignore[assignment]
    return best


def _still_loosening(
    p: Pending,
    identities: Mapping[str, frozenset[str]],
    settings: Settings,
    list_hashes: Mapping[str, str],
) -> bool:
    in_category = identities.get(p.category or "", frozenset())
    match p.what:
        case Loosening.LIST_SHORTENED:
            return list_hashes.get(p.value) != p.source
        case Loosening.RULE_REMOVED:
            return p.value not in in_category
        case Loosening.EXCEPTION_ADDED:
            return p.value in in_category
        case Loosening.LIST_REMOVED:
            return LIST_PREFIX + p.value not in in_category
        case Loosening.ACTION_LOWERED:
            now = settings.actions.get(p.category or "")
            return now is None or STRENGTH[now] < STRENGTH.get(p.held, 0)
        case Loosening.ALLOWLIST_ADDED:
            return p.value in settings.allowlist
        case Loosening.NEVER_INSPECT_ADDED:
            return p.value in settings.never_inspect
        case Loosening.SAFESEARCH_OFF:
            return not settings.safesearch
        case Loosening.SEARCH_CAPTURE_OFF:
            return not settings.search_capture
        case Loosening.COOLING_OFF_SHORTENED:
            return settings.cooling_off < timedelta(seconds=int(p.held))
        case Loosening.RECOGNISER_OFF:
            return settings.recognised is not None and p.category not in settings.recognised
    return False


def _loosenings(
    applied: Applied,
    identities: Mapping[str, frozenset[str]],
    settings: Settings,
    waiting: Sequence[Pending],
    lists: Sequence[ListChange],
) -> Iterable[Pending]:
    """Every loosening from the applied state to the files now; times are filled in by `plan`."""
    yield from _rule_loosenings(applied, identities, waiting)
    old_actions: Mapping[str, Action] = applied.settings.actions if applied.settings else {}
    for change in lists:
        if change.removed:
            action = held_action(
                change.category, old_actions.get(change.category, "block"), waiting
            )
            yield replace(
                _item(Loosening.LIST_SHORTENED, change.category, change.name, action),
                source=change.old_hash,
                entries_removed=change.removed,
                entries_before=change.before,
            )
    if applied.settings is not None:
        yield from _setting_loosenings(applied.settings, settings, waiting)


def _item(
    what: Loosening, category: str | None, value: str, held: str, source: str = ""
) -> Pending:
    """A loosening found, its times still to be set by `plan`."""
    return Pending(what, category, value, held, datetime.min, datetime.min, source)


def _rule_loosenings(
    applied: Applied, identities: Mapping[str, frozenset[str]], waiting: Sequence[Pending]
) -> Iterable[Pending]:
    """Rules and lists removed, exceptions added, per category."""
    old_actions: Mapping[str, Action] = applied.settings.actions if applied.settings else {}
    for change in diff_identities(applied.identities, identities):
        cat = change.category
        action = held_action(cat, old_actions.get(cat, "block"), waiting)
        for text in change.removed:
            if is_exception(text):
                continue
            if text.startswith(LIST_PREFIX):
                name = text[len(LIST_PREFIX) :]
                list_hash = applied.list_hashes.get(name, "")
                yield _item(Loosening.LIST_REMOVED, cat, name, action, list_hash)
            else:
                source = applied.sources.get(cat, {}).get(text, "")
                yield _item(Loosening.RULE_REMOVED, cat, text, action, source)
        for text in change.added:
            if is_exception(text):
                yield _item(Loosening.EXCEPTION_ADDED, cat, text, "")


def _setting_loosenings(
    old: Settings, settings: Settings, waiting: Sequence[Pending]
) -> Iterable[Pending]:
    """Actions lowered, hosts allowed or never inspected, SafeSearch off, a shorter delay."""
    for cat in sorted(old.actions.keys() & settings.actions.keys()):
        was, now = old.actions[cat], settings.actions[cat]
        if STRENGTH[now] < STRENGTH[was]:
            yield _item(Loosening.ACTION_LOWERED, cat, "", held_action(cat, was, waiting))
    for host in sorted(settings.allowlist - old.allowlist):
        yield _item(Loosening.ALLOWLIST_ADDED, None, host, "")
    for host in sorted(settings.never_inspect - old.never_inspect):
        yield _item(Loosening.NEVER_INSPECT_ADDED, None, host, "")
    if old.safesearch and not settings.safesearch:
        yield _item(Loosening.SAFESEARCH_OFF, None, "", "on")
    if old.search_capture and not settings.search_capture:
        yield _item(Loosening.SEARCH_CAPTURE_OFF, None, "", "on")
    if settings.cooling_off < old.cooling_off:
        held = effective_delay(old, waiting)
        yield _item(Loosening.COOLING_OFF_SHORTENED, None, "", str(int(held.total_seconds())))
    if old.recognised is not None and settings.recognised is not None:
        for cat in sorted((old.recognised - settings.recognised) & settings.actions.keys()):
            yield _item(Loosening.RECOGNISER_OFF, cat, "", "on")


def _order(p: Pending) -> tuple[datetime, str, str, str]:
    return (p.until, p.what, p.category or "", p.value)


# --- the state file ------------------------------------------------------------------------------


def pending_path(state_dir: Path) -> Path:
    """Where the waiting loosenings are kept (a cache of what the journal says)."""
    return state_dir / PENDING_STATE


def read_pending(state_dir: Path) -> list[Pending]:
    """Loosening was waiting when the agent last looked; an unreadable file counts as nothing."""
    try:
        raw = json.loads(pending_path(state_dir).read_text("utf-8"))
        return [Pending.from_json(item) for item in raw["pending"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def journal_items(pending: Iterable[Pending]) -> list[dict[str, Any]]:
    """Pending changes as a journal body lists them (the report reads these)."""
    return [
        {
            "what": str(p.what),
            "category": p.category,
            "value": p.value,
            "since": p.since.isoformat(),
            "until": p.until.isoformat(),
        }
        for p in pending
    ]


def config_key(p: Pending) -> tuple[str, Any] | None:
    """The `what` / value pair `agent.policy.change_events` uses for the same setting."""
    match p.what:
        case Loosening.ACTION_LOWERED:
            return (f"categories.{p.category}.action", None)
        case Loosening.ALLOWLIST_ADDED:
            return ("allowlist", p.value)
        case Loosening.NEVER_INSPECT_ADDED:
            return ("never_inspect", p.value)
        case Loosening.SAFESEARCH_OFF:
            return ("safesearch.enabled", None)
        case Loosening.SEARCH_CAPTURE_OFF:
            return ("search_capture.enabled", None)
        case Loosening.COOLING_OFF_SHORTENED:
            return ("cooling_off", None)
        case Loosening.RECOGNISER_OFF:
            return (f"categories.{p.category}.recognise", None)
    return None


def annotate_config_changes(
    changes: Sequence[dict[str, Any]], pending: Sequence[Pending]
) -> list[dict[str, Any]]:
    """Add `pending_until` to each loosening config change that waits (absent if it applied)."""
    untils: dict[tuple[str, Any], datetime] = {}
    for p in pending:
        if (key := config_key(p)) is not None:
            untils[key] = p.until
    out = []
    for change in changes:
        entry = dict(change)
        if entry.get("loosening"):
            until = untils.get((entry["what"], entry.get("to"))) or untils.get(
                (entry["what"], None)
            )
            if until is not None:
                entry["pending_until"] = until.isoformat()
        out.append(entry)
    return out


def rule_pending_until(
    pending: Sequence[Pending], category: str, texts: Iterable[str]
) -> dict[str, str]:
    """For a `rules_changed` body: rule text (or `list:name`) → when its loosening applies."""
    wanted = set(texts)
    found: dict[str, str] = {}
    for p in pending:
        if p.category != category:
            continue
        text = LIST_PREFIX + p.value if p.what == Loosening.LIST_REMOVED else p.value
        if text in wanted and p.what in RULE_WHATS:
            found[text] = p.until.isoformat()
    return found


def _recognition_changes(before: Settings, after: Settings) -> list[dict[str, Any]]:
    """The name recogniser turned on or off for a category (turning it off loosens)."""
    if before.recognised is None or after.recognised is None:
        return []
    out = []
    for name in sorted(before.actions.keys() & after.actions.keys()):
        old_on, new_on = name in before.recognised, name in after.recognised
        if old_on != new_on:
            what = f"categories.{name}.recognise"
            out.append({"what": what, "from": old_on, "to": new_on, "loosening": not new_on})
    return out


def settings_changes(before: Settings, after: Settings) -> list[dict[str, Any]]:
    """Loosening changed between two settings, shaped like `agent.policy.change_events` entries.

    Used at start for edits made to config.toml while the agent was stopped.
    """
    out: list[dict[str, Any]] = []

    def note(what: str, old: Any, new: Any, loosening: bool) -> None:
        out.append({"what": what, "from": old, "to": new, "loosening": loosening})

    for name in sorted(before.actions.keys() & after.actions.keys()):
        old, new = before.actions[name], after.actions[name]
        if old != new:
            note(f"categories.{name}.action", old, new, STRENGTH[new] < STRENGTH[old])
    for key in ("allowlist", "never_inspect"):
        old_hosts, new_hosts = getattr(before, key), getattr(after, key)
        for host in sorted(new_hosts - old_hosts):
            note(key, None, host, loosening=True)
        for host in sorted(old_hosts - new_hosts):
            note(key, host, None, loosening=False)
    out += _recognition_changes(before, after)
    for key in ("safesearch", "search_capture"):
        old_on, new_on = getattr(before, key), getattr(after, key)
        if old_on != new_on:
            note(f"{key}.enabled", old_on, new_on, loosening=not new_on)
    if before.cooling_off != after.cooling_off:
        note(
            "cooling_off",
            format_duration(before.cooling_off),
            format_duration(after.cooling_off),
            loosening=after.cooling_off < before.cooling_off,
        )
    for what, old, new in (
        ("report.timezone", before.report_timezone, after.report_timezone),
        ("agent.listen", before.listen, after.listen),
    ):
        if old is not None and new is not None and old != new:
            out.append({"what": what, "from": old, "to": new, "loosening": False, "notice": True})
    if before.anchors is not None and after.anchors is not None and before.anchors != after.anchors:
        out.append(
            {
                "what": ANCHORS_SETTING,
                "from": before.anchors,
                "to": after.anchors,
                "loosening": not after.anchors,
                "notice": True,
            }
        )
    return out


ANCHORS_SETTING = "anchors.enabled"
"""The `config_changed` entry that says hourly time anchors were turned off or on."""
