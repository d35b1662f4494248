"""The report's words for unlock codes: every use and every refusal, by number, at every level.

This is integrity, not browsing: the partner must be able to see a code used that they never
gave, so each use is named ("code 7 of sheet 2"), with what it unlocked. At the summary level
the sites are not named (only how many changes, or "one site"); at levels that share domains
they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from agent.journal import Event, Journal, Kind, parse_ts
from agent.journal.loosening import loosening_words
from reporter.scope import Scope
from reporter.unlock_sheet import code_words

_REFUSED = {
    "wrong": "a wrong unlock code was typed",
    "no_sheet": "an unlock code was typed before any sheet was sent",
}


def unlock_words(journal: Journal, scope: Scope, share: bool) -> list[str]:
    """One sentence per code used or refused in the report's rows, and per sheet sent again
    because its message was lost (a sheet sent as asked reaches the partner by itself)."""
    kinds = [Kind.UNLOCK_USED, Kind.UNLOCK_REFUSED, Kind.UNLOCK_SHEET_ISSUED]
    out: list[str] = []
    for event in scope.rows(journal, kinds):
        when = _at(event.ts, scope.zone)
        if event.kind == Kind.UNLOCK_USED:
            out.append(f"{when}: {used_words(event.body, share, scope.zone)}")
        elif event.kind == Kind.UNLOCK_REFUSED:
            out.append(f"{when}: {refused_words(event.body)}")
        elif event.body.get("reason") == "message_lost":
            out.append(f"{when}: {sheet_words(event)}")
    return out


def used_words(body: Mapping[str, Any], share: bool, zone: tzinfo) -> str:
    """What one code unlocked."""
    code = _code(body)
    if body.get("unlocked") == "allow":
        site = str(body.get("host")) if share and body.get("host") else "one site"
        until = f", until {_at(str(body['until']), zone)}" if body.get("until") else ""
        return f"{code} was used to allow {site} for {body.get('duration', 'a while')}{until}."
    items = [i for i in body.get("pending") or () if isinstance(i, Mapping)]
    if share and items:
        named = "; ".join(
            loosening_words(str(i.get("what")), i.get("category"), i.get("value"), done=True)
            for i in items
        )
        return f"{code} was used to apply early what waited for the cooling-off delay: {named}."
    count = "1 change" if len(items) == 1 else f"{len(items)} changes"
    return f"{code} was used to apply {count} early, without waiting for the cooling-off delay."


def refused_words(body: Mapping[str, Any]) -> str:
    """A refused code, in plain words."""
    reason = str(body.get("reason"))
    if reason == "used" and isinstance(body.get("number"), int):
        return f"{_code(body)}, already used, was typed again and refused."
    if reason == "voided" and isinstance(body.get("number"), int):
        return f"{_code(body)}, from a sheet that was replaced, was typed and refused."
    return _REFUSED.get(reason, "an unlock code was refused") + " and refused."


def sheet_words(event: Event) -> str:
    """A new sheet sent to the partner, and why."""
    body = event.body
    number = body.get("sheet")
    old = body.get("replaces")
    if body.get("reason") == "message_lost" and old:
        return (
            f"sheet {old} of unlock codes was lost before it was delivered, so Candor voided it "
            f"and sent sheet {number} instead."
        )
    tail = f"; sheet {old} no longer works" if old else ""
    return f"sheet {number} of unlock codes was sent to the partner{tail}."


def _code(body: Mapping[str, Any]) -> str:
    sheet, number = body.get("sheet"), body.get("number")
    if isinstance(sheet, int) and isinstance(number, int):
        return code_words(sheet, number).capitalize()
    return "An unlock code"


def _at(ts: str, zone: tzinfo) -> str:
    try:
        return parse_ts(ts).astimezone(zone).strftime("%a %d %b %H:%M")
    except (TypeError, ValueError):
        return ts
