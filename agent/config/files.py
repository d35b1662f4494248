"""Writing files under the home so a reader never sees half of one, a crash loses nothing and two
writers at once lose neither edit.

Every write takes the file's lock (`fcntl.flock` on a hidden `.NAME.lock` beside it, which the
watcher ignores and its last holder removes): an edit that reads the file first holds that lock
from the read to the write (`edit_atomic`, or `locked` around a longer edit), so a second edit
waits and then sees the first.
Readers take no lock: a file is replaced whole, so they see the old one or the new one.

In a shared home (the system home: a setgid folder whose group holds Candor's service and the
people allowed to run `candor` there) every file gets its group the owner's rights, so what one
of them writes the others, the service included, can read and replace.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_held = threading.local()
"""The locks this thread holds (path -> depth): a writer inside an edit does not wait on itself."""


def shared_mode(folder: Path, mode: int) -> int:
    """`mode` for a file in `folder`, with the owner's rights given to the group too when the
    folder is shared (setgid)."""
    try:
        shared = bool(os.stat(folder).st_mode & stat.S_ISGID)
    except OSError:
        return mode
    return mode | ((mode & 0o700) >> 3) if shared else mode


def make_folder(path: Path) -> None:
    """Create a folder under the home (and its parents) for the person alone, or for the
    group too inside a shared home."""
    path.mkdir(mode=shared_mode(path.parent, 0o700), parents=True, exist_ok=True)


def lock_file(path: Path) -> Path:
    """The hidden file whose lock stands for `path` (the file itself is replaced on each write)."""
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `path`'s lock: other processes and threads that write `path` wait until it ends."""
    key = os.path.abspath(path)
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    fd = _lock(lock_file(path))
    try:
        depth[key] = 1
        try:
            yield
        finally:
            del depth[key]
            # Gone while still held: whoever waits on it sees that and locks a new one.
            lock_file(path).unlink(missing_ok=True)
    finally:
        os.close(fd)  # releases the lock


def _lock(lock: Path) -> int:
    """An open descriptor holding `lock`'s flock, on the file that is at `lock` now.

    The holder removes the lock file when done, so one that waited may hold a file already
    removed: it then tries again on the current one.
    """
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, shared_mode(lock.parent, 0o600))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            now = os.stat(lock)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            return fd
        os.close(fd)


def edit_atomic(
    path: Path, change: Callable[[bytes | None], bytes | None], mode: int = 0o600
) -> bool:
    """Read `path` (None if absent), write `change(old)` in its place, all under its lock.

    `change` returns None (or the same bytes) to leave the file as it is; True when written.
    """
    with locked(path):
        try:
            old: bytes | None = path.read_bytes()
        except FileNotFoundError:
            old = None
        new = change(old)
        if new is None or new == old:
            return False
        write_atomic(path, new, mode)
        return True


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Readers (the agent, the file watcher) see the old file or the new one, never half of it."""
    with locked(path):
        tmp = _synced_temp(path, data)
        try:
            os.chmod(tmp, shared_mode(path.parent, mode))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def owner_only(path: Path) -> None:
    """Make a file (0600) or a folder and all it holds (0700 and 0600) the person's alone: for
    what Candor copies or downloads into the home, which arrives with the umask's modes. Links
    are left alone (their targets are not Candor's)."""
    if path.is_symlink():
        return
    file_mode, folder_mode = shared_mode(path.parent, 0o600), shared_mode(path.parent, 0o700)
    if not path.is_dir():
        os.chmod(path, file_mode)
        return
    os.chmod(path, folder_mode)
    for folder, dirs, files in os.walk(path):
        for name, mode in [*((d, folder_mode) for d in dirs), *((f, file_mode) for f in files)]:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                os.chmod(full, mode)


def create_once(path: Path, data: str | bytes) -> bool:
    """Write `path` whole (0600) only if it does not exist yet, even with another process racing.

    True when this call created it; False when the file was already there.
    """
    tmp = _synced_temp(path, data)
    try:
        os.chmod(tmp, shared_mode(path.parent, 0o600))
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system
        if path.exists():
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _synced_temp(path: Path, data: str | bytes) -> Path:
    """A hidden 0600 file next to `path`, on disk; the watcher ignores dot-files."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
