"""A real disk that fills up: a tmpfs of a few megabytes, for the full-disk tests.

Mounting needs no privilege inside a user and mount namespace of one's own: `unshare -rm`
starts a holder process that mounts the tmpfs over an empty folder and sleeps. Processes under
test (the `candor` command, a real agent) enter that namespace with `nsenter` and see the small
disk at the folder's path; this test process reaches the same files through the holder's
`/proc/PID/root`. Filling it writes a file until the kernel says ENOSPC; freeing it deletes that
file. Nothing in Candor knows about any of this: its writes fail as they would on a full disk.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import require_tool

FILLER = ".filler"


class SmallDisk:
    """A tmpfs of `size` mounted at `path`, seen only by the processes `command` starts."""

    def __init__(self, path: Path, size: str = "8m") -> None:
        unshare = require_tool("unshare")
        self._nsenter = require_tool("nsenter")
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        mount = f"mount -t tmpfs -o size={size},mode=0700 none"
        script = f'{mount} "$1" && echo mounted && exec sleep 3600'
        self._holder = subprocess.Popen(
            [unshare, "-rm", "sh", "-c", script, "sh", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self._holder.stdout.readline().strip() if self._holder.stdout else ""
        if line != "mounted":
            self._holder.kill()
            reason = (self._holder.stderr.read() if self._holder.stderr else "").strip()
            message = f"cannot mount a small tmpfs in a user namespace here: {reason}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)

    def outside(self, inner: Path) -> Path:
        """The path through which this test process reaches `inner` on the small disk."""
        return Path(f"/proc/{self._holder.pid}/root") / inner.relative_to("/")

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace, where the small disk is mounted."""
        return [self._nsenter, "-t", str(self._holder.pid), "-U", "-m", "--", *argv]

    def fill(self) -> None:
        """Write a file until the disk has no room left."""
        fd = os.open(self.outside(self.path / FILLER), os.O_CREAT | os.O_WRONLY | os.O_APPEND)
        try:
            block = b"\0" * 65536
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(block) == 1:
                        break
                    block = block[: len(block) // 2]
        finally:
            os.close(fd)

    def free(self) -> None:
        """Give the room back."""
        self.outside(self.path / FILLER).unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the holder; the tmpfs goes with its namespace."""
        self._holder.kill()
        self._holder.wait()
        for stream in (self._holder.stdout, self._holder.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """An 8 MB disk mounted at `tmp_path / "disk"` for the processes it starts."""
    disk = SmallDisk(tmp_path / "disk")
    try:
        yield disk
    finally:
        disk.close()
