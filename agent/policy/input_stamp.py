"""What the settings and rules on disk look like, cheaply: to tell after start-up whether anything
changed since they were read (an edit between the first load and the watcher's first event)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from agent.config import Home

Stamp = tuple[object, ...]


def input_stamp(home: Home) -> Stamp:
    """config.toml's bytes (hashed) and every rules and list file's identity, size and times.

    Taken before a load: an edit after it changes the stamp, so a later comparison sees it.
    """
    return (_hash_of(home.config_file), *_files(home.rules_dir), *_files(home.lists_dir))


def _hash_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable: {exc.errno}"


def _files(folder: Path) -> list[tuple[str, int, int, int, int]]:
    """(path, inode, size, mtime, ctime) of each file the watcher would notice under `folder`."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name.endswith(("~", ".tmp")):
                continue
            path = os.path.join(parent, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append((path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return found
