"""A host name's labels as plain letters a-z, whatever script they were written in.

Host names in other scripts travel as punycode (`xn--e1afmkfd.xn--p1ai` is `пример.рф`), which
no word model can read. So a punycode label is decoded, and its letters are brought to a-z the
way people write them in Latin letters: accents dropped (`sexé` → `sexe`), Cyrillic and Greek
romanised letter by letter (`секс` → `seks`, `πορνο` → `porno`). Letters of other scripts
(Chinese, Japanese, Arabic, Thai…) have no such reading and are left out. A label already in
ASCII is returned as it is, at no cost.
"""

from __future__ import annotations

import unicodedata

_CYRILLIC: dict[str, str] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "h",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "sch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    "ў": "u",
}
_GREEK: dict[str, str] = {
    "α": "a",
    "β": "v",
    "γ": "g",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "i",
    "θ": "th",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "m",
    "ν": "n",
    "ξ": "x",
    "ο": "o",
    "π": "p",
    "ρ": "r",
    "σ": "s",
    "ς": "s",
    "τ": "t",
    "υ": "y",
    "φ": "f",
    "χ": "ch",
    "ψ": "ps",
    "ω": "o",
}

_TABLE = str.maketrans(_CYRILLIC | _GREEK)


def plain_label(label: str) -> str:
    """`label` (lower case) in letters a-z and the digits and hyphens it had: a punycode label
    decoded and romanised; a label that cannot be decoded comes back as it is."""
    if label.isascii() and not label.startswith("xn--"):
        return label
    if label.startswith("xn--"):
        try:
            label = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    return romanised(label)


def romanised(text: str) -> str:
    """`text` in a-z: accents dropped, Cyrillic and Greek romanised, other letters left out."""
    text = unicodedata.normalize("NFKD", text.lower()).translate(_TABLE)
    return "".join(c for c in text if c.isascii())
