"""The partner's immediate alerts: journal rows since the last alert → the next alert (pure).

Two triggers, both chosen by the person (`reporter.alert_settings`): protection weakened (the
agent stopped while the computer was awake, the capture, proxy setting, browser policy or
certificate removed, a loosening asked for) and a hard moment (at least N blocked page visits
within M minutes; a page's images and scripts, and names only looked up through Candor's DNS,
do not count). What happened since the last alert becomes one alert, at most one per
`BATCH_WINDOW`, held through the partner's quiet hours. Everything here is a function of the
rows, the settings and the time handed in, so a restart or a `kill -9` cannot lose a trigger:
the agent and `candor report send-due` just call it again (`reporter.alert_queue`).

What an alert names follows the detail level: at `summary` no category, domain or time beyond
"in the last 15 minutes"; at `domains` the categories and domains; at `detailed` also the times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.journal import Event, Kind, format_ts, parse_ts
from agent.journal.events import (
    CAPTURE_CHANGED,
    CAPTURE_REMOVED,
    CAPTURE_TAKEN_OVER,
    PROBE_MISSING,
    decisions_in,
    is_lookup,
)
from reporter.alert_settings import (
    BATCH_WINDOW,
    STOPPED_AFTER,
    AlertSettings,
    is_widening,
    quiet_until,
    zone_of,
)

SCHEMA = "candor-notice/1"
"""An alert is a signed notice of kind `alert`: `candor verify` checks it as it checks notices."""
ROW_KINDS = (
    Kind.DECISION,
    Kind.BYPASS_SUSPECTED,
    Kind.RULES_CHANGED,
    Kind.CONFIG_CHANGED,
    Kind.ALERTS_CHOSEN,
)
"""The rows an alert is made from (the agent's own stop is handed in as `Stopped`)."""
HARD_LOOKBACK = timedelta(days=1)
"""Blocked visits older than this are not an immediate matter any more."""

WEAKENING: Mapping[str, str] = {
    "agent_stopped": "Candor stopped running while the computer was on",
    "agent_stopped_by_person": "Candor was stopped and has not been started again",
    CAPTURE_REMOVED: "the system capture that leads every app through Candor was removed",
    CAPTURE_CHANGED: "the system capture that leads every app through Candor was changed",
    CAPTURE_TAKEN_OVER: "another program took over the ports Candor's capture uses",
    PROBE_MISSING: "Candor's system check stopped arriving",
    "proxy unset": "the proxy setting that leads the browser through Candor was removed",
    "CA untrusted": "Candor's certificate was removed from the system's trust",
    "policy missing": "a browser setting that keeps Candor in place was removed",
    "canary failed": "a test page did not go through Candor",
    "loosening": "a loosening of the rules was asked for (it waits its cooling-off time)",
}
"""Each weakening finding in the partner's words (no category, domain or time)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One thing an alert tells: a trigger, what exactly, and (by level) where and when."""

    trigger: str
    """`weakened`, `hard_moment` or `alerts_on` (the person widened the alerts)."""
    what: str
    seq: int
    at: datetime
    count: int = 1
    categories: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def as_json(self, level: str) -> dict[str, Any]:
        """The item as the alert document holds it, at the detail level."""
        out: dict[str, Any] = {"trigger": self.trigger, "what": self.what, "count": self.count}
        if level in ("domains", "detailed"):
            out["categories"] = list(self.categories)
            out["domains"] = list(self.domains)
        if level == "detailed":
            out["time"] = format_ts(self.at)
        return out


@dataclass(frozen=True, slots=True)
class Stopped:
    """The agent's last sign of life is old while the computer has been awake."""

    seq: int
    """The agent's last row (heartbeat or stop): one alert per such row."""
    at: datetime
    by_person: bool
    """A clean `agent_stop` (the person stopped it), not a crash or a kill."""
    awake: timedelta


@dataclass(frozen=True, slots=True)
class LastAlert:
    """What the previous alert covered: where the next one starts."""

    at: datetime
    last_seq: int
    hard_through: int
    stopped_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The next alert: what it tells, the rows it covers, and when it may go."""

    items: tuple[Item, ...]
    after_seq: int
    last_seq: int
    hard_through: int
    due_at: datetime
    """Not before the batch window since the last alert has passed, nor in quiet hours."""
    held_for_quiet: bool = False
    """Something it tells happened in quiet hours (or it waits for them to end)."""
    stopped_seq: int | None = None
    redone_at: str | None = None
    """The detail level an alert was made again at, replacing one made at a higher level."""

    def due(self, now: datetime) -> bool:
        """Whether it goes now."""
        return bool(self.items) and self.due_at <= now

    @property
    def batch(self) -> str:
        """The idempotency id: the same rows always make the same batch."""
        batch = f"{self.after_seq}-{self.last_seq}-{self.hard_through}-{self.stopped_seq or 0}"
        return f"{batch}-{self.redone_at}" if self.redone_at else batch


@dataclass(slots=True)
class _Scan:
    items: list[Item] = field(default_factory=list)
    blocks: list[tuple[datetime, int, int, str | None, str]] = field(default_factory=list)


def plan(
    settings: AlertSettings,
    rows: Iterable[Event],
    *,
    start_seq: int,
    head_seq: int,
    last: LastAlert | None,
    stopped: Stopped | None,
    now: datetime,
) -> Plan:
    """The next alert from the rows after `start_seq` (and the blocked visits after the last
    alert's `hard_through`), or a plan with no items when there is nothing to tell."""
    scan = _Scan()
    after = max(last.last_seq if last else 0, start_seq)
    hard_from = max(last.hard_through if last else 0, start_seq)
    for event in rows:
        if event.kind == Kind.DECISION:
            if event.seq > hard_from and settings.covers("hard_moment"):
                _block(scan, event)
        elif event.seq > after:
            scan.items.extend(_items(settings, event))
    hard_items, hard_through = _hard_moments(settings, scan.blocks, hard_from, now)
    items = list(scan.items) + hard_items
    stopped_seq = None
    if _stop_to_tell(settings, stopped, last) and stopped is not None:
        what = "agent_stopped_by_person" if stopped.by_person else "agent_stopped"
        items.append(Item("weakened", what, stopped.seq, stopped.at))
        stopped_seq = stopped.seq
    items.sort(key=lambda item: item.seq)
    due = now if last is None else max(now, last.at + BATCH_WINDOW)
    quiet_end = quiet_until(settings, due)
    return Plan(
        tuple(items),
        after,
        max(head_seq, after),
        max(hard_through, hard_from),
        quiet_end or due,
        held_for_quiet=quiet_end is not None or any(quiet_until(settings, i.at) for i in items),
        stopped_seq=stopped_seq,
    )


def item_from_json(data: Mapping[str, Any], at: datetime) -> Item:
    """An item as an `alert_queued` row holds it (its time when the level kept it, else `at`)."""
    time = data.get("time")
    return Item(
        str(data.get("trigger")),
        str(data.get("what")),
        0,
        parse_ts(time) if isinstance(time, str) else at,
        count=int(data.get("count") or 1),
        categories=tuple(str(c) for c in data.get("categories") or ()),
        domains=tuple(str(d) for d in data.get("domains") or ()),
    )


def _stop_to_tell(settings: AlertSettings, stopped: Stopped | None, last: LastAlert | None) -> bool:
    """A stop long enough while awake, not told yet (one alert per stop)."""
    if stopped is None or not settings.covers("weakened") or stopped.awake < STOPPED_AFTER:
        return False
    return last is None or last.stopped_seq != stopped.seq


def _items(settings: AlertSettings, event: Event) -> list[Item]:
    body = event.body
    if event.kind == Kind.ALERTS_CHOSEN:
        if settings.on and is_widening(str(body.get("change"))):
            return [Item("alerts_on", str(body.get("change")), event.seq, event.time)]
        return []
    if not settings.covers("weakened"):
        return []
    if event.kind == Kind.BYPASS_SUSPECTED:
        whats = [body.get("what")] + [
            p.get("what") for p in body.get("problems") or () if isinstance(p, Mapping)
        ]
        found = [w for w in dict.fromkeys(whats) if isinstance(w, str) and w in WEAKENING]
        return [Item("weakened", what, event.seq, event.time) for what in found[:1]]
    categories = _loosened(event)
    if categories:
        return [Item("weakened", "loosening", event.seq, event.time, categories=categories)]
    return []


def _loosened(event: Event) -> tuple[str, ...]:
    """The categories (or settings) a `rules_changed` / `config_changed` row loosens."""
    out: list[str] = []
    for change in event.body.get("changes") or ():
        if not isinstance(change, Mapping):
            continue
        if event.kind == Kind.RULES_CHANGED and change.get("loosening"):
            out.append(str(change.get("category") or "rules"))
        elif event.kind == Kind.CONFIG_CHANGED and change.get("loosening") is True:
            out.append(str(change.get("what") or "settings"))
    return tuple(dict.fromkeys(out))


def _block(scan: _Scan, event: Event) -> None:
    body = event.body
    if body.get("decision") != "block" or body.get("request") != "navigation":
        return
    if is_lookup(body):
        return
    category = body.get("category") if isinstance(body.get("category"), str) else None
    scan.blocks.append((event.time, event.seq, decisions_in(body), category, str(body["host"])))


def _hard_moments(
    settings: AlertSettings,
    blocks: Sequence[tuple[datetime, int, int, str | None, str]],
    hard_from: int,
    now: datetime,
) -> tuple[list[Item], int]:
    """Hard moments among the blocked visits: a window of M minutes holding N or more. Each
    visit counts in one hard moment at most; visits that can no longer make one are passed."""
    window = timedelta(minutes=settings.hard_minutes)
    items: list[Item] = []
    through = hard_from
    start = 0
    total = 0
    for end, (at, seq, count, _category, _host) in enumerate(blocks):
        total += count
        while at - blocks[start][0] > window:
            total -= blocks[start][2]
            start += 1
        if total >= settings.hard_count:
            group = blocks[start : end + 1]
            items.append(
                Item(
                    "hard_moment",
                    "blocked_visits",
                    seq,
                    group[0][0],
                    count=total,
                    categories=tuple(dict.fromkeys(c for *_, c, _ in group if c)),
                    domains=tuple(dict.fromkeys(h for *_, h in group)),
                )
            )
            through = seq
            start, total = end + 1, 0
    for at, seq, *_ in blocks:
        if seq > through and now - at > window:
            through = seq  # too old to join a later window: it can be passed
    return items, through


# -- words -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Words:
    """An alert's subject and text (the HTML is drawn from the text by the composer)."""

    subject: str
    text: str


def when_words(plan_: Plan, now: datetime, level: str) -> str:
    """How an alert places its events in time: the only time a `summary` alert gives."""
    if plan_.held_for_quiet and any(now - i.at > BATCH_WINDOW for i in plan_.items):
        return "earlier, during your quiet hours"
    if all(now - i.at <= BATCH_WINDOW for i in plan_.items):
        return "in the last 15 minutes"
    return "recently" if level == "summary" else "since the last alert"


def words(
    plan_: Plan,
    *,
    person: str,
    partner: str | None,
    device: str,
    level: str,
    zone: str,
    now: datetime,
) -> Words:
    """What the partner reads: short and kind, naming only what the level allows."""
    when = when_words(plan_, now, level)
    kinds = {i.trigger for i in plan_.items}
    lines = [f"Hello {partner or 'there'},", ""]
    hard = [i for i in plan_.items if i.trigger == "hard_moment"]
    weak = [i for i in plan_.items if i.trigger == "weakened"]
    chosen = [i for i in plan_.items if i.trigger == "alerts_on"]
    if hard:
        lines.append(f"{person} had a hard few minutes ({when}): Candor blocked several pages")
        lines.append("in a short time. A short message or call may help.")
        lines += [f"- {_detail(i, level, zone)}" for i in hard if level != "summary"]
        lines.append("")
    if weak:
        lines.append(f'Candor\'s protection on "{device}" was weakened {when}:')
        lines += [f"- {_weak_line(i, level, zone)}" for i in weak]
        lines.append(f"It may have a simple reason; {person} can tell you. Asking kindly helps.")
        lines.append("")
    if any(i.what == "on" for i in chosen):
        lines.append(f"{person} turned on immediate alerts for you: from now on a short note")
        lines.append("like this one comes soon after something worth a word happens.")
        lines.append("")
    elif chosen:
        lines.append(f"{person} widened your immediate alerts (what they cover, or when they")
        lines.append("come); the weekly report shows the settings.")
        lines.append("")
    lines += [
        "Alerts come at most once every 15 minutes; the weekly report lists them too.",
        f"-- Candor, on behalf of {person}",
    ]
    if "hard_moment" in kinds:
        subject = f"Candor: {person} had a hard few minutes"
    elif "weakened" in kinds:
        subject = f"Candor: protection on {device} was weakened"
    elif any(i.what == "on" for i in chosen):
        subject = f"Candor: {person} turned on immediate alerts"
    else:
        subject = f"Candor: {person} widened your immediate alerts"
    return Words(subject, "\n".join(lines) + "\n")


def _weak_line(item: Item, level: str, zone: str) -> str:
    text = WEAKENING.get(item.what, item.what)
    if level == "summary" or not item.categories:
        return _at(text, item, level, zone)
    return _at(f"{text}: {', '.join(item.categories)}", item, level, zone)


def _detail(item: Item, level: str, zone: str) -> str:
    text = f"{item.count} blocked pages"
    if item.categories:
        text += f" ({', '.join(item.categories)})"
    if item.domains:
        text += f": {', '.join(item.domains[:5])}"
    return _at(text, item, level, zone)


def _at(text: str, item: Item, level: str, zone: str) -> str:
    if level != "detailed":
        return text
    return f"{text} (at {item.at.astimezone(zone_of(zone)):%H:%M})"


def document(
    plan_: Plan,
    *,
    device: str,
    partner: Mapping[str, Any],
    level: str,
    now: datetime,
    chain_head: Mapping[str, Any] | None,
    when: str,
) -> dict[str, Any]:
    """The unsigned alert document (a `candor-notice/1` of kind `alert`), what is signed."""
    return {
        "schema": SCHEMA,
        "kind": "alert",
        "batch": plan_.batch,
        "device": device,
        "time": format_ts(now),
        "detail_level": level,
        "partner": dict(partner),
        "when": when,
        "items": [i.as_json(level) for i in plan_.items],
        "chain_head": dict(chain_head) if chain_head else None,
    }


def item_summary(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per kind of alert item ({"weakened": 1, "hard_moment": 2}), for the report."""
    out: dict[str, int] = {}
    for item in items:
        key = str(item.get("trigger"))
        out[key] = out.get(key, 0) + 1
    return out
