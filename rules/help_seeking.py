"""Telling a search for help ("porn addiction help") from a search for what the person avoids.

A keyword rule such as `keyword: porn` must never close a search for help, yet one word must
never open one either, or "free porn help" would be a way around every keyword. So a search is
help-seeking only by phrase: a topic word a keyword rule may catch (porn, sex, gambling, ...)
together with a word of stopping (quit, stop, aufhören, dejar) or of need (addiction, recovery,
relapse, therapy, anonymous, Sucht, adicción), or a whole phrase that is help by itself ("sex
addicts anonymous", "rebuilding trust"); and no word that asks for content: none anywhere that
only content searches use (xxx, nude, download), none right before a topic word ("free porn",
"hd porn"), and no need word right before a topic word where it names a kind of content
("therapist porn") rather than a need ("porn therapist"). "help" itself is never enough.

The words live in package data (`rules/help/phrases.txt`), compared in lower case with accents
folded, in English, French, German and Spanish. The recogniser reads only the search terms; it
is not a security boundary: SafeSearch stays enforced on a help-seeking search, and the sites its
results lead to are filtered as always.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

HELP_SEARCH_SOURCE = "help-seeking search"
"""The `source` of a decision that allowed a search because it asks for help."""

KINDS = ("topic", "stop", "need", "role", "content", "explicit", "phrase")
"""The kinds of line in a phrases file (see `rules/help/phrases.txt`)."""

_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 512
"""Characters of a search read; what a person types for help is far shorter."""


def folded_words(text: str) -> list[str]:
    """The words of `text`, in lower case with accents folded (`Süchtig` -> `suchtig`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain)


@dataclass(frozen=True, slots=True)
class HelpSearch:
    """Why a search reads as help-seeking: the words (or the phrase) that told."""

    words: tuple[str, ...]

    def __str__(self) -> str:
        return " + ".join(self.words)


class PhrasesError(ValueError):
    """A phrases file line that is not `kind: words`."""


class HelpPhrases:
    """The words and phrases that tell a help-seeking search, ready to match."""

    def __init__(self, words: dict[str, frozenset[str]], phrases: tuple[tuple[str, ...], ...]):
        self._topic = words.get("topic", frozenset())
        self._stop = words.get("stop", frozenset())
        self._need = words.get("need", frozenset())
        self._role = words.get("role", frozenset())
        self._content = words.get("content", frozenset())
        self._explicit = words.get("explicit", frozenset())
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            by_first.setdefault(phrase[0], []).append(phrase)
        self._phrases = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in by_first.items()}

    @classmethod
    def from_text(cls, text: str, name: str = "phrases.txt") -> HelpPhrases:
        """Read a phrases file; a bad line raises `PhrasesError` naming it."""
        words: dict[str, set[str]] = {}
        phrases: list[tuple[str, ...]] = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            kind, colon, rest = line.partition(":")
            kind = kind.strip()
            found = folded_words(rest)
            if not colon or kind not in KINDS or not found:
                raise PhrasesError(f"{name}:{lineno}: expected 'kind: words' ({', '.join(KINDS)})")
            if kind == "phrase":
                phrases.append(tuple(found))
            else:
                words.setdefault(kind, set()).update(found)
        return cls({k: frozenset(v) for k, v in words.items()}, tuple(phrases))

    def recognise(self, terms: str) -> HelpSearch | None:
        """Why `terms` is a help-seeking search, or None when it is not one."""
        words = folded_words(terms[:MAX_TERMS])
        if not words or not self._explicit.isdisjoint(words):
            return None
        phrase, covered = self._phrase_in(words)
        topics = [i for i, w in enumerate(words) if w in self._topic and i not in covered]
        if any(self._asks_for_content(words, i) for i in topics):
            return None
        if phrase is not None:
            return HelpSearch(phrase)
        compound = self._compound_in(words)
        if compound is not None:
            return HelpSearch(compound)
        if not topics:
            return None
        topic = words[topics[0]]
        for word in words:
            if word in self._stop or word in self._need:
                return HelpSearch((topic, word))
        return None

    def _asks_for_content(self, words: list[str], i: int) -> bool:
        """Whether the topic word at `i` is asked for as content: right after a content word
        ("free porn") or a need that names a kind of content ("therapist porn"), unless a need
        word follows it ("free porn addiction counselling")."""
        if i == 0:
            return False
        before = words[i - 1]
        if before not in self._content and before not in self._role:
            return False
        return not (i + 1 < len(words) and words[i + 1] in self._need)

    def _phrase_in(self, words: list[str]) -> tuple[tuple[str, ...] | None, set[int]]:
        """The first whole phrase among `words`, and the positions every phrase covers."""
        first: tuple[str, ...] | None = None
        covered: set[int] = set()
        for i, word in enumerate(words):
            for phrase in self._phrases.get(word, ()):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    first = first or phrase
                    covered.update(range(i, i + len(phrase)))
                    break
        return first, covered

    def _compound_in(self, words: list[str]) -> tuple[str, str] | None:
        """A word made of a topic and a need (`pornosucht`, `sexsuchtig`), as its two parts."""
        for word in words:
            if len(word) < 6 or word in self._topic or word in self._need:
                continue
            for cut in range(2, len(word) - 2):
                head, tail = word[:cut], word[cut:]
                if head in self._topic and tail in self._need:
                    return head, tail
        return None


@cache
def help_phrases() -> HelpPhrases:
    """The shipped phrases (`rules/help/phrases.txt`), read once."""
    text = resources.files("rules.help").joinpath("phrases.txt").read_text("utf-8")
    return HelpPhrases.from_text(text)


def help_search(terms: str | None) -> HelpSearch | None:
    """Why `terms` is a help-seeking search by the shipped phrases, or None."""
    return help_phrases().recognise(terms) if terms else None
