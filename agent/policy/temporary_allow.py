"""`candor allow HOST --for 15m --reason "..."`: the honest escape hatch for a false positive.

A grant lets one blocked or warned host (and its subdomains, or that host alone with `=host`)
through at once, for at most a day, and then ends by itself. Unlike an allowlist entry it is not
delayed by the cooling-off time, so it is kept narrow and is never quiet: never a public suffix
(`com`, `co.uk`), only a host a rule blocks or warns now, with a reason the person types, shown
by `candor status` and in the weekly report.

A grant exists only as journal rows (`allow_granted`, and `allow_ended` when ended early): the
agent and every command rebuild the grants from them (`agent.policy.ledger`). `state/allow.json`
is a cache of those rows for people to read; Candor never obeys it. A grant ends when the wall
clock reaches its end or when that much real time has passed (`agent.policy.elapsed`), whichever
comes first, so a clock set back does not stretch it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from agent.config import format_duration
from agent.journal.clock import Uptime
from agent.policy.cooling_off import Moment
from agent.policy.elapsed import Anchor, anchor_of
from rules.model import Rule, RuleKind
from rules.syntax import RuleSyntaxError, parse_rule

if TYPE_CHECKING:  # the journal's rows are read only when there is a journal to read
    from agent.journal.events import AllowEnded, AllowGranted, Event

GRANTS_STATE = "allow.json"
MAX_GRANT = timedelta(hours=24)
MIN_GRANT = timedelta(minutes=1)
MAX_REASON = 300
"""Characters of a reason kept; a reason is a sentence, not a letter."""
ALLOW_KINDS = ("allow_granted", "allow_ended")
"""The journal kinds a temporary allow is made of (`agent.journal.events.Kind`)."""


class GrantError(ValueError):
    """The host, duration or reason cannot be granted; the message says why."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One temporary allow: a host let through until a time."""

    host: str
    """`example.com` (with subdomains) or `=www.example.com` (that host only)."""
    granted_at: datetime
    until: datetime
    reason: str | None = None
    boot_id: str | None = None
    uptime: float | None = None
    """The computer's uptime when granted: the allow ends once its length of real time passed."""

    def rule(self) -> Rule:
        """The grant as an allowlist rule, named so a decision shows where it came from."""
        parsed = _parse_host(self.host)
        until = self.until.astimezone().strftime("%H:%M")
        return Rule(parsed.kind, parsed.value, source=f"candor allow, until {until}")

    def active(self, now: Moment) -> bool:
        """In force at `now`: begun, and ended neither by the wall clock nor by real time."""
        return self.granted_at <= now.wall < self.ends(now)

    def ends(self, now: Moment) -> datetime:
        """When it ends, seen at `now`: its time on the wall clock, or sooner if its length of
        real time runs out first (a clock set back does not stretch it)."""
        if self.uptime is None:
            return self.until
        anchor = Anchor(self.boot_id, self.uptime, self.granted_at.timestamp())
        passed = now.elapsed.since(anchor, now.uptime, now.wall.timestamp())
        left = (self.until - self.granted_at).total_seconds() - passed
        return min(self.until, now.wall + timedelta(seconds=left))

    def as_json(self) -> dict[str, Any]:
        """The grant as `candor status --json` and the cache file show it."""
        out: dict[str, Any] = {
            "host": self.host,
            "granted_at": self.granted_at.isoformat(),
            "until": self.until.isoformat(),
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Grant:
        """A grant read back from the cache file (only to compare it with the journal)."""
        return cls(
            host=str(raw["host"]),
            granted_at=datetime.fromisoformat(raw["granted_at"]),
            until=datetime.fromisoformat(raw["until"]),
        )


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


@cache
def _public_suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList  # its bundled list: nothing is downloaded

    return PublicSuffixList()


def check_not_public_suffix(host: str) -> None:
    """GrantError if `host` is a public suffix (`com`, `co.uk`, `github.io`): everyone's sites."""
    name = host.removeprefix("=")
    if "." not in name or _public_suffixes().is_public(name):
        raise GrantError(
            f"'{name}' is a public suffix: allowing it would let through every site under it. "
            "Name the one site you need, like example.com."
        )


def check_duration(duration: timedelta, limit: timedelta = MAX_GRANT) -> timedelta:
    """The duration, if a temporary allow may last that long; GrantError if not. `limit`:
    longer than `MAX_GRANT` only with a partner's unlock code."""
    if duration < MIN_GRANT:
        raise GrantError("A temporary allow lasts at least 1 minute.")
    if limit != MAX_GRANT and duration > limit:
        raise GrantError(
            f"An allow with an unlock code lasts at most {format_duration(limit)}; the code "
            "was not used."
        )
    if duration > limit:
        raise GrantError(
            "A temporary allow lasts at most 24h. For longer, `candor rules allow HOST` adds "
            "the site to your allowlist (after your cooling-off time), or ask your partner for "
            "an unlock code (`candor unlock CODE --allow HOST --for 3d`)."
        )
    return duration


def check_reason(reason: str | None) -> str:
    """The reason, tidied; GrantError when there is none."""
    text = " ".join((reason or "").split())
    if not text:
        raise GrantError('Say why, in a few words: --reason "...". It is recorded with the allow.')
    return text[:MAX_REASON]


def grant_event(
    host: str,
    duration: timedelta,
    reason: str,
    now: datetime,
    uptime: Uptime,
    limit: timedelta = MAX_GRANT,
) -> AllowGranted:
    """The journal row that grants `host` from `now` (checked for form, length and reason)."""
    from agent.journal.events import AllowGranted

    name = normalise_grant_host(host)
    check_not_public_suffix(name)
    length = check_duration(duration, limit)
    anchor = anchor_of(uptime, now)
    return AllowGranted(
        host=name,
        duration=format_duration(length),
        seconds=int(length.total_seconds()),
        until=(now + length).isoformat(),
        granted_at=now.isoformat(),
        reason=check_reason(reason),
        boot_id=anchor.boot_id,
        uptime=anchor.uptime,
    )


def end_event(host: str, now: datetime) -> AllowEnded:
    """The journal row that ends `host`'s allow early."""
    from agent.journal.events import AllowEnded

    return AllowEnded(host=normalise_grant_host(host), ended_at=now.isoformat())


def grants_from_rows(rows: Iterable[Event]) -> list[Grant]:
    """The grants the journal's allow rows (newest first) describe: per host, the newest row
    decides (a new grant replaces an older one; an `allow_ended` ends it)."""
    seen: set[str] = set()
    grants: list[Grant] = []
    for row in rows:
        host = row.body.get("host")
        if not isinstance(host, str) or host in seen:
            continue
        seen.add(host)
        if row.kind == ALLOW_KINDS[0] and (grant := _grant_of(row)) is not None:
            grants.append(grant)
    return sorted(grants, key=lambda g: g.until)


def _grant_of(row: Event) -> Grant | None:
    body = row.body
    try:
        until = datetime.fromisoformat(str(body["until"]))
        granted = body.get("granted_at")
        granted_at = datetime.fromisoformat(granted) if isinstance(granted, str) else row.time
        host = normalise_grant_host(str(body["host"]))
    except (KeyError, ValueError):
        return None
    if until.tzinfo is None or granted_at.tzinfo is None:
        return None
    uptime = body.get("uptime")
    boot_id = body.get("boot_id")
    return Grant(
        host=host,
        granted_at=granted_at,
        until=until,
        reason=body.get("reason") if isinstance(body.get("reason"), str) else None,
        boot_id=boot_id if isinstance(boot_id, str) else None,
        uptime=float(uptime) if isinstance(uptime, int | float) else None,
    )
