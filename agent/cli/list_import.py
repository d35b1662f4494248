"""What `candor rules import` and `candor lists` share: the list formats offered, a category
name as typed, and, in words, what a change to an imported list loosens."""

from __future__ import annotations

import re

from agent.cli.console import UserError, out
from agent.config import Home, format_duration, last_good_config
from agent.policy.ledger import Ledger
from agent.policy.rulebook import load_rules
from rules.lists.formats import ListFormat

CATEGORY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

LIST_FORMATS = [f.value for f in ListFormat]
"""The `--format` choices (default: detected)."""


def category_name(name: str) -> str:
    """A category name as typed, checked and lower-cased (a UserError if it cannot be one)."""
    name = name.strip().lower()
    if not CATEGORY_RE.fullmatch(name):
        raise UserError(
            f"'{name}' is not a usable category name: use lower-case letters, digits, '-' or '_'."
        )
    return name


def say_loosening(home: Home, names: list[str], before: Ledger) -> None:
    """Tell the person which parts of these imported lists make filtering less strict: their
    `@@` exceptions and the entries a new version lost. Both wait for the cooling-off delay
    and are in the weekly report. Compared with `before` (what was in force before the
    command), since a running agent may already have applied the new version."""
    config = last_good_config(home).config  # the command itself said if config.toml is broken
    loaded = load_rules(home, config, ledger=before, with_grants=False)
    delay = (loaded.effective_config or config).cooling_off
    wait = (
        f"so they wait for the cooling-off delay ({format_duration(delay)}) before they apply"
        if delay
        else "so they apply at once"
    )
    for name in names:
        short = name.rsplit("/", 1)[-1]
        exceptions = len(loaded.lists.get(name, {}).get("exceptions", ()))
        applied = loaded.ledger.applied
        new = applied is None or name not in applied.list_hashes
        if exceptions and new:
            out.print(
                f"{short} has {exceptions:,} exception{'s' if exceptions != 1 else ''} (@@ "
                f"rules): they make filtering less strict, {wait}, and your weekly report "
                "lists them.",
                markup=False,
            )
        for change in loaded.list_changes:
            if change.name == name and change.removed:
                out.print(
                    f"{short} lost {change.removed:,} of its {change.before:,} entries: that "
                    f"makes filtering less strict, {wait.replace('they apply', 'it applies')}, "
                    "and your weekly report says so.",
                    markup=False,
                )
