"""Splitting a run-together host label into words, with a real multilingual frequency model.

Host names glue words together (`snapsexehot`, `therapistfinder`): whether `sex` is a word in
them depends on what the rest of the label spells, so the split is the most probable sequence
of words under a unigram model, found by dynamic programming (the classic "word ninja" method).
The model is built from the `wordfreq` package's own data (`rules.wordfreq_model`: its large
English list, which knows place and family names such as Scunthorpe and Cockburn, and the small
lists of French, German, Spanish, Portuguese, Italian and Dutch, merged by taking each word's
highest frequency in any of them) plus the recogniser's lexicon words, and shipped prebuilt as
package data (`rules/lexicons/words.marisa` and `word-costs.u16`, written by
`scripts/build-word-model`): a marisa trie, so one C call per position yields every word
starting there, and each word's cost in hundredths. Loading it maps the trie and reads 0.8 MB
(under a millisecond); building it from wordfreq takes two seconds, which no agent should spend.

A word costs `-log10(frequency)` plus a fixed penalty, so the split prefers fewer, longer words
(`essex` over `es` + `sex`); a character no word covers costs as much as a very rare word.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping
from importlib import resources

import marisa_trie

MODEL_WORDS = "words.marisa"
MODEL_COSTS = "word-costs.u16"
"""The packaged model's files, in `rules/lexicons/`: the trie, and each word's cost (by the
trie's key id) in hundredths, as little-endian unsigned 16-bit numbers."""
WORD_PENALTY = 1.0
"""Added to every word's cost: a split into more words must be clearly more probable."""
UNKNOWN_CHAR = 8.0
"""The cost of a character no known word covers (a word of frequency 1e-7 costs 8)."""
MAX_WORD = 24
"""Longer dictionary entries are left out: host labels rarely hold longer words."""
SINGLE_LETTERS = frozenset("aeiouy")
"""One-letter words kept from the lists (articles and conjunctions); others are noise."""


def model_bytes(costs: Mapping[str, float]) -> dict[str, bytes]:
    """The packaged model's files (name -> content) for these words and costs (rounded to
    hundredths): what `WordSplitter.packaged` reads."""
    trie = marisa_trie.Trie(costs.keys())
    hundredths = array("H", bytes(2 * len(trie)))
    for word, cost in costs.items():
        hundredths[trie.key_id(word)] = round(cost * 100)
    if sys.byteorder != "little":
        hundredths.byteswap()
    return {MODEL_WORDS: trie.tobytes(), MODEL_COSTS: hundredths.tobytes()}


class WordSplitter:
    """The most probable split of a string of letters into known words."""

    def __init__(self, trie: marisa_trie.Trie, costs: Iterable[float]) -> None:
        """`costs`: each word's cost, by its key id in `trie`."""
        self._trie = trie
        self._costs = array("d", costs)

    @classmethod
    def of(cls, costs: Mapping[str, float]) -> WordSplitter:
        """A splitter knowing `costs`' words (see `rules.wordfreq_model.model_costs`)."""
        trie = marisa_trie.Trie(costs.keys())
        table = [0.0] * len(trie)
        for word, cost in costs.items():
            table[trie.key_id(word)] = cost
        return cls(trie, table)

    @classmethod
    def packaged(cls) -> WordSplitter:
        """The splitter of the shipped model (`rules/lexicons/`)."""
        folder = resources.files("rules.lexicons")
        trie = marisa_trie.Trie()
        with resources.as_file(folder / MODEL_WORDS) as words:
            trie.load(str(words))
        hundredths = array("H", (folder / MODEL_COSTS).read_bytes())
        if sys.byteorder != "little":
            hundredths.byteswap()
        if len(hundredths) != len(trie):
            raise ValueError("the packaged word model's two files do not match")
        return cls(trie, (h / 100 for h in hundredths))

    def costs(self) -> dict[str, float]:
        """Every known word with its cost: what the model holds, to compare two models."""
        return {word: self._costs[key] for word, key in self._trie.iteritems()}

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
