"""Writing a compiled list's cache files, so the next start maps them instead of importing again."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from rules.compiled_list import CompiledList, cache_paths, file_crc32, side_text


def save_compiled(cl: CompiledList, cache_dir: Path) -> Path:
    """Write the cache atomically (temporary file, then rename) and return the side file's path.

    The trie goes first and the side file, which names the trie's size and checksum, last: a
    crash in between leaves no side file, so the next load rebuilds.
    """
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    trie_path, side_path = cache_paths(cache_dir, cl.source_hash, cl.name)
    tmp_trie = _temp_path(cache_dir, trie_path.name)
    try:
        cl.trie.save(str(tmp_trie))
        size = tmp_trie.stat().st_size
        with tmp_trie.open("rb") as f:
            crc = file_crc32(f)
        os.replace(tmp_trie, trie_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_trie.unlink()
    tmp_side = _temp_path(cache_dir, side_path.name)
    try:
        tmp_side.write_text(side_text(cl, trie_path.name, size, crc), encoding="utf-8")
        os.replace(tmp_side, side_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_side.unlink()
    return side_path


def keep_fresh(cache_dir: Path, source_hash: str, name: str) -> None:
    """Mark a compiled copy as in use (its files' times set to now), so clearing old caches
    never removes a version the cooling-off still holds in force."""
    for path in cache_paths(cache_dir, source_hash, name):
        with contextlib.suppress(OSError):
            os.utime(path)


def _temp_path(directory: Path, final_name: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final_name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    return Path(name)
