"""The agent's pid file: who is running for this home, and where it listens.

Its own module so `candor status` and `candor stop` can read it without importing the runner,
which loads mitmproxy (a second of start-up). Format: the pid on the first line, then the
listening `host:port` once it is known.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.config.files import write_atomic


def read_pid_file(path: Path) -> tuple[int, str | None] | None:
    """(pid, "host:port" once listening) from the pid file, or None if there is none."""
    try:
        lines = path.read_text().split()
        return int(lines[0]), lines[1] if len(lines) > 1 else None
    except (OSError, ValueError, IndexError):
        return None


def write_pid_file(path: Path, address: str | None = None) -> None:
    """This process's pid, then the listening address once it is known; replaced atomically."""
    write_atomic(path, f"{os.getpid()}\n" + (f"{address}\n" if address else ""), 0o644)


def remove_pid_file(path: Path) -> None:
    """Remove the pid file only if it is this process's: a newer agent may have taken over."""
    found = read_pid_file(path)
    if found and found[0] == os.getpid():
        path.unlink(missing_ok=True)


def is_candor(pid: int) -> bool:
    """Whether `pid` is alive and looks like Candor (pids are reused after a crash)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: a live process with that pid is the best evidence there is
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        return False  # a zombie: dead, only waiting for its parent
    return b"candor" in cmdline or b"agent.cli" in cmdline
