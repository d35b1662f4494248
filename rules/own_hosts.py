"""A large rules file of the person's own, its plain host lines set apart from the other rules.

A file of two million host lines parsed into `Rule` objects costs gigabytes and minutes; its host
lines are better kept as trie keys (`rules.compiled_list.host_key`), each with its line number,
and compiled like an imported list. Every other line (paths, keywords, regexes, `@@` exceptions,
`$important`, `$match-case`) is parsed exactly as `rules.syntax.parse_rules_text` parses it, and
a host line means the same rule either way: the fast path takes only names `fast_host` accepts
as already normal, everything else goes through `parse_rule`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from rules.compiled_list import host_key
from rules.lists.entries import fast_host
from rules.model import ParsedRules, Rejection, Rule, RuleKind
from rules.syntax import RuleSyntaxError, parse_rule, rules_text_lines, shorten


@dataclass(slots=True)
class SplitRules:
    """A rules file's plain host rules as trie keys with their lines, and everything else."""

    keys: list[str] = field(default_factory=list)
    """Trie keys of the plain host rules (a host, or `=host`), in file order, repeats kept."""
    lines: array = field(default_factory=lambda: array("I"))
    """The line of each of `keys`."""
    rest: ParsedRules = field(default_factory=ParsedRules)
    """Every other rule, as `Rule` objects named `file:line`, and the lines refused."""
    rest_lines: list[tuple[int, str]] = field(default_factory=list)
    """(line, text) of each rule in `rest.rules`, so a cached copy can be parsed again."""


def is_plain_host(rule: Rule) -> bool:
    """A host rule with nothing on it (no `@@`, no `$important`): one trie key says it all."""
    return rule.kind in (RuleKind.DOMAIN, RuleKind.EXACT) and not (rule.exception or rule.important)


def split_rules_text(text: str, file: str) -> SplitRules:
    """Sort a rules file's lines into host keys and other rules; one bad line never stops the
    rest. The text is read as `parse_rules_text` reads it (BOM, CR and CRLF line ends)."""
    out = SplitRules()
    seen: set[Rule] = set()
    keys, lines = out.keys, out.lines
    for lineno, line in enumerate(rules_text_lines(text), 1):
        if fast_host(line) is not None:
            keys.append(line[::-1] + ".")
            lines.append(lineno)
            continue
        try:
            rule = parse_rule(line, f"{file}:{lineno}")
        except RuleSyntaxError as exc:
            out.rest.rejected.append(Rejection(file, lineno, shorten(line), str(exc)))
            continue
        if rule is None:
            if line.strip():
                out.rest.skipped["comment"] += 1
        elif is_plain_host(rule):
            keys.append(host_key(rule.text))
            lines.append(lineno)
        elif rule in seen:
            out.rest.skipped["duplicate"] += 1
        else:
            seen.add(rule)
            out.rest.rules.append(rule)
            out.rest_lines.append((lineno, line))
    return out


def rules_again(rest_lines: list[tuple[int, str]], file: str) -> list[Rule]:
    """The rules `split_rules_text` kept apart, parsed again from their (line, text): how a
    cached copy of a large file's other rules is read back. Raises `RuleSyntaxError`."""
    rules = []
    for lineno, text in rest_lines:
        rule = parse_rule(text, f"{file}:{lineno}")
        if rule is not None:
            rules.append(rule)
    return rules
