"""The word frequencies the host-name word model is built from: the `wordfreq` package's own data.

Used only to build the packaged model (`scripts/build-word-model`) and by the test that checks
the shipped model is still what wordfreq gives; the agent never reads wordfreq.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from collections.abc import Iterable
from pathlib import Path

from rules.name_words import MAX_WORD, SINGLE_LETTERS, WORD_PENALTY

LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "pt", "it", "nl")
"""The languages whose word frequencies are merged (wordfreq's codes)."""
MAX_FREQUENCY = 1e-3
"""Every word is taken as at most this frequent: the short function words of seven languages
(`te`, `en`, `es`) would otherwise cut real words apart (`teen` as `te` + `en`)."""
MIN_FREQUENCY = 1e-8
"""Rarer entries of English's large list are mostly noise."""


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
    import msgpack

    with gzip.open(path, "rb") as data:
        lists = msgpack.unpackb(data.read(), raw=False)
    header = lists[0] if lists else None
    if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
        raise ValueError(f"{path}: not a wordfreq word list")
    return lists[1:]
