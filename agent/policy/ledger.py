"""What the journal says is in force: the rule set last applied, the loosenings that wait, and the
temporary allows.

The journal is the only source of truth for anything that changes protection. The agent rebuilds
this ledger from it once at start (the newest `rules_applied` row and the allow rows, found
through the kind index, never a replay of the whole journal) and then keeps it in memory,
updated by the rows it writes itself and by allow rows other commands write. `candor status`
and `candor rules test` read it the same way. Files under `state/` are caches of it
(`agent.policy.state_cache`), never read back as truth; only a journal written before these rows
existed is bridged once from the old state files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Home
from agent.journal import clock
from agent.journal.clock import Uptime
from agent.journal.loosening import Loosening
from agent.policy import cooling_off
from agent.policy.cooling_off import LIST_PREFIX, Applied, Pending, Settings
from agent.policy.elapsed import Beat, Beats
from agent.policy.temporary_allow import (
    ALLOW_KINDS,
    GRANTS_STATE,
    MAX_GRANT,
    Grant,
    end_event,
    grant_event,
    grants_from_rows,
    normalise_grant_host,
)
from rules.syntax import RuleSyntaxError, parse_rule

if TYPE_CHECKING:
    from agent.journal.events import Event, RulesApplied
    from agent.journal.store import Journal

APPLIED_KIND = "rules_applied"
ALLOW_ROWS_READ = 1000
"""Allow rows read back, newest first: far more than a person grants in a day."""


@dataclass(frozen=True, slots=True)
class Ledger:
    """The protection state the journal records."""

    applied: Applied | None = None
    """The rule set, lists and settings last put into force; None on a fresh home."""
    pending: tuple[Pending, ...] = ()
    grants: tuple[Grant, ...] = ()
    """Every grant not ended early (whether one is in force depends on the time)."""
    digest: str | None = None
    """Of the newest `rules_applied` body, so an unchanged state is not written again."""
    allow_seq: int | None = None
    """The newest allow row's seq, so the agent notices a grant another command journaled."""
    bridged: bool = False
    """The applied state came from the state files of a journal older than `rules_applied`."""


def read_ledger(home: Home) -> Ledger:
    """The ledger of `home`'s journal; empty (a fresh home) when there is no journal yet."""
    if not home.journal_file.exists():
        return bridged_from_files(home)
    from agent.journal.store import Journal

    with Journal(home.journal_file) as journal:
        return ledger_from(journal, home)


def ledger_from(journal: Journal, home: Home) -> Ledger:
    """Rebuild the ledger from an open journal: the newest snapshot and the recent allow rows."""
    newest = next(journal.latest([APPLIED_KIND], 1), None)
    if newest is None:
        ledger = bridged_from_files(home)
    else:
        applied, pending = parse_snapshot(newest.body)
        ledger = Ledger(applied=applied, pending=pending, digest=body_digest(newest.body))
    return with_grants(ledger, journal)


UNLOCK_KIND = "unlock_used"
"""A partner's unlock code was used (`agent.journal.events.UnlockUsed`): with `unlocked` =
`pending`, the loosenings it names apply at once instead of at the end of their wait."""
LEDGER_KINDS = (*ALLOW_KINDS, UNLOCK_KIND)
"""Rows other commands write that change what is in force without an edit on disk."""
UNLOCK_ROWS_READ = 100


def with_grants(ledger: Ledger, journal: Journal) -> Ledger:
    """`ledger` with the grants the journal's allow rows describe now, and the waiting
    loosenings an unlock code released."""
    grants = grants_from_rows(journal.latest(ALLOW_KINDS, ALLOW_ROWS_READ))
    pending = released(ledger.pending, journal.latest([UNLOCK_KIND], UNLOCK_ROWS_READ))
    return replace(
        ledger,
        grants=tuple(grants),
        pending=pending,
        allow_seq=journal.last_seq_of(LEDGER_KINDS),
    )


def released(pending: Sequence[Pending], rows: Iterable[Event]) -> tuple[Pending, ...]:
    """`pending` with each loosening an unlock row names (and that was waiting then) ending
    at that row's time: the cooling-off wait is over, as the partner's code said."""
    ends: dict[tuple[str, str | None, str], datetime] = {}
    for row in rows:
        if row.body.get("unlocked") != "pending":
            continue
        for item in row.body.get("pending") or ():
            if isinstance(item, Mapping):
                key = (str(item.get("what")), item.get("category"), str(item.get("value", "")))
                ends.setdefault(key, row.time)
    out = []
    for p in pending:
        end = ends.get((str(p.what), p.category, p.value))
        if end is not None and p.since <= end < p.until:
            p = replace(p, until=end, seconds=0.0)
        out.append(p)
    return tuple(out)


def bridged_from_files(home: Home) -> Ledger:
    """A journal from before `rules_applied` rows: the old state files, read this once."""
    from agent.policy.state_cache import read_applied_file

    applied = read_applied_file(home.state_dir)
    if applied is None:
        return Ledger()
    pending = tuple(cooling_off.read_pending(home.state_dir))
    return Ledger(applied=applied, pending=pending, bridged=True)


