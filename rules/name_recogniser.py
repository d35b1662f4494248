"""Recognising the long tail of adult and gambling sites by their host name alone.

Most small sites announce themselves in their name, glued together in many languages
(`snapsexehot`, `webcam-gratuite-sexe`), while innocent names hold the same letters (`essex`,
`scunthorpe`, `therapist`). So each label is split into its most probable words
(`rules.name_words`), and only whole words count: the words' weights from a per-category lexicon
(`rules/lexicons/<category>.txt`) add up, and a category whose sum reaches its threshold is
recognised. A name with a help word (`recovery`, `anonymous`, `health`: `lexicons/help.txt`) is
never recognised: help must never be blocked.

Most names hold no lexicon word at all, so an Aho-Corasick automaton over every lexicon and
help word, run once over the name and stopped at the first lexicon word when there is none,
answers them in a microsecond or two. Only the rest are split, and not even all of those: when
no category could reach its threshold even if every lexicon word found counted, no split can
change the verdict (`_may_reach`), and a chunk that is one lexicon word (`guide-casino`) reads
from a table worked out once. Verdicts are cached per host in a bounded LRU cache. The word
model is shipped prebuilt and loads, with its look-up table, in under a second, once per
process and only when a name first holds a lexicon word (`shared_recogniser`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import ahocorasick

from rules.name_letters import plain_label
from rules.name_words import WordSplitter

REASON_PREFIX = "recognised by its name: "
"""How a recogniser verdict names itself as a rule (`recognised by its name: sexe, hot`)."""
SOURCE = "name recogniser"
"""The `source` of a recogniser verdict."""
DEFAULT_THRESHOLD = 1.0
CACHE_SIZE = 32768
"""Hosts whose verdict is kept; the cache never grows past this, whatever traffic comes."""
LEXICON_COST = 6.0
"""The cost a lexicon word gets in the word model when the model lacks it (`xnxx`)."""
MARGIN = 1.0
"""A lexicon word counts when the best split through it is at most this much less probable
(in log10 units) than the best split of its chunk."""
HELP = "help"
"""The lexicon of help words, which veto every category."""
NAMES = "names"
"""Not a lexicon: innocent names that hold a lexicon word (`pornic`), given to the word model."""
DIGIT_BONUS = 0.3
"""Added once to a category short of its threshold when one of its words weighing at least
`DIGIT_WORD` stands against a number (`10bet`, `sex18`): betting and adult sites number their
mirrors, while innocent names seldom put a number against such a word (`bet.com` is not)."""
DIGIT_WORD = 0.5
WITH_A_NUMBER = "with a number"
"""How the bonus is named among a recognition's words: `recognised by its name: bet, with a
number`."""

_CHUNKS = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"[0-9]")

Hit = tuple[int, tuple[str, bool]]
"""A word found in a name by the automaton: where it ends, the word, and whether it is a help
word."""


@dataclass(frozen=True, slots=True)
class Lexicon:
    """One category's words with their weights, and the sum that recognises a name."""

    category: str
    words: Mapping[str, float]
    tlds: Mapping[str, float]
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True, slots=True)
class Recognition:
    """A host name recognised as belonging to a category, and the words that said so."""

    category: str
    words: tuple[str, ...]
    score: float

    @property
    def reason(self) -> str:
        """The rule text shown to the person: `recognised by its name: sexe, hot`."""
        return REASON_PREFIX + ", ".join(self.words)


class LexiconError(ValueError):
    """A lexicon file line that cannot be read."""


def parse_lexicon(category: str, text: str, where: str = "") -> Lexicon:
    """A lexicon from its text: `word weight`, `.tld weight` and `!threshold N` lines."""
    words: dict[str, float] = {}
    tlds: dict[str, float] = {}
    threshold = DEFAULT_THRESHOLD
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if parts[0] == "!threshold" and len(parts) == 2:
                threshold = float(parts[1])
                continue
            if len(parts) != 2:
                raise ValueError
            name, weight = parts[0], float(parts[1])
        except ValueError:
            raise LexiconError(
                f"{where or category}:{number}: not `word weight`: {raw!r}"
            ) from None
        table = tlds if name.startswith(".") else words
        key = name.removeprefix(".")
        if not key.isascii() or not key.isalpha() or not key.islower() or key in table:
            raise LexiconError(f"{where or category}:{number}: bad or repeated word: {raw!r}")
        table[key] = weight
    return Lexicon(category, words, tlds, threshold)


def parse_word_list(text: str) -> frozenset[str]:
    """A plain list of words, one a line, `#` comments."""
    return frozenset(
        word for raw in text.splitlines() if (word := raw.split("#", 1)[0].strip().lower())
    )


