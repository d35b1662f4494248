"""Text that came from outside (a host name, a path, a search), made safe to print.

A web page chooses the Host header, the path and the search terms Candor records. Printed raw,
a control character (an ANSI escape such as `\\x1b[2J`) acts on the reader's terminal, and a
bidirectional override (U+202E) makes a host read as another. Everywhere Candor prints such text
for a person (`candor journal show`, the text report), it goes through `printable`.
"""

from __future__ import annotations

import unicodedata

_ACTIVE = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Controls, format characters (bidi overrides, zero-width), line and paragraph separators."""


def printable(text: str, keep: str = "") -> str:
    """`text` with every character a terminal or a text layout could act on written as an
    escape (`\\x1b`, `\\u202e`), except those in `keep` (a report keeps its line breaks)."""
    if text.isprintable() or all(c in keep or c.isprintable() for c in text):
        return text
    return "".join(c if c in keep or not _active(c) else _escaped(c) for c in text)


def _active(c: str) -> bool:
    return unicodedata.category(c) in _ACTIVE


def _escaped(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
