"""Whether the disk that holds the journal takes a write now, for `candor status`.

When the disk is full, the agent's journal writes fail and it has nowhere to say so: every file
it could tell status through needs room too. So status tries one small write of its own, next to
the journal, and removes it at once. Only a refusal that would stop the agent's writes as well
(no space, a quota, a read-only disk, an I/O error) counts: a home this user may not write to
says nothing about the agent, which may run as someone else.
"""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import suppress
from pathlib import Path

from agent.journal.store import write_failure_words

PROBE_BYTES = 64 * 1024
"""About one batch of journal rows: a disk that cannot take this is full for Candor."""
REFUSALS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})
"""The errors that stop the agent's writes too."""


def write_refused(folder: Path) -> str | None:
    """Why the disk holding `folder` refuses a write now, in a few words ("the disk is full"),
    or None when it takes one (or when the refusal says nothing about the agent's writes)."""
    probe = folder / f".candor-write-check-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        return _refusal(exc)
    try:
        data = memoryview(bytes(PROBE_BYTES))
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    except OSError as exc:
        return _refusal(exc)
    finally:
        os.close(fd)
        with suppress(OSError):
            probe.unlink()
    return None


def _refusal(exc: OSError) -> str | None:
    return write_failure_words(exc) if exc.errno in REFUSALS else None
