"""Splitting a run-together host label into words, with a real multilingual frequency model.

Host names glue words together (`snapsexehot`, `therapistfinder`): whether `sex` is a word in
them depends on what the rest of the label spells, so the split is the most probable sequence
of words under a unigram model, found by dynamic programming (the classic "word ninja" method).
The model is the `wordfreq` package's own data, which ships inside its wheel: its large English
list (which knows place and family names such as Scunthorpe and Cockburn) and the small lists
of French, German, Spanish, Portuguese, Italian and Dutch,
merged by taking each word's highest frequency in any of them, plus the words a caller adds
(the recogniser's lexicons, and place or brand names that must stay whole). The words live in a
marisa trie, so one C call per position yields every word starting there.

A word costs `-log10(frequency)` plus a fixed penalty, so the split prefers fewer, longer words
(`essex` over `es` + `sex`); a character no word covers costs as much as a very rare word.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path

import marisa_trie
import msgpack

LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "pt", "it", "nl")
"""The languages whose word frequencies are merged (wordfreq's codes)."""
WORD_PENALTY = 1.0
"""Added to every word's cost: a split into more words must be clearly more probable."""
UNKNOWN_CHAR = 8.0
"""The cost of a character no known word covers (a word of frequency 1e-7 costs 8)."""
MAX_FREQUENCY = 1e-3
"""Every word is taken as at most this frequent: the short function words of seven languages
(`te`, `en`, `es`) would otherwise cut real words apart (`teen` as `te` + `en`)."""
MIN_FREQUENCY = 1e-8
"""Rarer entries of English's large list are mostly noise."""
MAX_WORD = 24
"""Longer dictionary entries are left out: host labels rarely hold longer words."""
SINGLE_LETTERS = frozenset("aeiouy")
"""One-letter words kept from the lists (articles and conjunctions); others are noise."""


def model_costs(languages: Iterable[str] = LANGUAGES) -> dict[str, float]:
    """Each plain ASCII word of the languages' wordfreq lists, with its cost (the lowest in any
    of them): `-log10(frequency)`, at least `-log10(MAX_FREQUENCY)`, plus `WORD_PENALTY`."""
    floor = -math.log10(MAX_FREQUENCY)
    ceiling = -math.log10(MIN_FREQUENCY)
    merged: dict[str, float] = {}
    get = merged.get
    for lang in languages:
        size = "large" if lang == "en" else "small"
        for centibels, words in enumerate(read_wordlist(f"{size}_{lang}")):
            cost = centibels / 100
            if cost > ceiling:
                break
            cost = max(cost, floor) + WORD_PENALTY
            for word in words:
                if len(word) > MAX_WORD or not (word.isascii() and word.isalpha()):
                    continue
                if len(word) == 1 and word not in SINGLE_LETTERS:
                    continue
                if cost < get(word, math.inf):
                    merged[word] = cost
    return merged


def read_wordlist(name: str) -> list[list[str]]:
    """One of wordfreq's data files (`large_en`), read as its `read_cBpack` documents: a gzipped
    msgpack list of a header and, at index `i`, the words of frequency `10 ** (-i / 100)`.

    Read here rather than through `wordfreq.read_cBpack`: importing wordfreq loads its tokenisers
    (14 MB and a fifth of a second) that a host name never needs.
    """
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the wordfreq package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.msgpack.gz"
    with gzip.open(path, "rb") as data:
        lists = msgpack.unpackb(data.read(), raw=False)
    header = lists[0] if lists else None
    if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
        raise ValueError(f"{path}: not a wordfreq word list")
    return lists[1:]


class WordSplitter:
    """The most probable split of a string of letters into known words."""

    def __init__(self, costs: Mapping[str, float]) -> None:
        """`costs`: each known word and its cost (see `model_costs`)."""
        self._trie = marisa_trie.Trie(costs.keys())
        table = array("d", bytes(8 * len(self._trie)))
        key_id = self._trie.key_id
        for word, cost in costs.items():
            table[key_id(word)] = cost
        self._costs = table

    def __len__(self) -> int:
        return len(self._trie)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word in self._trie

    def split(self, letters: str) -> list[str]:
        """`letters` (lower case, no separators) as words; uncovered characters stand alone."""
        return self.split_near(letters, ())[0]

    def split_near(
        self, letters: str, spans: Iterable[tuple[int, int]], margin: float = 0.0
    ) -> tuple[list[str], list[tuple[int, int]]]:
        """The best split of `letters`, and those of `spans` (`letters[i:j]` each, a known
        word) that the best split through them makes at most `margin` less probable.

        A word the best split misses by a hair (`e` + `por` + `ner` against `e` + `porn` + `er`)
        still counts; one that needs an improbable split (`es` + `sex`) does not.
        """
        n = len(letters)
        if n == 0:
            return [], []
        costs = self._costs
        prefixes = self._trie.iter_prefixes_with_ids
        unknown = UNKNOWN_CHAR + WORD_PENALTY
        found = [[(len(word), costs[key]) for word, key in prefixes(letters[i:])] for i in range(n)]
        best = [0.0] + [math.inf] * n
        back = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            if here + unknown < best[i + 1]:
                best[i + 1] = here + unknown
                back[i + 1] = i
            for length, cost in found[i]:
                j = i + length
                if here + cost < best[j]:
                    best[j] = here + cost
                    back[j] = i
        words: list[str] = []
        j = n
        while j > 0:
            i = back[j]
            words.append(letters[i:j])
            j = i
        words.reverse()
        taken = set()
        at = 0
        for word in words:
            taken.add((at, at + len(word)))
            at += len(word)
        near = [span for span in spans if span in taken]
        spans = [span for span in spans if span not in taken]
        if not spans:
            return words, near
        rest = [math.inf] * n + [0.0]  # the best cost of letters[i:]
        for i in range(n - 1, -1, -1):
            low = rest[i + 1] + unknown
            for length, cost in found[i]:
                low = min(low, cost + rest[i + length])
            rest[i] = low
        for i, j in spans:
            cost = next((c for length, c in found[i] if length == j - i), None)
            if cost is not None and best[i] + cost + rest[j] <= best[n] + margin:
                near.append((i, j))
        return words, near
