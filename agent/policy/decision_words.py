"""A decision in words: which rule decided, and one plain sentence of what happens.

`candor rules test`, `candor rules watch` and the status page's "why was this blocked?" all say
it the same way, from this one place.
"""

from __future__ import annotations

from agent.journal.loosening import held_until_words
from rules.help_seeking import HELP_SEARCH_SOURCE
from rules.help_sites import HELP_LIST_SOURCE
from rules.model import Decision


def reason(decision: Decision) -> str:
    """Which rule, list or recogniser decided, in a few words (or that nothing did)."""
    if decision.source == HELP_SEARCH_SOURCE:
        return f"help-seeking search ({decision.rule}): words never close it"
    if decision.source == HELP_LIST_SOURCE:
        return f"help list: {decision.rule} is a help or recovery site"
    if decision.rule is None:
        return decision.source or "no rule matches"
    rule = decision.rule
    if decision.category is None:
        return f"allowlist entry {rule} ({decision.source})"
    if rule.startswith("@@"):
        what = "exception"
    elif rule.startswith("keyword:"):
        what, rule = "keyword", rule.removeprefix("keyword:").strip()
    elif rule.startswith("/"):
        what = "regex"
    elif "/" in rule:
        what = "path rule"
    else:
        what = "host rule"
    return f"{what} '{rule}' in {decision.category} ({decision.source})"


def explain(decision: Decision) -> str:
    """One plain sentence: what would happen and which rule decided it."""
    verbs = {
        "block": "Blocked",
        "warn": "Warned (the person may continue)",
        "log": "Allowed and recorded",
        "allow": "Allowed",
    }
    line = verbs[decision.decision]
    if decision.source == HELP_SEARCH_SOURCE:
        return f"{line}: a search for help ({decision.rule}), which keyword rules never close."
    if decision.source == HELP_LIST_SOURCE:
        return f"{line}: {decision.rule} is on the help list of help and recovery sites."
    if decision.rule is None:
        return f"{line}: no rule matches."
    line += f" by the rule '{decision.rule}' ({decision.source})"
    if decision.category:
        line += f" in category '{decision.category}'"
        if decision.action and decision.action != decision.decision:
            line += f" (action {decision.action})"
    if decision.pending_until:
        line += "; " + held_until_words(decision.pending_until)
    return line + "."
