"""A loosening that waits for the cooling-off delay: its kinds, and the words for it everywhere.

The agent journals waiting and finished loosenings (`pending_until`, `took_effect`), `candor
status` lists them, the block page and `candor rules test` say a stricter setting is still held,
and the weekly report tells the partner. All of them say it in the words below, so the person and
the partner read the same thing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Loosening(StrEnum):
    """The kinds of loosening that wait (journaled as `what`)."""

    RULE_REMOVED = "rule_removed"
    EXCEPTION_ADDED = "exception_added"
    LIST_REMOVED = "list_removed"
    LIST_SHORTENED = "list_shortened"
    """An imported list lost entries (its file was replaced or updated): the old version waits."""
    ACTION_LOWERED = "action_lowered"
    ALLOWLIST_ADDED = "allowlist_added"
    NEVER_INSPECT_ADDED = "never_inspect_added"
    SAFESEARCH_OFF = "safesearch_off"
    SEARCH_CAPTURE_OFF = "search_capture_off"
    COOLING_OFF_SHORTENED = "cooling_off_shortened"
    RECOGNISER_OFF = "recogniser_off"
    """A category's name recogniser was turned off (`recognise = false`)."""


_SUBJECTS: dict[str, tuple[str, str, bool]] = {
    # what: (subject naming the value, subject without it, takes " in <category>")
    Loosening.RULE_REMOVED: ("the rule {value}", "a rule", True),
    Loosening.EXCEPTION_ADDED: ("the exception {value}", "an exception", True),
    Loosening.LIST_REMOVED: ("the imported list {value}", "an imported list", True),
    Loosening.LIST_SHORTENED: ("the imported list {value}", "an imported list", True),
    Loosening.ACTION_LOWERED: ("the action of {category}", "a category's action", False),
    Loosening.ALLOWLIST_ADDED: ("{value}", "a site", False),
    Loosening.NEVER_INSPECT_ADDED: ("{value}", "a site", False),
    Loosening.SAFESEARCH_OFF: ("SafeSearch", "SafeSearch", False),
    Loosening.SEARCH_CAPTURE_OFF: ("checking search terms", "checking search terms", False),
    Loosening.COOLING_OFF_SHORTENED: ("the cooling-off delay", "the cooling-off delay", False),
    Loosening.RECOGNISER_OFF: (
        "recognising {category} sites by their names",
        "recognising sites by their names",
        False,
    ),
}

OWN_FILE_PREFIX = "rules/"
"""How a large rules file of the person's own is named where imported lists are: compiled like
one (`agent.policy.own_rules`), `rules/adult.txt`."""
_LIST_WHATS = (Loosening.LIST_REMOVED, Loosening.LIST_SHORTENED)

_VERBS: dict[str, str] = {
    Loosening.RULE_REMOVED: "removed",
    Loosening.EXCEPTION_ADDED: "added",
    Loosening.LIST_REMOVED: "removed",
    Loosening.LIST_SHORTENED: "shortened",
    Loosening.ACTION_LOWERED: "lowered",
    Loosening.ALLOWLIST_ADDED: "added to the allowlist",
    Loosening.NEVER_INSPECT_ADDED: "added to the never-inspect list",
    Loosening.SAFESEARCH_OFF: "turned off",
    Loosening.SEARCH_CAPTURE_OFF: "turned off",
    Loosening.COOLING_OFF_SHORTENED: "shortened",
    Loosening.RECOGNISER_OFF: "turned off",
}


def loosening_words(
    what: str, category: str | None = None, value: str | None = None, *, done: bool = False
) -> str:
    """ "the rule x.test in adult is being removed" while it waits, "... was removed" once done.

    Without `value` (a report at the summary level) the thing is not named: "a rule is being
    removed"; without `category` the category is left to the caller to show.
    """
    if what not in _SUBJECTS:
        return "a change was made" if done else "a change is waiting"
    named, unnamed, in_category = _SUBJECTS[what]
    if value and value.startswith(OWN_FILE_PREFIX) and what in _LIST_WHATS:
        named = "the rules file {value}"  # a large rules file of the person's own
    if what in (Loosening.ACTION_LOWERED, Loosening.RECOGNISER_OFF):
        subject = named.format(category=category) if category else unnamed
    else:
        subject = named.format(value=_short(what, value)) if value else unnamed
        if in_category and category:
            subject += f" in {category}"
    tense = "was" if done else "is being"
    return f"{subject} {tense} {_VERBS[what]}"


def _short(what: str, value: str) -> str:
    """An imported list is named by its file name, not its path under the home."""
    if what in (Loosening.LIST_REMOVED, Loosening.LIST_SHORTENED):
        return value.rsplit("/", 1)[-1]
    return value


def held_until_words(until: datetime) -> str:
    """Why a stricter setting still applies: said on the block page and by `candor rules test`."""
    when = until.astimezone().strftime("%A %d %B %Y at %H:%M")
    return (
        f"you chose to loosen this, and the stricter setting stays in force until {when}: "
        "that is the cooling-off time you set"
    )
