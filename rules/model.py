"""The values every part of the rules engine passes around.

Rules are small frozen values so that a snapshot built from them can be shared between threads
without locks, and so that a rule's identity (category, canonical text) is just equality.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

Action = Literal["block", "warn", "log", "off"]
"""What a category does with a match; `off` keeps the rules but applies none of them."""

Verdict = Literal["block", "warn", "log", "allow"]
"""The final outcome for one request."""

ACTIONS: tuple[Action, ...] = ("block", "warn", "log", "off")
STRENGTH: dict[str, int] = {"off": 0, "log": 1, "warn": 2, "block": 3}
"""Higher is stricter. Used for precedence and to tell tightening from loosening."""


class RuleKind(StrEnum):
    DOMAIN = "domain"
    """The host and all its subdomains."""
    EXACT = "exact"
    """That host only."""
    PATH = "path"
    """A URL prefix, `host/path`, on the host and its subdomains; the path ignores case unless
    the rule says `$match-case`."""
    REGEX = "regex"
    """An RE2 pattern searched anywhere in the full URL."""
    KEYWORD = "keyword"
    """A whole word in host names, URLs and search terms."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One normalised rule.

    `value` holds the normalised payload: a host for DOMAIN and EXACT, `host/path` for PATH (the
    path normalised, and in lower case unless `match_case`), the pattern for REGEX and the
    lower-case word for KEYWORD. Equality ignores `source`, so moving a line in a file never looks
    like removing and re-adding a rule.
    """

    kind: RuleKind
    value: str
    exception: bool = False
    important: bool = False
    source: str = field(default="", compare=False)
    match_case: bool = False
    """A PATH rule that compares the path's case too (`$match-case`)."""

    @property
    def text(self) -> str:
        """The canonical rule text: the rule's identity within a category."""
        match self.kind:
            case RuleKind.DOMAIN:
                body = self.value
            case RuleKind.EXACT:
                body = "=" + self.value
            case RuleKind.PATH:
                body = self.value
            case RuleKind.REGEX:
                body = f"/{self.value}/"
            case RuleKind.KEYWORD:
                body = f"keyword: {self.value}"
        if self.exception:
            body = "@@" + body
        options = ["important"] if self.important else []
        if self.match_case:
            options.append("match-case")
        if options:
            body += " $" + ",".join(options)
        return body

    @property
    def host(self) -> str | None:
        """The host a host- or path-level rule names, else None."""
        if self.kind in (RuleKind.DOMAIN, RuleKind.EXACT):
            return self.value
        if self.kind is RuleKind.PATH:
            return self.value.split("/", 1)[0]
        return None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line that could not be used, with enough to find and fix it."""

    file: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"{self.file}:{self.line}: {self.reason}: {shown!r}"


@dataclass(slots=True)
class ParsedRules:
    """A user rule file after parsing: every usable rule, every rejected line."""

    rules: list[Rule] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class ImportedEntries:
    """An imported list in compact form, ready to compile.

    Big lists hold up to millions of hosts, so entries stay plain strings rather than `Rule`
    objects; the list's name is the source of every entry.
    """

    domains: list[str] = field(default_factory=list)
    """Hosts blocked with their subdomains."""
    exact: list[str] = field(default_factory=list)
    """Hosts blocked alone (hosts files imported with --exact)."""
    paths: list[str] = field(default_factory=list)
    """`host/path` URL prefixes."""
    regexes: list[str] = field(default_factory=list)
    exceptions: list[Rule] = field(default_factory=list)
    """`@@` rules; few in practice."""
    important: list[str] = field(default_factory=list)
    """Domains marked `$important`: they beat exceptions."""
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return (
            len(self.domains)
            + len(self.exact)
            + len(self.paths)
            + len(self.regexes)
            + len(self.exceptions)
            + len(self.important)
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "what happens to this request, and why".

    `action` is the category's configured action, `decision` the final outcome; they differ when
    an allowlist entry or an exception wins. `pending_until` is set when the deciding rule was
    removed but stays enforced until that time (a cooling-off delay).
    """

    decision: Verdict
    category: str | None = None
    action: Action | None = None
    rule: str | None = None
    source: str | None = None
    pending_until: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "decision": self.decision,
            "category": self.category,
            "action": self.action,
            "rule": self.rule,
            "source": self.source,
            "pending_until": self.pending_until.isoformat() if self.pending_until else None,
        }


ALLOW = Decision("allow")


@dataclass(frozen=True, slots=True)
class HostCheck:
    """The answer at TLS ClientHello time, before anything is decrypted.

    `intercept` says whether the connection must be decrypted (a host-level block or warn, a path
    rule, SafeSearch or search capture). `refuse` is set for a never-inspect host that is also
    blocked at host level: the tunnel is refused rather than decrypted.
    """

    decision: Decision
    intercept: bool
    refuse: bool = False
