"""Reader for lists written in Candor's own rule syntax (the syntax of the person's rule files).

The rule parser reads the whole text at once, as it does for the person's own files; what it
yields is sorted into list entries here.
"""

from __future__ import annotations

from rules.lists.lines import Progress, decode_text
from rules.model import ImportedEntries, ParsedRules, Rejection, RuleKind
from rules.syntax import parse_rules_text


def read_candor(data: bytes, name: str, progress: Progress | None = None) -> ImportedEntries:
    """A list in Candor's syntax as entries; `progress` hears once, with every byte read."""
    if progress is not None:
        progress(len(data))
    return _from_rules(parse_rules_text(decode_text(data), name))


def _from_rules(parsed: ParsedRules) -> ImportedEntries:
    """Candor's own rule syntax as list entries.

    Keyword rules and `$important` on anything but a domain have no place in `ImportedEntries`,
    so those lines are rejected with a reason rather than imported with a different meaning.
    """
    out = ImportedEntries(rejected=parsed.rejected, skipped=parsed.skipped)
    for rule in parsed.rules:
        if rule.match_case:
            reason = "$match-case works in your own rules only; a list's paths ignore case"
            _reject_rule(out, rule.source, rule.text, reason)
        elif rule.exception:
            out.exceptions.append(rule)
        elif rule.kind is RuleKind.KEYWORD:
            reason = "keyword rules cannot come from a list; add them to your own rules"
            _reject_rule(out, rule.source, rule.text, reason)
        elif rule.important:
            if rule.kind is RuleKind.DOMAIN:
                out.important.append(rule.value)
            else:
                reason = "$important works on domains only in a list"
                _reject_rule(out, rule.source, rule.text, reason)
        elif rule.kind is RuleKind.DOMAIN:
            out.domains.append(rule.value)
        elif rule.kind is RuleKind.EXACT:
            out.exact.append(rule.value)
        elif rule.kind is RuleKind.PATH:
            out.paths.append(rule.value)
        else:
            out.regexes.append(rule.value)
    return out


def _reject_rule(out: ImportedEntries, source: str, text: str, reason: str) -> None:
    file, _, line = source.rpartition(":")
    out.rejected.append(Rejection(file, int(line), text, reason))
