"""Finding the line of a key in config.toml, so an error can say where the problem is."""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Mapping

Loc = tuple[str | int, ...]
"""A key's path in config.toml, as pydantic reports it: ("categories", "adult", "action")."""

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""A TOML bare key: written without quotes."""


def find_line(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the key itself, else of the nearest enclosing key or [table]."""
    path = loc
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def key_lines(text: str) -> dict[Loc, int]:
    """Where each key, table and array item first appears in TOML text that tomllib accepted.

    Locations only help a message, so a surprise in the text ends the scan with what was found.
    """
    scanner = KeyScanner(text)
    with contextlib.suppress(
        IndexError, ValueError, AttributeError, TypeError, tomllib.TOMLDecodeError
    ):
        scanner.document()
    return scanner.lines


_STRING_PATTERNS = (
    ('"""', re.compile(r'"""(?:\\.|[^\\])*?"""(?!")|"""(?:\\.|[^\\])*?"{4,5}', re.S)),
    ("'''", re.compile(r"'''.*?'''(?!')|'''.*?'{4,5}", re.S)),
    ('"', re.compile(r'"(?:\\.|[^"\\\n])*"')),
    ("'", re.compile(r"'[^'\n]*'")),
)


class KeyScanner:
    """A forgiving scan of TOML text that notes the line each key is on."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.lines: dict[Loc, int] = {}
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self._table_arrays: dict[Loc, int] = {}

    def document(self) -> None:
        """Scan the whole text; `lines` then maps each key's path to its line."""
        table: Loc = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.text):
                return
            start = self.i
            if self.text.startswith("[[", self.i):
                self.i += 2
                key = self._key()
                self._expect("]]")
                index = self._table_arrays.get(key, -1) + 1
                self._table_arrays[key] = index
                table = (*key, index)
                self._mark(table, start)
            elif self.text[self.i] == "[":
                self.i += 1
                table = self._key()
                self._expect("]")
                self._mark(table, start)
            else:
                key = self._key()
                self._expect("=")
                self._mark((*table, *key), start)
                self._value((*table, *key))

    def _mark(self, path: Loc, pos: int) -> None:
        line = bisect.bisect_left(self._newlines, pos) + 1
        for n in range(1, len(path) + 1):
            self.lines.setdefault(path[:n], line)

    def _skip(self, newlines: bool) -> None:
        while self.i < len(self.text):
            c = self.text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif newlines and c == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end == -1 else end
            else:
                return

    def _expect(self, token: str) -> None:
        self._skip(newlines=False)
        if not self.text.startswith(token, self.i):
            raise ValueError(f"expected {token!r}")
        self.i += len(token)

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            quote = self.text[self.i]
            if quote in "\"'":
                raw = self._string()
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                match = BARE_KEY.match(self.text, self.i)
                if not match:
                    raise ValueError("expected a key")
                parts.append(match.group())
                self.i = match.end()
            self._skip(newlines=False)
            if self.text.startswith(".", self.i):
                self.i += 1
                continue
            return tuple(parts)

    def _string(self) -> str:
        for opener, pattern in _STRING_PATTERNS:
            if self.text.startswith(opener, self.i):
                match = pattern.match(self.text, self.i)
                if not match:
                    raise ValueError("unterminated string")
                self.i = match.end()
                return match.group()
        raise ValueError("expected a string")

    def _value(self, path: Loc) -> None:
        self._skip(newlines=False)
        c = self.text[self.i]
        if c == "{":
            self.i += 1
            while True:
                self._skip(newlines=True)
                if self.text[self.i] == "}":
                    self.i += 1
                    return
                start = self.i
                key = self._key()
                self._expect("=")
                self._mark((*path, *key), start)
                self._value((*path, *key))
                self._skip(newlines=True)
                if self.text[self.i] == ",":
                    self.i += 1
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self.text[self.i] == "]":
                    self.i += 1
                    return
                self._mark((*path, index), self.i)
                self._value((*path, index))
                index += 1
                self._skip(newlines=True)
                if self.text[self.i] == ",":
                    self.i += 1
        elif c in "\"'":
            self._string()
        else:
            match = re.compile(r"[^,\]}\n#]*").match(self.text, self.i)
            self.i = match.end() if match else self.i + 1
