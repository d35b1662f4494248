"""What a reload changed in the person's rules, as data: which edits tighten, which loosen.

Rules are compared by identity (category, canonical rule text), never by line number, so moving
or re-ordering lines changes nothing. Adding a block rule tightens and removing one loosens;
`@@` exceptions work the other way round: adding an exception loosens, removing one tightens.
Loosening is what a cooling-off delay and the weekly report care about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def is_exception(text: str) -> bool:
    """Whether a rule identity is an `@@` exception (removing one tightens)."""
    return text.startswith("@@")


@dataclass(frozen=True, slots=True)
class CategoryChange:
    """The rule texts added to and removed from one category, sorted.

    `appeared` / `disappeared` say the whole category is new or gone (its rule file was created
    or deleted); its rules are then all in `added` or all in `removed`.
    """

    category: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    appeared: bool = False
    disappeared: bool = False

    @property
    def tightening(self) -> tuple[str, ...]:
        """Rules that now block more: added rules and removed exceptions."""
        return _sorted(
            [t for t in self.added if not is_exception(t)]
            + [t for t in self.removed if is_exception(t)]
        )

    @property
    def loosening(self) -> tuple[str, ...]:
        """Rules that now block less: removed rules and added exceptions."""
        return _sorted(
            [t for t in self.removed if not is_exception(t)]
            + [t for t in self.added if is_exception(t)]
        )

    @property
    def loosens(self) -> bool:
        """Whether anything in this category got looser."""
        return bool(self.loosening) or self.disappeared


def diff_identities(
    old: Mapping[str, frozenset[str]], new: Mapping[str, frozenset[str]]
) -> list[CategoryChange]:
    """One `CategoryChange` per category whose rules differ, sorted by category name."""
    changes = []
    for category in sorted(old.keys() | new.keys()):
        before = old.get(category)
        after = new.get(category)
        added = _sorted((after or frozenset()) - (before or frozenset()))
        removed = _sorted((before or frozenset()) - (after or frozenset()))
        appeared = before is None
        disappeared = after is None
        if added or removed or appeared or disappeared:
            changes.append(CategoryChange(category, added, removed, appeared, disappeared))
    return changes


def _sorted(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(texts))
