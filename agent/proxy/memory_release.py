"""Hands memory freed after a burst of traffic back to the operating system.

A burst of connections (a browser opening a busy page, a hundred tabs restored at once) makes
the C allocator grow its heaps; when the burst ends, glibc keeps most of the freed memory for
later instead of returning it, and the agent's resident size stays at its high-water mark for as
long as it runs. `malloc_trim` returns what is free. Measured with back-to-back 200-client
bursts (bench/bench_soak_memory.py): without it the resident size rose 1–2.5 MB per burst and
kept rising; with it, it stayed within 0.5–2 MB of the level after the first burst. Elsewhere
than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

EVERY_SECONDS = 10.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (musl has no malloc_trim)
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """True if the allocator gave memory back; safe to call from any thread."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
