"""Splitting a run-together host label into words, with a real multilingual frequency model.

Host names glue words together (`snapsexehot`, `therapistfinder`): whether `sex` is a word in
them depends on what the rest of the label spells, so the split is the most probable sequence
of words under a unigram model, found by dynamic programming (the classic "word ninja" method).
The model is built from the `wordfreq` package's own data (`rules.wordfreq_model`: its large
English list, which knows place and family names such as Scunthorpe and Cockburn, and the small
lists of French, German, Spanish, Portuguese, Italian and Dutch, merged by taking each word's
highest frequency in any of them) plus the recogniser's lexicon words, and shipped prebuilt as
package data (`rules/lexicons/words.marisa` and `word-costs.u16`, written by
`scripts/build-word-model`): a marisa trie and each word's cost in hundredths. Building it from
wordfreq takes two seconds, which no agent should spend.

A word costs `-log10(frequency)` plus a fixed penalty, so the split prefers fewer, longer words
(`essex` over `es` + `sex`); a character no word covers costs as much as a very rare word.

Speed: a call into the trie costs ten dictionary reads, so the words starting at a position are
read from a table keyed by the next five letters (`head_table`: every start of a word up to
five letters, 163,000 of them), and the trie is asked only where longer words start with those
five and the name goes on with a letter one of them has next (`Longer`: one position in eight).
The longer words starting like a lexicon word (`casino`, `casinos`, `casinoonline`) are looked
up once (`know_words`), since every name split holds one; with `Longer`, four trie calls in five
are saved on gambling names. Building the table when the model loads takes about 0.6 s and
22 MB; a split of a ten-letter label about 10 µs (docs/benchmarks.md, "Host-name recogniser").
The backward pass that weighs near misses runs only when a lexicon word is off the best split,
and only back to it. Splits are exactly those of the plain dynamic programme, ties included (a
test compares them on every label of the validation sets).
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
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
KNOWN_MOST = 16
"""`know_words` keeps the longer words of a start only when there are at most this many."""


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
        shared: dict[float, float] = {}
        self._costs = [shared.setdefault(cost, cost) for cost in costs]
        """A list, not an array: reading it boxes no float (the costs take few values)."""
        self._heads = head_table(trie, self._costs)
        self._known: dict[str, tuple[tuple[str, int, float], ...]] = {}
        """For the first `HEAD` + 1 letters of some words (`know_words`): every longer word
        starting with them, as (the rest of it, its length, its cost), shortest first."""

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
        value = {h: h / 100 for h in set(hundredths)}
        return cls(trie, map(value.__getitem__, hundredths))

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
        still counts; one that needs an improbable split (`es` + `sex`) does not. A span inside
        another that the best split takes (`porn` in `porno`) is left out: it is part of that
        word, and the cost of telling is most of a split's.
        """
        n = len(letters)
        if n == 0:
            return [], []
        best, back = self._forward(letters)
        words: list[str] = []
        ends: set[int] = set()  # where the best split's words end
        j = n
        while j:
            ends.add(j)
            i = back[j]
            words.append(letters[i:j])
            j = i
        words.reverse()
        near: list[tuple[int, int]] = []
        missed: list[tuple[int, int]] = []
        for span in spans:
            if span[1] in ends and back[span[1]] == span[0]:
                near.append(span)
            else:
                missed.append(span)
        if missed:
            missed = _outside(missed, near)
            if missed:
                near += self._near(letters, best, missed, margin)
        return words, near

    def _forward(self, letters: str) -> tuple[list[float], list[int]]:
        """The best cost of each `letters[:j]`, and the start of its last word."""
        n = len(letters)
        heads = self._heads.get
        best = [0.0] + [math.inf] * n
        back = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            head = letters[i : i + HEAD]
            words = heads(head)
            while words is None:  # no word starts with `head`: try a shorter one
                head = head[:-1]
                words = heads(head) if head else ALONE
            if words.__class__ is Longer:  # longer words start with `head`
                if i + HEAD < n and letters[i + HEAD] in words.nexts:
                    words = self._longer(letters, i, words.edges)
                else:
                    words = words.edges
            for length, cost in words:
                if (cost := here + cost) < best[(length := i + length)]:
                    best[length] = cost
                    back[length] = i
        return best, back

    def _edges(self, letters: str, i: int) -> Words:
        """The edges starting at `i` (as `(length, cost)`, a lone unknown character first), as
        `_forward` finds them (it does so inline, for speed)."""
        head = letters[i : i + HEAD]
        words = self._heads.get(head)
        while words is None:
            head = head[:-1]
            words = self._heads.get(head) if head else ALONE
        if words.__class__ is Longer:
            if i + HEAD < len(letters) and letters[i + HEAD] in words.nexts:
                return self._longer(letters, i, words.edges)
            return words.edges
        return words

    def _near(
        self, letters: str, best: list[float], spans: list[tuple[int, int]], margin: float
    ) -> list[tuple[int, int]]:
        """Those of `spans` (off the best split) that a split at most `margin` less probable
        makes: the best cost of what follows each is computed back to the first one's end."""
        n = len(letters)
        rest = [math.inf] * n + [0.0]  # the best cost of letters[i:]
        stop = n
        for _, j in spans:
            stop = min(stop, j)
        for i in range(n - 1, stop - 1, -1):
            low = rest[i + 1] + UNKNOWN
            for length, cost in self._edges(letters, i):
                if cost + rest[i + length] < low:
                    low = cost + rest[i + length]
            rest[i] = low
        limit = best[n] + margin
        near = []
        for i, j in spans:
            for length, cost in self._edges(letters, i):
                if length == j - i:
                    if best[i] + cost + rest[j] <= limit:
                        near.append((i, j))
                    break
        return near

    def know_words(self, words: Iterable[str], most: int = KNOWN_MOST) -> None:
        """Look up once the longer words that start like each of `words` (its first `HEAD` + 1
        letters, when at most `most` words do), so that a split of a name holding one asks the
        trie no more there: the recogniser gives its lexicon words, which every name it splits
        holds (`casino`: a trie call costs as much as splitting a letter)."""
        known: dict[str, tuple[tuple[str, int, float], ...]] = {}
        for word in words:
            start = word[: HEAD + 1]
            if len(start) <= HEAD or start in known:
                continue
            longer = self._trie.keys(start)
            if len(longer) <= most:
                longer.sort(key=len)
                costs = self._costs
                key_id = self._trie.key_id
                known[start] = tuple((w[HEAD + 1 :], len(w), costs[key_id(w)]) for w in longer)
        self._known = known

    def _longer(self, letters: str, i: int, words: Words) -> Words:
        """`words` (the edges at `i` that fit in `HEAD` letters) and the longer words starting
        at `i`: from `know_words`' table, or else from the trie."""
        known = self._known.get(letters[i : i + HEAD + 1])
        if known is not None:
            after = i + HEAD + 1
            more = [
                (length, cost) for rest, length, cost in known if letters.startswith(rest, after)
            ]
            return [*words, *more] if more else words
        found = self._trie.prefixes(letters[i:])
        short = len(words) - 1  # the edge of a lone unknown character is no word
        if len(found) == short:
            return words
        costs = self._costs
        key_id = self._trie.key_id
        return [*words, *[(len(word), costs[key_id(word)]) for word in found[short:]]]


