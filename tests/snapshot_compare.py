"""Pinned outputs compared with files under tests/snapshots/: a missing or different snapshot
fails the test, and only an explicit `pytest --update-snapshots` writes them, so a deleted
snapshot can never pass silently."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

UPDATE_FLAG = "--update-snapshots"
"""The pytest option (registered in tests/conftest.py) that rewrites snapshots."""

DIFF_LINES = 40


def compare_snapshot(path: Path, data: bytes | str, *, update: bool) -> None:
    """Fail unless `data` is byte for byte the snapshot at `path`; with `update`, write it."""
    raw = data.encode() if isinstance(data, str) else data
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        return
    if not path.is_file():
        pytest.fail(
            f"snapshot {path} is missing. If this output is new, create it with "
            f"`pytest {UPDATE_FLAG}` and review the file before committing it.",
            pytrace=False,
        )
    pinned = path.read_bytes()
    if raw != pinned:
        pytest.fail(
            f"output differs from snapshot {path}. If the change is intended, run "
            f"`pytest {UPDATE_FLAG}` and review the diff.\n{_diff(pinned, raw)}",
            pytrace=False,
        )


def _diff(pinned: bytes, raw: bytes) -> str:
    try:
        old, new = pinned.decode().splitlines(), raw.decode().splitlines()
    except UnicodeDecodeError:
        return f"(binary: {len(pinned)} bytes pinned, {len(raw)} bytes now)"
    lines = list(difflib.unified_diff(old, new, "snapshot", "now", lineterm=""))
    if not lines:
        return "(the text is the same; line endings or a final newline differ)"
    more = len(lines) - DIFF_LINES
    return "\n".join(lines[:DIFF_LINES]) + (f"\n… {more} more lines" if more > 0 else "")
