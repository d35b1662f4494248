"""`candor allow HOST --for 15m`: the honest escape hatch for an urgent false positive.

A grant lets one host (and its subdomains, or that host alone with `=host`) through at once, for
at most a day, and then ends by itself. Unlike an allowlist entry it is not delayed by the
cooling-off time, so it is kept short and is never quiet: each grant is journaled
(`allow_granted`), listed by `candor status` and shown in the weekly report.

Grants live in `state/allow.json`. The CLI writes the file; the running agent notices the change
within a second (`agent.policy.deadlines.DeadlineWatch` polls the file's stamp) and reloads, and
reloads again when a grant ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rules.model import Rule, RuleKind
from rules.syntax import RuleSyntaxError, parse_rule

GRANTS_STATE = "allow.json"
MAX_GRANT = timedelta(hours=24)
MIN_GRANT = timedelta(minutes=1)


class GrantError(ValueError):
    """The host or duration cannot be granted; the message says why."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One temporary allow: a host let through until a time."""

    host: str
    """`example.com` (with subdomains) or `=www.example.com` (that host only)."""
    granted_at: datetime
    until: datetime

    def rule(self) -> Rule:
        """The grant as an allowlist rule, named so a decision shows where it came from."""
        parsed = _parse_host(self.host)
        until = self.until.astimezone().strftime("%H:%M")
        return Rule(parsed.kind, parsed.value, source=f"candor allow, until {until}")

    def as_json(self) -> dict[str, Any]:
        """The grant as the grants file keeps it."""
        return {
            "host": self.host,
            "granted_at": self.granted_at.isoformat(),
            "until": self.until.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Grant:
        """A grant read back from the grants file."""
        return cls(
            host=str(raw["host"]),
            granted_at=datetime.fromisoformat(raw["granted_at"]),
            until=datetime.fromisoformat(raw["until"]),
        )


def grants_path(state_dir: Path) -> Path:
    """Where the temporary allows are kept."""
    return state_dir / GRANTS_STATE


def normalise_grant_host(text: str) -> str:
    """The host as a grant stores it; raises GrantError for anything that is not a host name."""
    return _parse_host(text).text


def _parse_host(text: str) -> Rule:
    cleaned = text.strip()
    if "://" in cleaned or "/" in cleaned.removeprefix("="):
        raise GrantError(f"'{text}' is a web address; give just the host name, like example.com.")
    try:
        rule = parse_rule(cleaned.removeprefix("*."))
    except RuleSyntaxError as exc:
        raise GrantError(f"'{text}' is not a host name: {exc}.") from None
    if rule is None or rule.kind not in (RuleKind.DOMAIN, RuleKind.EXACT) or rule.exception:
        raise GrantError(f"'{text}' is not a host name; give one like example.com.")
    return rule


def check_duration(duration: timedelta) -> timedelta:
    """The duration, if a temporary allow may last that long; GrantError if not."""
    if duration < MIN_GRANT:
        raise GrantError("A temporary allow lasts at least 1 minute.")
    if duration > MAX_GRANT:
        raise GrantError(
            "A temporary allow lasts at most 24h. For longer, add the host to the allowlist "
            "in config.toml (the cooling-off delay then applies)."
        )
    return duration


def read_grants(state_dir: Path) -> list[Grant]:
    """Every grant in the file; an unreadable file counts as none."""
    try:
        raw = json.loads(grants_path(state_dir).read_text("utf-8"))
        return [Grant.from_json(item) for item in raw["grants"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def active_grants(state_dir: Path, now: datetime) -> list[Grant]:
    """The grants in force at `now`."""
    return [g for g in read_grants(state_dir) if g.granted_at <= now < g.until]


def add_grant(state_dir: Path, host: str, duration: timedelta, now: datetime) -> Grant:
    """Record a grant from `now`; a grant for the same host is replaced, ended ones dropped."""
    grant = Grant(normalise_grant_host(host), now, now + check_duration(duration))
    kept = [g for g in read_grants(state_dir) if g.until > now and g.host != grant.host]
    _write(state_dir, [*kept, grant])
    return grant


def end_grant(state_dir: Path, host: str, now: datetime) -> Grant | None:
    """End a grant early (tightening, so at once); the grant that was ended, or None."""
    name = normalise_grant_host(host)
    grants = [g for g in read_grants(state_dir) if g.until > now]
    ended = next((g for g in grants if g.host == name), None)
    if ended is not None:
        _write(state_dir, [g for g in grants if g is not ended])
    return ended


def _write(state_dir: Path, grants: Sequence[Grant]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = grants_path(state_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = {"grants": [g.as_json() for g in sorted(grants, key=lambda g: g.until)]}
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
