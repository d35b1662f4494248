"""Reload diffs: which edits tighten and which loosen, with exceptions counting backwards."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules.changes import CategoryChange, diff_identities


def test_no_change_no_entries() -> None:
    same = {"adult": frozenset({"a.test", "keyword: sex"})}
    assert diff_identities(same, dict(same)) == []
    assert diff_identities({}, {}) == []


def test_added_rules_tighten_removed_rules_loosen() -> None:
    old = {"adult": frozenset({"a.test", "b.test"}), "gambling": frozenset({"bet.test"})}
    new = {"adult": frozenset({"a.test", "c.test", "=d.test"}), "gambling": frozenset({"bet.test"})}
    [change] = diff_identities(old, new)
    assert change == CategoryChange("adult", added=("=d.test", "c.test"), removed=("b.test",))
    assert change.tightening == ("=d.test", "c.test")
    assert change.loosening == ("b.test",)
    assert change.loosens


def test_exceptions_work_the_other_way_round() -> None:
    old = {"adult": frozenset({"tube.test", "@@ok.tube.test"})}
    new = {"adult": frozenset({"tube.test", "@@fine.tube.test"})}
    [change] = diff_identities(old, new)
    assert change.added == ("@@fine.tube.test",)
    assert change.removed == ("@@ok.tube.test",)
    assert change.loosening == ("@@fine.tube.test",)
    assert change.tightening == ("@@ok.tube.test",)


def test_only_tightening_does_not_loosen() -> None:
    [change] = diff_identities({"adult": frozenset()}, {"adult": frozenset({"x.test"})})
    assert change.tightening == ("x.test",)
    assert change.loosening == ()
    assert not change.loosens


def test_whole_categories_appearing_and_disappearing() -> None:
    old = {"adult": frozenset({"a.test"}), "social": frozenset({"s.test", "@@ok.s.test"})}
    new = {
        "adult": frozenset({"a.test"}),
        "gambling": frozenset({"bet.test"}),
        "empty": frozenset(),
    }
    changes = diff_identities(old, new)
    assert [c.category for c in changes] == ["empty", "gambling", "social"]
    empty, gambling, social = changes
    assert empty == CategoryChange("empty", appeared=True)
    assert not empty.loosens
    assert gambling == CategoryChange("gambling", added=("bet.test",), appeared=True)
    assert gambling.tightening == ("bet.test",)
    assert social.disappeared and social.loosens
    assert social.removed == ("@@ok.s.test", "s.test")
    assert social.loosening == ("s.test",)
    assert social.tightening == ("@@ok.s.test",)


_texts = st.frozensets(st.sampled_from(["a", "b", "@@c", "@@d", "e $important"]))
_identities = st.dictionaries(st.sampled_from(["adult", "gambling", "social"]), _texts)


@given(old=_identities, new=_identities)
def test_property_diff_accounts_for_every_rule(old, new) -> None:
    changes = {c.category: c for c in diff_identities(old, new)}
    assert list(changes) == sorted(changes)
    for category in old.keys() | new.keys():
        before, after = old.get(category, frozenset()), new.get(category, frozenset())
        change = changes.get(category)
        if change is None:
            assert before == after and (category in old) == (category in new)
            continue
        assert set(change.added) == after - before
        assert set(change.removed) == before - after
        assert set(change.tightening) | set(change.loosening) == set(change.added) | set(
            change.removed
        )
        assert not set(change.tightening) & set(change.loosening)