def parse_snapshot(body: Mapping[str, Any]) -> tuple[Applied | None, tuple[Pending, ...]]:
    """The applied state and waiting loosenings of a `rules_applied` body; a damaged part reads
    as nothing (stricter: with no applied state nothing is let loose early)."""
    try:
        rules = {
            str(cat): {canonical_rule_text(str(t)): w for t, w in dict(texts).items()}
            for cat, texts in body["rules"].items()
        }
        lists = {str(name): dict(info) for name, info in body.get("lists", {}).items()}
    except (KeyError, TypeError, AttributeError, ValueError):
        return None, ()
    identities = {cat: set(texts) for cat, texts in rules.items()}
    for name, info in lists.items():
        category = str(info.get("category") or name.split("/")[1])
        ids = identities.setdefault(category, set())
        ids.add(LIST_PREFIX + name)
        ids.update(str(t) for t in info.get("exceptions", ()))
    try:
        settings = Settings.from_json(body["settings"]) if body.get("settings") else None
    except (KeyError, TypeError, ValueError, AttributeError):
        settings = None
    applied = Applied(
        identities={cat: frozenset(texts) for cat, texts in identities.items()},
        sources={cat: {str(k): str(v) for k, v in texts.items()} for cat, texts in rules.items()},
        list_hashes={name: str(info.get("hash", "")) for name, info in lists.items()},
        settings=settings,
        list_counts={name: _int(info.get("entries")) for name, info in lists.items()},
    )
    pending: list[Pending] = []
    for raw in body.get("pending") or ():
        try:
            waiting = Pending.from_json(raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if waiting.what in (Loosening.RULE_REMOVED, Loosening.EXCEPTION_ADDED):
            waiting = replace(waiting, value=canonical_rule_text(waiting.value))
        pending.append(waiting)
    return applied, tuple(pending)


def canonical_rule_text(text: str) -> str:
    """A rule of the person's as today's parser writes it, so a rule journaled by an older
    Candor in another spelling (`example.com/Foo`, now `example.com/foo`) is the same rule and
    no upgrade reads as a change. An imported list's exception (`… (from lists/…)`) and text
    that does not parse are kept as they are."""
    if " (from " in text:
        return text
    try:
        return parse_rule(text).text
    except RuleSyntaxError:
        return text


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def snapshot(
    fingerprint: str,
    sources: Mapping[str, Mapping[str, str]],
    lists: Mapping[str, Mapping[str, Any]],
    settings: Settings | None,
    pending: Sequence[Pending],
    config: ConfigRecord | None = None,
) -> RulesApplied:
    """The `rules_applied` row: the person's rules per category (text → where), each imported
    list (category, hash, entries, exceptions), the settings, what waits, and (from the agent)
    the digest of the settings applied and why config.toml was not used, if it was not."""
    from agent.journal.events import RulesApplied

    return RulesApplied(
        fingerprint=fingerprint,
        rules={cat: dict(sorted(texts.items())) for cat, texts in sorted(sources.items())},
        lists={name: dict(info) for name, info in sorted(lists.items())},
        settings=settings.as_json() if settings else None,
        pending=[p.as_json() for p in pending],
        config=config.digest if config else None,
        config_problem=config.problem if config else None,
    )


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """What a `rules_applied` row says of the settings: their digest, and a broken file's error."""

    digest: str
    problem: str | None = None


def body_digest(body: Mapping[str, Any]) -> str:
    """A digest of a snapshot body without its fingerprint (which follows from the rest)."""
    rest = {k: v for k, v in body.items() if k != "fingerprint"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def heartbeats(journal_file: Path) -> Beats:
    """The journal's heartbeats, newest first, read only if a wait spans a reboot."""

    def beats() -> Iterator[Beat]:
        if not journal_file.exists():
            return
        from agent.journal.store import Journal

        with Journal(journal_file) as journal:
            for row in journal.events(kinds=["heartbeat"], newest_first=True):
                yield beat_of(row)

    return beats


def beat_of(row: Event) -> Beat:
    """A heartbeat row's clocks."""
    body = row.body

    def number(key: str) -> float | None:
        value = body.get(key)
        return float(value) if isinstance(value, int | float) else None

    boot = body.get("boot_id")
    return Beat(boot if isinstance(boot, str) else None, number("boottime"), number("wall"))


def add_grant(
    home: Home,
    host: str,
    duration: timedelta,
    reason: str,
    *,
    now: datetime | None = None,
    uptime: Uptime | None = None,
    limit: timedelta = MAX_GRANT,
) -> Grant:
    """Journal a temporary allow from now (the row is the grant) and refresh the allow cache.

    Raises `GrantError` for a host, length or reason that cannot be granted, and
    `JournalWriteError` when the row cannot be written (a full disk): then nothing is granted.
    Whether the host is blocked or warned is for the caller to check, with the rules in force."""
    from agent.journal.store import Journal

    at = now or clock.now()
    event = grant_event(host, duration, reason, at, uptime or clock.uptime(), limit)
    with Journal(home.journal_file) as journal:
        journal.append(event)
        ledger = with_grants(Ledger(), journal)
    _refresh_allow_cache(home, ledger)
    return next(g for g in ledger.grants if g.host == event.host)


def end_grant(home: Home, host: str, *, now: datetime | None = None) -> Grant | None:
    """End a grant early (tightening, so at once): journal `allow_ended`; the grant that was
    in force, or None when there was none."""
    from agent.journal.store import Journal

    at = now or clock.now()
    name = normalise_grant_host(host)
    if not home.journal_file.exists():
        return None
    with Journal(home.journal_file) as journal:
        ledger = with_grants(Ledger(), journal)
        ended = next((g for g in ledger.grants if g.host == name and g.until > at), None)
        if ended is None:
            return None
        journal.append(end_event(name, at))
        ledger = with_grants(ledger, journal)
    _refresh_allow_cache(home, ledger)
    return ended


def _refresh_allow_cache(home: Home, ledger: Ledger) -> None:
    """Mirror the grants into `state/allow.json`. A cache only: when it cannot be written (a
    full disk) it is removed, since a stale copy naming an ended grant would read as an edit."""
    from agent.policy.state_cache import write_grants_cache

    try:
        write_grants_cache(home.state_dir, ledger.grants)
    except OSError:
        with suppress(OSError):
            (home.state_dir / GRANTS_STATE).unlink(missing_ok=True)
