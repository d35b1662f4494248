"""`candor status`: is Candor working, what is it doing, and what needs attention.

Everything comes from what a person could check by hand: the pid file and whether that process
is alive, the journal (heartbeats, starts and stops, today's decisions, bypass suspicions, the
chain check), and the rules in force, read the same way the agent reads them. Status only looks;
it starts no cooling-off clock and keeps nothing: its one write, a small file removed at once,
tells whether the disk still takes the journal's writes (`agent.health.write_check`). Each
problem comes with how to fix it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.config import (
    Config,
    Home,
    format_duration,
    last_good_config,
    rough_duration_words,
)
from agent.health import selfcheck
from agent.health.pidfile import is_candor, read_pid_file
from agent.health.write_check import write_refused
from agent.journal import Event, Journal, JournalError, clock, parse_ts
from agent.journal.errors import DISK_FULL
from agent.journal.events import CAPTURE_FINDINGS, decisions_in, is_lookup
from agent.policy.cooling_off import RULE_WHATS, Pending, held_action
from agent.policy.rulebook import LoadedRules, load_rules
from agent.policy.temporary_allow import Grant

HEARTBEAT_LATE = timedelta(minutes=3)
"""The agent writes a heartbeat every minute; this much silence while it runs is worth a word."""
RECENT_BYPASS = timedelta(days=7)
COUNTED_KINDS = (
    "decision",
    "search",
    "warn_continue",
    "unblock_request",
    "allow_granted",
    "pinned_passthrough",
    "bypass_suspected",
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that needs the person, and how to fix it."""

    what: str
    fix: str

    def as_json(self) -> dict[str, str]:
        """The problem as `candor status --json` prints it."""
        return {"problem": self.what, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class AgentState:
    """Whether the agent runs, and its last signs of life from the journal."""

    running: bool
    pid: int | None = None
    address: str | None = None
    """`host:port` once the agent listens."""
    stale_pid_file: bool = False
    """A pid file left by an agent that did not stop cleanly (killed, crashed, power loss)."""
    last_heartbeat: datetime | None = None
    last_start: datetime | None = None
    last_stop: datetime | None = None
    last_stop_clean: bool | None = None


@dataclass(slots=True)
class Status:
    """Everything `candor status` reports: a model; `status_text` renders it."""

    home: Path
    now: datetime
    agent: AgentState
    categories: list[dict[str, Any]] = field(default_factory=list)
    cooling_off: timedelta = timedelta(0)
    today: dict[str, Any] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    journal: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    test_clock: bool = False
    lists: list[dict[str, Any]] = field(default_factory=list)
    """Each list in `lists/`: entries, last refreshed, state (`agent.policy.list_freshness`)."""

    def as_json(self) -> dict[str, Any]:
        """The status as `candor status --json` prints it."""
        a = self.agent
        return {
            "home": str(self.home),
            "now": self.now.isoformat(),
            "test_clock": self.test_clock,
            "agent": {
                "running": a.running,
                "pid": a.pid,
                "address": a.address,
                "stale_pid_file": a.stale_pid_file,
                "last_heartbeat": _iso(a.last_heartbeat),
                "last_start": _iso(a.last_start),
                "last_stop": _iso(a.last_stop),
                "last_stop_clean": a.last_stop_clean,
            },
            "rules": {
                "categories": self.categories,
                "cooling_off": format_duration(self.cooling_off),
            },
            "today": self.today,
            "pending": [{**p.as_json(), "description": p.describe()} for p in self.pending],
            "temporary_allows": [g.as_json() for g in self.grants],
            "journal": self.journal,
            "lists": self.lists,
            "problems": [p.as_json() for p in self.problems],
        }


DeliveryNotes = Callable[[Home], list[str]]
"""Sentences about reports and consent that need the person (the reporter's, handed in)."""
SetupNotes = Callable[[Home], list[tuple[str, str]]]
"""What a new home still lacks, each with its fix (the CLI's first steps, handed in)."""


def collect(
    home: Home,
    now: datetime | None = None,
    verify: bool = True,
    delivery_notes: DeliveryNotes | None = None,
    setup_notes: SetupNotes | None = None,
) -> Status:
    """Gather the status of `home`. `verify` checks the journal chain (the slow part);
    `delivery_notes` come from the reporter, which `agent.health` does not import, and
    `setup_notes` from the CLI (what a new home lacks)."""
    now = now or clock.now()
    problems: list[Problem] = []
    status = Status(
        home=home.root, now=now, agent=AgentState(False), test_clock=not clock.is_real()
    )
    if status.test_clock:
        problems.append(
            Problem(
                "This is Candor's test harness, with a made-up clock: times shown are not real.",
                "Run Candor itself (`candor status`); the harness exists for Candor's own tests.",
            )
        )
    read = last_good_config(home)
    if read.note:
        problems.append(
            Problem(
                f"The settings cannot be read: {read.note}",
                "Fix config.toml (`candor config check` says what is wrong).",
            )
        )
    config = read.config
    loaded = load_rules(home, config, now=now)
    status.categories = _categories(loaded)
    status.cooling_off = (loaded.effective_config or config).cooling_off
    status.pending = list(loaded.pending)
    status.grants = list(loaded.grants)
    problems.extend(_rule_problems(loaded))
    events = _journal_facts(home, config, now, status, problems, verify)
    problems.extend(_write_problems(home, status))
    status.agent = _agent_state(home, events, problems, now)
    problems.extend(_wiring_and_delivery(home, delivery_notes))
    problems.extend(_list_problems(home, status, now))
    if setup_notes is not None:
        problems.extend(Problem(what, fix) for what, fix in setup_notes(home))
    status.problems = problems
    return status


def _list_problems(home: Home, status: Status, now: datetime) -> Iterable[Problem]:
    """The lists' freshness into `status`, and a problem for each subscription gone stale."""
    from agent.policy.list_freshness import is_stale, list_rows

    status.lists = list_rows(home, now)
    for row in status.lists:
        if is_stale(row):
            since = f" since {row['refreshed']}" if row["refreshed"] else ""
            yield Problem(
                f"The list {row['category']}/{row['name']} has not been refreshed{since}: "
                f"{row['status']}. Candor keeps using its last copy.",
                "Check this computer's connection, or run `candor lists update`.",
            )


def _write_problems(home: Home, status: Status) -> Iterable[Problem]:
    """A disk that refuses writes now: the agent cannot say so itself (it has nowhere to write),
    so status tries a small write of its own (`agent.health.write_check`)."""
    refused = write_refused(home.root) if home.root.is_dir() else None
    status.journal["write_refused"] = refused
    if refused is None:
        return
    where = f"the disk that holds {home.root}"
    yield Problem(
        f"Candor cannot write to its journal ({refused}): nothing new is recorded, and no "
        "allow or change to the rules takes effect until it can.",
        (f"Free some space on {where}" if refused == DISK_FULL else f"Check {where}")
        + "; Candor records again by itself once it can.",
    )


def _wiring_and_delivery(home: Home, delivery_notes: DeliveryNotes | None) -> Iterable[Problem]:
    """Loosening the agent's self-check found last, and deliveries that need the person."""
    result = selfcheck.last_result(home)
    if result and not result.get("ok"):
        for found in result.get("problems", []):
            if found.get("what") in CAPTURE_FINDINGS:  # the system capture: words, not terms
                yield Problem(
                    f"The self-check found that {found['detail']}.",
                    "Run `sudo candor install --system` again to put the capture back.",
                )
                continue
            yield Problem(
                f"The self-check found {found['what']}: {found['detail']}",
                "Run `candor install` again to put the wiring back.",
            )
    if delivery_notes is not None and home.journal_file.exists():
        try:
            notes = delivery_notes(home)
        except Exception as exc:  # status must always answer
            notes = [f"Delivery state could not be read ({exc})."]
        for note in notes:
            yield Problem(note, "`candor report list` shows each report and its delivery.")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _categories(loaded: LoadedRules) -> list[dict[str, Any]]:
    rows = []
    held = {p.category: p for p in loaded.pending if p.what == "action_lowered"}
    for name, action in loaded.actions.items():
        entries = sum(
            n for list_name, n in loaded.list_counts.items() if list_name.split("/")[1] == name
        )
        row: dict[str, Any] = {
            "category": name,
            "action": action,
            "rules": loaded.rule_counts.get(name, 0),
            "list_entries": entries,
        }
        if name in held:
            row["action_in_force"] = held[name].held
            row["action_pending_until"] = loaded.cooling.due_of(held[name]).isoformat()
        rows.append(row)
    rows.extend(_categories_gone(loaded))
    return rows


def _categories_gone(loaded: LoadedRules) -> Iterable[dict[str, Any]]:
    """Categories whose files were deleted while the cooling-off still enforces their rules."""
    gone: dict[str, list[Pending]] = {}
    for p in loaded.pending:
        if p.category and p.category not in loaded.actions and p.what in RULE_WHATS:
            gone.setdefault(p.category, []).append(p)
    for name, waiting in sorted(gone.items()):
        yield {
            "category": name,
            "action": "off",
            "rules": 0,
            "list_entries": 0,
            "action_in_force": held_action(name, None, waiting),
            "action_pending_until": max(loaded.cooling.due_of(p) for p in waiting).isoformat(),
            "removed": True,
        }


def _rule_problems(loaded: LoadedRules) -> Iterable[Problem]:
    for text in loaded.problems:
        yield Problem(
            f"Some rules could not be read: {text}",
            "Fix or remove that file; `candor rules check` lists every problem.",
        )
    if loaded.rejected:
        first = loaded.rejected[0]
        more = f" (and {len(loaded.rejected) - 1} more)" if len(loaded.rejected) > 1 else ""
        yield Problem(
            f"{len(loaded.rejected)} rule line(s) are not used: {first}{more}",
            "Correct those lines; `candor rules check` lists them all.",
        )
    for note in loaded.notes:
        yield Problem(note, "Import the list again if it should stay.")


def _journal_facts(
    home: Home,
    config: Config,
    now: datetime,
    status: Status,
    problems: list[Problem],
    verify: bool,
) -> dict[str, Event | None]:
    """Fill in today's counts and the journal check; return the latest agent events."""
    latest: dict[str, Event | None] = {"heartbeat": None, "agent_start": None, "agent_stop": None}
    status.today = {"since": None, "decisions": [], "events": {}}
    if not home.journal_file.exists():
        status.journal = {"exists": False}
        return latest
    try:
        with Journal(home.journal_file) as journal:
            for kind in latest:
                latest[kind] = next(journal.events(kinds=[kind], limit=1, newest_first=True), None)
            midnight = _local_midnight(now, config)
            status.today = _today(journal.events(since=midnight, kinds=COUNTED_KINDS), midnight)
            bypass = next(
                journal.events(kinds=["bypass_suspected"], limit=1, newest_first=True), None
            )
            lost = next(journal.events(kinds=["events_lost"], limit=1, newest_first=True), None)
            unwritable = next(
                journal.events(kinds=["journal_unwritable"], limit=1, newest_first=True), None
            )
            head = journal.head()
            result = journal.verify() if verify else None
    except JournalError as exc:
        status.journal = {"exists": True, "readable": False}
        problems.append(
            Problem(
                f"The journal cannot be read: {exc}",
                "Keep a copy of journal.sqlite for your partner to see, then check the disk.",
            )
        )
        return latest
    status.journal = {
        "exists": True,
        "readable": True,
        "head_seq": head.seq if head else None,
        "verified": None if result is None else result.ok,
    }
    if result is not None and not result.ok:
        status.journal["first_bad_seq"] = result.first_bad_seq
        problems.append(
            Problem(
                f"The journal check failed at row {result.first_bad_seq} ({result.reason}): "
                "something in the record was changed or removed.",
                "Run `candor journal verify` for details. Tell your partner; the next report "
                "will show it either way.",
            )
        )
    if bypass is not None and now - bypass.time < RECENT_BYPASS:
        what = bypass.body.get("what", "something")
        host = bypass.body.get("host")
        on = f" on {host}" if host else ""
        problems.append(
            Problem(
                f"A possible way around Candor was noticed {ago(now, bypass.time)}: {what}{on}.",
                "If it was not you, check the browser's secure DNS setting and the proxy "
                "settings; it is noted for your partner either way.",
            )
        )
    if lost is not None and now - lost.time < RECENT_BYPASS:
        problems.append(
            Problem(
                f"Candor could not record {lost.body.get('count', 'some')} events "
                f"{ago(now, lost.time)} (the disk kept failing).",
                "Check free disk space and the disk's health.",
            )
        )
    if unwritable is not None and now - unwritable.time < RECENT_BYPASS:
        problems.append(unwritable_problem(unwritable, now))
    return latest


def unwritable_problem(row: Event, now: datetime) -> Problem:
    """A recent `journal_unwritable` row: how long writing failed, and that it works again."""
    body = row.body
    try:
        failed = parse_ts(str(body["until"])) - parse_ts(str(body["since"]))
    except (KeyError, ValueError):
        failed = timedelta(0)
    how_long = f" for {rough_duration_words(failed)}" if failed >= timedelta(minutes=1) else ""
    return Problem(
        f"Candor could not write to its journal{how_long}, ending {ago(now, row.time)} "
        f"({body.get('reason', 'the disk refused the write')}): what happened meanwhile was "
        "written late.",
        "Keep some space free on the disk that holds Candor's home.",
    )


def _today(events: Iterable[Event], midnight: datetime) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    decisions: Counter[tuple[str, str]] = Counter()
    lookups = 0
    for event in events:
        by_kind[event.kind] += 1
        if event.kind == "decision" and is_lookup(event.body):
            lookups += decisions_in(event.body)  # a name a program looked up: not a page
        elif event.kind == "decision":
            key = (event.body.get("category") or "none", event.body.get("decision", "?"))
            decisions[key] += decisions_in(event.body)  # a grouped row counts its hosts
    return {
        "since": midnight.isoformat(),
        "decisions": [
            {"category": cat, "decision": verdict, "count": n}
            for (cat, verdict), n in sorted(decisions.items())
        ],
        "lookups_blocked": lookups,
        "events": dict(sorted(by_kind.items())),
    }


def _local_midnight(now: datetime, config: Config) -> datetime:
    local = now.astimezone(config.report.zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _agent_state(
    home: Home, latest: dict[str, Event | None], problems: list[Problem], now: datetime
) -> AgentState:
    heartbeat, start, stop = latest["heartbeat"], latest["agent_start"], latest["agent_stop"]
    found = read_pid_file(home.pid_file)
    stopped_after_start = stop is not None and (start is None or stop.seq > start.seq)
    state = AgentState(
        running=False,
        last_heartbeat=heartbeat.time if heartbeat else None,
        last_start=start.time if start else None,
        last_stop=stop.time if stop and stopped_after_start else None,
        last_stop_clean=bool(stop.body.get("clean")) if stop and stopped_after_start else None,
    )
    last_sign = max((e.time for e in (heartbeat, start) if e is not None), default=None)
    if found is not None and is_candor(found[0]):
        state = replace(state, running=True, pid=found[0], address=found[1])
        if found[1] is None:
            problems.append(
                Problem(
                    "Candor is starting but not listening yet.",
                    "Wait a few seconds; if it stays like this, look at its output.",
                )
            )
        elif heartbeat is not None and now - heartbeat.time > HEARTBEAT_LATE:
            problems.append(
                Problem(
                    f"Candor is running but has written nothing since {ago(now, heartbeat.time)}.",
                    "It may be stuck or the computer was asleep. If this stays, stop it and "
                    "start it again with `candor run`.",
                )
            )
        return state
    if found is not None:
        state = replace(state, pid=found[0], stale_pid_file=True)
        when = f" (last sign of life {ago(now, last_sign)})" if last_sign else ""
        problems.append(
            Problem(
                f"Candor is not running: it stopped without shutting down cleanly{when}.",
                "Start it again with `candor run` (or restart the background service); the "
                "gap will show in the weekly report.",
            )
        )
        return state
    when = f" (it stopped {ago(now, state.last_stop)})" if state.last_stop else ""
    problems.append(
        Problem(
            f"Candor is not running{when}, so nothing is being filtered.",
            "Start it with `candor run` (or start the background service).",
        )
    )
    return state


def ago(now: datetime, then: datetime) -> str:
    """How long before `now` `then` was, as a person says it ("12 minutes ago", "on Tue 01 Dec")."""
    since = now - then
    if since < timedelta(seconds=90):
        seconds = int(since.total_seconds())
        return "just now" if seconds < 10 else f"{seconds} seconds ago"
    if since < timedelta(hours=48):
        return f"{rough_duration_words(since)} ago"
    return f"on {then.astimezone():%a %d %b %H:%M}"