def packaged_lexicons() -> tuple[dict[str, Lexicon], frozenset[str]]:
    """The lexicons shipped in `rules/lexicons/`: per category, and the help words."""
    folder = resources.files("rules.lexicons")
    lexicons: dict[str, Lexicon] = {}
    help_words: frozenset[str] = frozenset()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".txt"):
            continue
        category = entry.name.removesuffix(".txt")
        text = entry.read_text("utf-8")
        if category == HELP:
            help_words = parse_word_list(text)
        elif category == NAMES:
            continue
        else:
            lexicons[category] = parse_lexicon(category, text, f"lexicons/{entry.name}")
    return lexicons, help_words


def packaged_names() -> frozenset[str]:
    """The innocent names shipped in `rules/lexicons/names.txt`, for the word model."""
    folder = resources.files("rules.lexicons")
    return parse_word_list(folder.joinpath(f"{NAMES}.txt").read_text("utf-8"))


class NameRecogniser:
    """Tells, from a host name alone, which lexicon categories it belongs to."""

    def __init__(
        self,
        lexicons: Mapping[str, Lexicon],
        help_words: Iterable[str],
        splitter: WordSplitter | Callable[[], WordSplitter],
        *,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        """`splitter` may be a function that builds one: it is then called (once) when a host
        name first holds a lexicon word, so a process that never meets one never loads it."""
        self._lexicons = dict(lexicons)
        self._help = frozenset(help_words)
        self._splitter_lock = threading.Lock()
        if isinstance(splitter, WordSplitter):
            self._splitter: WordSplitter | None = splitter
            self._make_splitter: Callable[[], WordSplitter] | None = None
        else:
            self._splitter = None
            self._make_splitter = splitter
        self._weights: dict[str, tuple[tuple[str, float], ...]] = {}
        for lexicon in self._lexicons.values():
            for word, weight in lexicon.words.items():
                if weight > 0:
                    self._weights[word] = (*self._weights.get(word, ()), (lexicon.category, weight))
        self._tlds: dict[str, tuple[tuple[str, float], ...]] = {}
        for lexicon in self._lexicons.values():
            for tld, weight in lexicon.tlds.items():
                self._tlds[tld] = (*self._tlds.get(tld, ()), (lexicon.category, weight))
        automaton = ahocorasick.Automaton()
        for word in self._help:
            if _CHUNKS.fullmatch(word):  # another can never stand in a chunk of letters
                automaton.add_word(word, (word, True))
        for word in self._weights:
            automaton.add_word(word, (word, False))
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton if len(automaton) else None
        """Every lexicon and help word: only a chunk holding one is split. It is run once over
        the whole name: no word holds a character that ends a chunk, so each chunk's matches
        are those of a run over the chunk alone, in the same order."""
        lexicon = ahocorasick.Automaton()
        for word in self._weights:
            lexicon.add_word(word, word)
        if len(lexicon):
            lexicon.make_automaton()
        self._lexicon = lexicon if len(lexicon) else None
        """Every lexicon word: a name holding none is not recognised (the fast path)."""
        self._alone: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        """What a chunk that is one lexicon or help word reads as (`_split_alone`)."""
        self._reach = {c: lexicon.threshold - 1e-9 for c, lexicon in self._lexicons.items()}
        """The sum that recognises each category (less a hair for rounding)."""
        self._strong = frozenset(
            word
            for word, weights in self._weights.items()
            if any(weight >= self._lexicons[c].threshold for c, weight in weights)
        )
        """Lexicon words that alone reach a category's threshold."""
        self.recognise = lru_cache(maxsize=cache_size)(self._recognise)  # type: ignore[method-assign]

    @property
    def categories(self) -> frozenset[str]:
        """The categories this recogniser has a lexicon for."""
        return frozenset(self._lexicons)

    def recognise(self, host: str) -> tuple[Recognition, ...]:
        """Every category `host` is recognised as (usually none), strongest first; cached."""
        return self._recognise(host)

    def splitter(self) -> WordSplitter:
        """The word splitter, built now if it was left for first use."""
        if self._splitter is None:
            with self._splitter_lock:
                if self._splitter is None and self._make_splitter is not None:
                    self._splitter = self._make_splitter()
        assert self._splitter is not None
        return self._splitter

    def prepare(self) -> None:
        """Load the word model and work out the lone-word table now (under a second), so the
        first name that needs them does not wait: the agent calls this in the background at
        its start."""
        if not self._alone:
            self._split_alone()

    def words(self, host: str) -> list[str]:
        """The words the labels of `host` split into (its top-level domain left out)."""
        stem = _stem_and_tld(_plain_name(host))[0]
        return self._read(stem, self._hits(stem))[0]

    def _hits(self, stem: str) -> list[Hit]:
        """Every lexicon and help word in `stem`, by where it ends."""
        return list(self._automaton.iter(stem)) if self._automaton else []

    def _scan(self, stem: str, tld_hit: bool) -> list[Hit] | None:
        """`_hits(stem)`, or None when it holds no lexicon word and `tld_hit` is false: the
        search stops there, most names hold none."""
        if self._automaton is None:
            return [] if tld_hit else None
        hits: list[Hit] = []
        scan = self._automaton.iter(stem)
        for hit in scan:
            hits.append(hit)
            if not hit[1][1]:
                break  # a lexicon word: the rest is needed
        else:
            if not tld_hit:
                return None
        hits += scan
        return hits

    def _read(self, stem: str, hits: list[Hit]) -> tuple[list[str], list[str]]:
        """The words of `stem`'s chunks that hold one of `hits`, and the lexicon words found in
        them: those of the best split, and those a split nearly as probable would give
        (`MARGIN`)."""
        words: list[str] = []
        scored: list[str] = []
        if not hits:
            return words, scored
        split_near = (self._splitter or self.splitter()).split_near
        alone = self._alone or self._split_alone()
        if stem.isascii() and stem.isalpha():  # one chunk: the usual name
            if stem in alone:
                return list(alone[stem][0]), list(alone[stem][1])
            spans = [
                (last + 1 - len(word), last + 1) for last, (word, is_help) in hits if not is_help
            ]
            words, near = split_near(stem, spans, MARGIN)
            return words, [stem[i:j] for i, j in near]
        at = 0
        for chunk in _CHUNKS.finditer(stem):
            start, end = chunk.span()
            spans: list[tuple[int, int]] = []
            holds = False
            while at < len(hits) and hits[at][0] < end:
                last, (word, is_help) = hits[at]
                at += 1
                holds = True
                if not is_help:
                    spans.append((last + 1 - len(word) - start, last + 1 - start))
            if not holds:
                continue  # neither a lexicon word nor a help word can come out of it
            text = chunk.group()
            if text in alone:
                words += alone[text][0]
                scored += alone[text][1]
                continue
            split, near = split_near(text, spans, MARGIN)
            words += split
            scored += [text[i:j] for i, j in near]
        return words, scored

    def _split_alone(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """What `_read` gives for each lexicon and help word standing alone as a chunk
        (`guide-casino`), worked out once: a tenth of the chunks split are one. The splitter
        is told these words too (`WordSplitter.know_words`): every name split holds one."""
        splitter = self._splitter or self.splitter()
        if self._automaton:
            splitter.know_words(self._automaton.keys())
        alone = {}
        for word in self._automaton.keys() if self._automaton else ():
            hits = list(self._automaton.iter(word))
            spans = [(e + 1 - len(w), e + 1) for e, (w, is_help) in hits if not is_help]
            split, near = splitter.split_near(word, spans, MARGIN)
            alone[word] = (tuple(split), tuple(word[i:j] for i, j in near))
        self._alone = alone
        return alone

    def _recognise(self, host: str) -> tuple[Recognition, ...]:
        name = host.lower().rstrip(".")
        if not name.isascii() or "xn--" in name:
            name = _plain_name(name)
        stem, dot, tld = name.rpartition(".")
        if not dot:
            stem, tld = tld, ""
        tld_hits = self._tlds.get(tld, ())
        hits = self._scan(stem, bool(tld_hits))
        if hits is None or not self._may_reach(tld_hits, hits, stem):
            return ()
        words, scored = self._read(stem, hits)
        if not self._help.isdisjoint(words):
            return ()
        return self._score(stem, tld, tld_hits, scored)

    def _score(
        self, stem: str, tld: str, tld_hits: Iterable[tuple[str, float]], scored: list[str]
    ) -> tuple[Recognition, ...]:
        """The categories the top-level domain and the counted words of `stem` reach."""
        scores: dict[str, float] = {}
        found: dict[str, list[str]] = {}
        for category, weight in tld_hits:
            scores[category] = scores.get(category, 0.0) + weight
            found.setdefault(category, []).append("." + tld)
        weights = self._weights
        for word in _without_parts(scored) if len(scored) > 1 else scored:
            for category, weight in weights.get(word, ()):
                if category in found:
                    scores[category] += weight
                    found[category].append(word)
                else:
                    scores[category] = 0.0 + weight
                    found[category] = [word]
        reach = self._reach
        out = []
        for category, score in scores.items():
            if score < reach[category]:
                if not self._beside_number(stem, category, found[category]):
                    continue
                score += DIGIT_BONUS
                found[category].append(WITH_A_NUMBER)
                if score < reach[category]:
                    continue
            out.append(_recognition(category, tuple(found[category]), _rounded(score)))
        if len(out) > 1:
            out.sort(key=lambda r: -r.score)
        return tuple(out)

    def _beside_number(self, stem: str, category: str, words: Iterable[str]) -> bool:
        """Whether one of `words` weighing at least `DIGIT_WORD` in `category` stands against a
        digit somewhere in `stem`."""
        for word in words:
            if dict(self._weights.get(word, ())).get(category, 0.0) < DIGIT_WORD:
                continue
            at = stem.find(word)
            while at >= 0:
                end = at + len(word)
                if (at and stem[at - 1].isdigit()) or (end < len(stem) and stem[end].isdigit()):
                    return True
                at = stem.find(word, at + 1)
        return False

    def _may_reach(self, tld_hits: Iterable[tuple[str, float]], hits: list[Hit], stem: str) -> bool:
        """Whether some category could reach its threshold if every lexicon word of `hits`
        counted (and, if `stem` has a digit, the bonus for a number): when none can, no split
        can change the verdict, and none is made."""
        found = {word for _, (word, is_help) in hits if not is_help}
        if not tld_hits and not self._strong.isdisjoint(found):
            return True
        bound: dict[str, float] = {}
        for category, weight in tld_hits:
            bound[category] = bound.get(category, 0.0) + weight
        for word in found:
            for category, weight in self._weights[word]:
                bound[category] = bound.get(category, 0.0) + weight
        lexicons = self._lexicons
        bonus = DIGIT_BONUS if _has_digit(stem) else 0.0
        return any(total + bonus >= lexicons[c].threshold - 1e-6 for c, total in bound.items())

    def holds_lexicon_word(self, host: str) -> bool:
        """Whether `host` (its top-level domain left out) holds a lexicon word anywhere, whole
        or not: the names the word model has to split."""
        return self._holds_word(host.lower().rstrip(".").rpartition(".")[0] or host.lower())

    def _holds_word(self, text: str) -> bool:
        if self._lexicon is None:
            return False
        for _ in self._lexicon.iter(text):
            return True
        return False


_lock = threading.Lock()
_shared: NameRecogniser | None = None


def shared_recogniser() -> NameRecogniser:
    """The process's one recogniser, built from the packaged lexicons on first use; its word
    model (under a second) loads when a host name first holds a lexicon word. Later calls,
    from any thread, get the same one."""
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = build_recogniser(lazy=True)
    return _shared


def build_recogniser(cache_size: int = CACHE_SIZE, *, lazy: bool = False) -> NameRecogniser:
    """A recogniser from the packaged lexicons and word model (loaded at first need if
    `lazy`)."""
    lexicons, help_words = packaged_lexicons()
    splitter = WordSplitter.packaged
    return NameRecogniser(
        lexicons, help_words, splitter if lazy else splitter(), cache_size=cache_size
    )


def model_words(
    lexicons: Mapping[str, Lexicon], help_words: Iterable[str], names: Iterable[str] = ()
) -> dict[str, float]:
    """The words the lexicons and innocent names add to the word model, each with
    `LEXICON_COST`: the model must know every lexicon word (`xnxx`) for a split to find it, and
    every innocent name (`pornichet`) for a split to keep it whole."""
    words = {w: LEXICON_COST for lex in lexicons.values() for w in lex.words}
    return words | dict.fromkeys(help_words, LEXICON_COST) | dict.fromkeys(names, LEXICON_COST)


def _without_parts(words: list[str]) -> list[str]:
    """Distinct words, leaving out any that is part of a longer one found (`porn` in `porno`),
    so one spelling is not counted twice."""
    if len(words) < 2:
        return words
    distinct = list(dict.fromkeys(words))
    every = "\0".join(distinct)  # a word stands in it once, unless it is part of another
    return [w for w in distinct if every.count(w) == 1]


_ROUNDED: dict[float, float] = {}
ROUNDED_KEPT = 4096
"""Scores whose rounding is remembered (they are sums of a few lexicon weights)."""


def _rounded(score: float) -> float:
    """`round(score, 3)`, remembered: rounding a float costs as much as splitting a letter."""
    rounded = _ROUNDED.get(score)
    if rounded is None:
        rounded = round(score, 3)
        if len(_ROUNDED) < ROUNDED_KEPT:
            _ROUNDED[score] = rounded
    return rounded


_NEW = object.__new__
_SET_CATEGORY = Recognition.category.__set__  # type: ignore[attr-defined]
_SET_WORDS = Recognition.words.__set__  # type: ignore[attr-defined]
_SET_SCORE = Recognition.score.__set__  # type: ignore[attr-defined]


def _recognition(category: str, words: tuple[str, ...], score: float) -> Recognition:
    """`Recognition(category, words, score)`, made through its slots: a frozen dataclass's own
    `__init__` sets each field through `object.__setattr__`, which takes twice as long."""
    made = _NEW(Recognition)
    _SET_CATEGORY(made, category)
    _SET_WORDS(made, words)
    _SET_SCORE(made, score)
    return made


def _has_digit(text: str) -> bool:
    """Whether `text` holds a digit (a name that may earn `DIGIT_BONUS`)."""
    return not text.isalpha() and _DIGIT.search(text) is not None


def _plain_name(host: str) -> str:
    """`host` in lower case without a final dot, its labels in other scripts (punycode or not)
    romanised to a-z (`rules.name_letters`)."""
    name = host.lower().rstrip(".")
    if name.isascii() and "xn--" not in name:
        return name
    return ".".join(plain_label(label) for label in name.split("."))


def _stem_and_tld(name: str) -> tuple[str, str]:
    """`name` without its top-level domain, and that domain (none in a one-label name)."""
    stem, dot, tld = name.rpartition(".")
    return (stem, tld) if dot else (name, "")
