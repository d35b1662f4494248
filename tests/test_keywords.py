"""Whole-word keyword search: the word boundaries people expect, in URLs and search terms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.keywords import KeywordIndex


def found(index: KeywordIndex[str], text: str) -> set[str]:
    return {word for word, _ in index.find(text)}


@pytest.fixture
def sex() -> KeywordIndex[str]:
    return KeywordIndex([("sex", "adult")])


@pytest.mark.parametrize(
    "text",
    [
        "free-sex-videos",
        "q=sex+tips",
        "SEX.example",
        "https://example.com/Sex",
        "sex",
        "a_sex_b",
        "/search?q=free%20sex",
        "/search?q=free%2Dsex%2Dvideos",
        "x?q=s%65x",
    ],
)
def test_whole_word_matches(sex: KeywordIndex[str], text: str) -> None:
    assert sex.find(text) == [("sex", "adult")]


@pytest.mark.parametrize(
    "text",
    ["essex", "sexy", "casinobonusesexpert.com", "freespinsexpert.nu", "sex2", "2sex", "sexé", ""],
)
def test_never_inside_a_longer_word(sex: KeywordIndex[str], text: str) -> None:
    assert sex.find(text) == []


def test_non_ascii_text_and_keywords() -> None:
    index = KeywordIndex([("секс", "adult"), ("porn", "adult")])
    assert found(index, "https://пример.рф/секс-видео") == {"секс"}
    assert found(index, "/Секс") == {"секс"}
    assert found(index, "/сексуальный") == set()
    assert found(index, "/café-porn") == {"porn"}
    assert found(index, "/caféporn") == set()
    assert found(index, "/%D1%81%D0%B5%D0%BA%D1%81?q=1") == {"секс"}


def test_several_values_per_word_and_first_occurrence_order() -> None:
    index = KeywordIndex([("casino", "gambling"), ("poker", "gambling"), ("casino", "ads")])
    assert index.find("poker and casino and poker") == [
        ("poker", "gambling"),
        ("casino", "gambling"),
        ("casino", "ads"),
    ]


def test_keywords_are_case_insensitive() -> None:
    index = KeywordIndex([("Casino", 1)])
    assert index.find("BEST-CASINO") == [("casino", 1)]


def test_phrases_keep_word_boundaries_at_their_ends() -> None:
    index = KeywordIndex([("free sex", 1), ("18+", 2)])
    assert found(index, "q=free sex tips") == {"free sex"}
    assert found(index, "q=free%20sex") == {"free sex"}
    assert found(index, "q=carefree sex") == set()
    assert found(index, "q=free sexy") == set()
    assert found(index, "only 18+ here") == {"18+"}
    assert found(index, "only 18+x") == {"18+"}
    assert found(index, "only 118+") == set()


def test_empty_index_finds_nothing() -> None:
    index: KeywordIndex[int] = KeywordIndex([])
    assert len(index) == 0
    assert index.find("anything at all") == []


_word = st.text(alphabet="abcdefxyz0189", min_size=1, max_size=6)
_text = st.text(alphabet="abcdefxyz0189-./?=+_ %É", max_size=40)


@given(word=_word, text=_text)
def test_property_matches_like_a_word_boundary_regex(word: str, text: str) -> None:
    """Reference: the word occurs with no letter or digit on either side (after %-decoding)."""
    from urllib.parse import unquote

    decoded = unquote(text).lower() if "%" in text else text.lower()
    expected = re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", decoded) is not None
    assert bool(KeywordIndex([(word, 0)]).find(text)) is expected
