"""Clean, numbered text lines from a rule or list file, whatever state the bytes are in.

Real lists arrive with a BOM, CRLF or bare CR line ends, stray Latin-1 bytes and the odd
megabyte-long line. Readers should only ever see `str` lines with their 1-based numbers. Lines come
in blocks of about 64 KiB so that a million-line file costs one tight loop per block, and so that
a progress bar can follow the bytes read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from rules.own_files import LINK_WORDS, LinkRefused, read_own_file

BLOCK_SIZE = 64 * 1024
MAX_LINE = 4096
"""Longer lines are rejected: no rule or host name is anywhere near this long."""

_KEEP_OF_OVERLONG = 2 * MAX_LINE
"""How much of a runaway line is kept: enough to reject it and show its start, no more."""
_BOM = b"\xef\xbb\xbf"
_SNIFF_BINARY = 8192

Block = tuple[int, list[str]]
"""The number of the first line, then the lines (no line ends)."""

Progress = Callable[[int], None]


class RulesFileError(OSError):
    """A rule or list file that cannot be read at all; the message names the file and the cause."""


def file_error(exc: OSError, name: str) -> RulesFileError:
    """Turn an OS error into one plain sentence that names the file."""
    match exc:
        case FileNotFoundError():
            why = "no such file or folder"
        case IsADirectoryError():
            why = "it is a folder, not a file"
        case NotADirectoryError():
            why = "part of the path is not a folder"
        case PermissionError():
            why = "permission denied"
        case _:
            why = exc.strerror or str(exc)
    return RulesFileError(f"cannot read {name}: {why}")


def read_bytes(path: Path, name: str) -> bytes:
    """A whole file's bytes, or a `RulesFileError` that names the file in plain words."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise file_error(exc, name) from None


def read_own_bytes(path: Path, name: str) -> bytes:
    """A file of Candor's own folder, never through a link: a link there could make Candor read
    (and `rules check` show) any file on the computer. A `RulesFileError` otherwise."""
    try:
        return read_own_file(path)
    except LinkRefused:
        raise RulesFileError(f"cannot read {name}: {LINK_WORDS}") from None
    except OSError as exc:
        raise file_error(exc, name) from None


def open_binary(path: Path, name: str) -> BinaryIO:
    """A file opened for streaming, or a `RulesFileError` that names it in plain words."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise file_error(exc, name) from None


def decode_text(data: bytes) -> str:
    """A whole small file as text: no BOM, undecodable bytes as U+FFFD, only `\n` line ends."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    text = data.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def iter_blocks(stream: BinaryIO, name: str, progress: Progress | None = None) -> Iterator[Block]:
    """Yield the stream's lines in blocks; `progress` gets the bytes read after each block.

    Raises `RulesFileError` if the stream breaks mid-read or holds binary data (a zip, a gzip,
    UTF-16): such a file is not a list, and reporting every "line" of it would only bury that.
    """
    lineno = 1
    carry = b""
    done = 0
    first = True
    while True:
        try:
            chunk = stream.read(BLOCK_SIZE)
        except OSError as exc:
            raise file_error(exc, name) from None
        done += len(chunk)
        if first:
            first = False
            if b"\0" in chunk[:_SNIFF_BINARY]:
                raise RulesFileError(
                    f"cannot read {name}: it holds binary data (compressed, UTF-16 or not a list)"
                )
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if not chunk:
            break
        buf = carry + chunk
        cut = buf.rfind(b"\n")
        if cut == -1:
            # A bare CR ends a line too, unless it is the last byte and the LF is still to come.
            cut = buf.rfind(b"\r", 0, len(buf) - 1)
        if cut == -1:
            carry = buf if len(buf) <= _KEEP_OF_OVERLONG else buf[:_KEEP_OF_OVERLONG]
            continue
        carry = buf[cut + 1 :]
        lines = _split(buf[: cut + 1])
        yield lineno, lines
        lineno += len(lines)
        if progress is not None:
            progress(done)
    if carry:
        yield lineno, _split(carry)
    if progress is not None:
        progress(done)


def blocks_from_bytes(data: bytes, name: str, progress: Progress | None = None) -> Iterator[Block]:
    """The same blocks for content already in memory (a download)."""
    return iter_blocks(io.BytesIO(data), name, progress)


def _split(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines
