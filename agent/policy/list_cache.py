"""Writing a compiled list's cache files, so the next start maps them instead of importing again."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from agent.config.files import make_folder
from rules.compiled_list import (
    CompiledList,
    cache_paths,
    file_crc32,
    lines_bytes,
    lines_path,
    side_text,
)


def save_compiled(cl: CompiledList, cache_dir: Path) -> Path:
    """Write the cache atomically (temporary file, then rename) and return the side file's path.

    The trie (and a rules file's line numbers) go first and the side file, which names their
    sizes and checksums, last: a crash in between leaves no side file, so the next load rebuilds.
    """
    make_folder(cache_dir)
    trie_path, side_path = cache_paths(cache_dir, cl.source_hash, cl.name)
    size, crc = _write_checked(trie_path, lambda tmp: cl.trie.save(str(tmp)))
    lines = None
    numbers = lines_bytes(cl)
    if numbers is not None:
        path = lines_path(trie_path)
        lines = (path.name, *_write_checked(path, lambda tmp: tmp.write_bytes(numbers)))
    tmp_side = _temp_path(cache_dir, side_path.name)
    try:
        tmp_side.write_text(side_text(cl, trie_path.name, size, crc, lines), encoding="utf-8")
        os.replace(tmp_side, side_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_side.unlink()
    return side_path


def _write_checked(path: Path, write: Callable[[Path], object]) -> tuple[int, int]:
    """Write `path` through a temporary file (0600) and return its size and CRC-32."""
    tmp = _temp_path(path.parent, path.name)
    try:
        write(tmp)
        size = tmp.stat().st_size
        with tmp.open("rb") as f:
            crc = file_crc32(f)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return size, crc


def keep_fresh(cache_dir: Path, source_hash: str, name: str) -> None:
    """Mark a compiled copy as in use (its files' times set to now), so clearing old caches
    never removes a version the cooling-off still holds in force."""
    trie_path, side_path = cache_paths(cache_dir, source_hash, name)
    for path in (trie_path, side_path, lines_path(trie_path)):
        with contextlib.suppress(OSError):
            os.utime(path)


def _temp_path(directory: Path, final_name: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final_name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    return Path(name)
