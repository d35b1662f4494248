"""`candor status` in plain lines for the terminal; the JSON form (`Status.as_json`) has every
detail."""

from __future__ import annotations

from datetime import datetime

from agent.config import format_duration
from agent.health.status import Status, ago


def format_status(status: Status) -> list[str]:
    """Plain lines for the terminal; the JSON form has every detail."""
    a = status.agent
    lines: list[str] = []
    if a.running:
        where = f"listening on {a.address}" if a.address else "starting"
        beat = f", last heartbeat {ago(status.now, a.last_heartbeat)}" if a.last_heartbeat else ""
        lines.append(f"Candor is running (pid {a.pid}), {where}{beat}.")
    elif a.stale_pid_file:
        lines.append("Candor is NOT running: it stopped without shutting down cleanly.")
    else:
        lines.append("Candor is not running.")
    lines.append("")
    delay = status.cooling_off
    lines.append(
        f"Rules (cooling-off delay: {format_duration(delay)}):"
        if delay
        else "Rules (no cooling-off delay: changes apply at once):"
    )
    for row in status.categories:
        action = row["action"]
        if "action_in_force" in row:
            until = _when(datetime.fromisoformat(row["action_pending_until"]))
            action = f"{row['action_in_force']} until {until}, then {action}"
        extra = f" + {row['list_entries']:,} imported" if row["list_entries"] else ""
        if row.get("removed"):
            lines.append(
                f"  {row['category']:<16} {action}: its rules file was deleted; its rules stay "
                "in force until then"
            )
            continue
        lines.append(f"  {row['category']:<16} {action:<10} {row['rules']:>6} rules{extra}")
    lines.append("")
    decisions = status.today.get("decisions", [])
    if decisions:
        lines.append("Today:")
        for row in decisions:
            lines.append(f"  {row['category']:<16} {row['decision']:<10} {row['count']:>6}")
        others = {k: n for k, n in status.today.get("events", {}).items() if k != "decision"}
        if others:
            lines.append("  also: " + ", ".join(kind_words(k, n) for k, n in others.items()))
    else:
        lines.append("Today: nothing blocked, warned or logged.")
    lines.extend(_lookup_lines(status))
    lines.extend(_list_lines(status))
    if status.pending:
        lines.append("")
        lines.append("Waiting for the cooling-off delay (stricter until then):")
        for p in status.pending:
            lines.append(f"  {_when(p.until)}: {p.describe()}")
    if status.grants:
        lines.append("")
        lines.append("Temporary allows:")
        for g in status.grants:
            lines.append(f"  {g.host} until {_when(g.until)}")
    lines.append("")
    if status.problems:
        lines.append("Needs attention:")
        for p in status.problems:
            lines.append(f"  - {p.what}")
            lines.append(f"    {p.fix}")
    else:
        lines.append("No problems found.")
    return lines


KIND_WORDS: dict[str, tuple[str, str]] = {
    "search": ("search checked", "searches checked"),
    "warn_continue": ("time you continued past a pause", "times you continued past a pause"),
    "unblock_request": ("site you said was a mistake", "sites you said were a mistake"),
    "allow_granted": ("temporary allow", "temporary allows"),
    "pinned_passthrough": (
        "app that would not accept Candor's certificate",
        "apps that would not accept Candor's certificate",
    ),
    "bypass_suspected": ("possible way around Candor", "possible ways around Candor"),
}
"""Today's counted event kinds, in words (one, several): `candor status` is read by a person,
not a script (the JSON form keeps the kinds)."""


def kind_words(kind: str, count: int) -> str:
    """`count` events of `kind` in words, e.g. "2 temporary allows"."""
    one, several = KIND_WORDS.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))
    return f"{count} {one if count == 1 else several}"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%a %d %b %H:%M")


def _list_lines(status: Status) -> list[str]:
    """Each imported or subscribed list: its size, when it was last refreshed, its state."""
    if not status.lists:
        return []
    lines = ["", "Lists:"]
    for row in status.lists:
        entries = f"{row['entries']:,}" if row["entries"] is not None else "-"
        when = row["refreshed"] or "-"
        name = row["category"] + "/" + row["name"]
        lines.append(f"  {name:<40} {entries:>8}  {when:<10}  {row['status']}")
    return lines


def _lookup_lines(status: Status) -> list[str]:
    """Today's blocked names looked up through Candor's DNS: apart, since they are not pages."""
    lookups = status.today.get("lookups_blocked")
    return (
        [f"  Blocked names looked up by programs (DNS, not visits): {lookups}"] if lookups else []
    )
