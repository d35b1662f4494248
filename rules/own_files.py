"""Reading a file of Candor's own folder without ever following a link.

Anyone who can write to the home could replace a file there with a link to any file on the
computer, and Candor would read it (and `rules check` or `config check` would show it). So the
files Candor reads from its home are opened with `O_NOFOLLOW`: a link is refused, in one
sentence, and neither followed nor shown. This is the one owner of that open; callers turn
`LinkRefused` into their own error naming the file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import BinaryIO

LINK_WORDS = (
    "it is a link to another file, and Candor reads only the files in its own folder. Put the "
    "file itself there instead of the link."
)
"""What is wrong with a link, for a message that names the file first."""


class LinkRefused(OSError):
    """The file is a link; it was not followed."""


def open_own_file(path: Path) -> BinaryIO:
    """`path` opened for reading, unless it is a link (`LinkRefused`); other `OSError`s as is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(errno.ELOOP, "a link", str(path)) from None
        raise
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_own_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` (at most `limit` + 1 of them, so a caller can tell it is too big)."""
    with open_own_file(path) as f:
        return f.read() if limit is None else f.read(limit + 1)
