"""A quick look at the shape of config.toml before the TOML reader parses it.

Python's TOML reader recurses once per nested list or inline table, and its time and memory grow
with the square of a dotted key's parts: a few kilobytes of `[[[[…` or `a.a.a.…` end in a
RecursionError or exhaust memory. No setting nests more than three deep, so text shaped like
that is refused here, with its line, before it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NESTING = 20
"""Lists and inline tables inside one another: settings need three at most."""
MAX_KEY_PARTS = 20
"""Parts of one dotted key (`delivery.smtp.host` has three)."""

_TOKENS = re.compile(
    r'"""(?:\\.|[^\\])*?"""|'  # a multi-line basic string
    r"'''.*?'''|"  # a multi-line literal string
    r'"(?:\\.|[^"\\\n])*"|'  # a basic string
    r"'[^'\n]*'|"  # a literal string
    r"#[^\n]*|"  # a comment
    r"[\"']|"  # a quote that never closes: the TOML reader will say so
    r"[\[\]{}=,.\n]",
    re.S,
)


@dataclass(frozen=True, slots=True)
class ShapeProblem:
    """Where the text is shaped in a way no settings file is, and how."""

    line: int
    reason: str


def shape_problem(text: str) -> ShapeProblem | None:
    """The first place `text` nests too deep or has a key of too many parts; None if none."""
    depth = dots = 0
    line = 1
    for token in _TOKENS.finditer(text):
        mark = token[0]
        if mark in "\"'":
            return None
        if mark[0] in "\"'":
            line += mark.count("\n")
        elif mark == "\n":
            line += 1
            dots = 0
        elif mark in "[{":
            depth += 1
            dots = 0
            if depth > MAX_NESTING:
                return ShapeProblem(line, f"lists or tables nested more than {MAX_NESTING} deep")
        elif mark in "]}":
            depth = max(depth - 1, 0)
            dots = 0
        elif mark in "=,":
            dots = 0
        elif mark == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return ShapeProblem(line, f"a dotted key of more than {MAX_KEY_PARTS} parts")
    return None