Words = Sequence[tuple[int, float]]
"""The edges starting at a position, as `(length, cost)`: a lone unknown character, then the
words, shortest first."""
UNKNOWN = UNKNOWN_CHAR + WORD_PENALTY
ALONE: Words = ((1, UNKNOWN),)
"""The edges where no word starts: the character alone, unknown."""
HEAD = 5
"""The words starting at a position are looked up by the next `HEAD` letters in a table
(`head_table`), and in the trie only when longer words start with them."""


class Longer:
    """The edges of a head that longer words start with, and the letters that follow the head
    in them (`nexts`): the trie is asked only when the name goes on with one of them (a little
    over half the time in the validation sets)."""

    __slots__ = ("edges", "nexts")

    def __init__(self, edges: Words, nexts: str) -> None:
        """`edges`: those that fit in the head, as in a plain entry of the table."""
        self.edges = edges
        self.nexts = nexts


def head_table(trie: marisa_trie.Trie, costs: Sequence[float]) -> dict[str, Words | Longer]:
    """Every head (a start of a word, at most `HEAD` letters) with the edges starting there
    that fit in it (`ALONE`, then the words): a tuple, or a `Longer` when longer words start
    with the head too (those are asked of the trie).

    A dictionary read is ten times cheaper than a call into the trie, and this one answers four
    positions of five: the words of a host name are mostly short, and the last letters of a
    name have no room for long ones.
    """
    longer: dict[str, str] = {}  # the letters that follow each head in longer words
    whole: dict[str, tuple[int, float]] = {}
    pairs: dict[tuple[int, float], tuple[int, float]] = {}
    last = "\0"
    for word in trie.iterkeys():  # one key at a time: a list of them all would fragment memory
        if len(word) > HEAD:
            if word.startswith(last):
                continue  # the same first letters as the word before (half the time)
            last = word[: HEAD + 1]
            head = word[:HEAD]
            after = longer.get(head, "")
            if last[HEAD] not in after:
                longer[head] = after + last[HEAD]
        else:
            pair = (len(word), costs[trie.key_id(word)])
            whole[word] = pairs.setdefault(pair, pair)
    levels: list[set[str]] = [set() for _ in range(HEAD + 1)]
    for head in longer.keys() | whole.keys():
        levels[len(head)].add(head)
    for size in range(HEAD, 1, -1):
        levels[size - 1].update({head[:-1] for head in levels[size]})
    table: dict[str, Words | Longer] = {"": ALONE}
    same: dict[Words, Words] = {}
    for level in levels[1:]:
        for head in level:
            shorter = table[head[:-1]]
            pair = whole.get(head)
            if pair is None:
                table[head] = shorter
            else:
                words = (*shorter, pair)
                table[head] = same.setdefault(words, words)
    del table[""]
    texts: dict[str, str] = {}  # one string for each set of next letters (9,500 of them)
    for head, after in longer.items():
        if len(after) > 1:
            after = "".join(sorted(after))
        longer[head] = texts.setdefault(after, after)
    for head, after in longer.items():  # apart: made among the strings above, they fragment
        table[head] = Longer(table[head], after)
    return table


def _outside(spans: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Those of `spans` inside none of `taken`."""
    out = []
    for i, j in spans:
        for start, end in taken:
            if start <= i and j <= end:
                break
        else:
            out.append((i, j))
    return out
