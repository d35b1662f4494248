"""A total deadline for one network exchange, so a server that trickles cannot hang Candor.

A socket timeout bounds each read, not the exchange: a server sending one byte every 20 s
never trips a 30 s timeout. `ExchangeDeadline` holds its own copy of each socket the exchange
opens (a duplicated descriptor) and shuts the connection down from a timer thread when the
time is up, which wakes any read or write blocked on it. The caller then sees an error, checks
`expired`, and says in one sentence that the server did not finish in time.

Sockets come in through `watch(sock)` (smtplib's socket hook) or, for httpx, through the
`trace` request extension (`httpx_extensions()`), which names each new connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def seconds_words(seconds: float) -> str:
    """A deadline as the messages say it: "60 s", "1.5 s"."""
    return f"{seconds:g} s"


class ExchangeDeadline:
    """Ends every connection of one exchange once `seconds` have passed since `start()`.

    Use as a context manager around the whole exchange; leaving it stops the timer and lets go
    of the duplicated descriptors, so nothing fires after the exchange is over.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._fired = False
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._over = False
        self._ends_at = 0.0
        self._timer: threading.Timer | None = None

    def start(self) -> ExchangeDeadline:
        """Start the clock (once)."""
        if self._timer is None:
            self._ends_at = time.monotonic() + self.seconds
            self._timer = threading.Timer(max(self.seconds, 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __enter__(self) -> ExchangeDeadline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The exchange is over: cancel the timer and close the held descriptors."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._over = True
            held, self._held = self._held, []
        for sock in held:
            sock.close()

    @property
    def expired(self) -> bool:
        """Whether the time is up (a read that timed out at the same moment counts too)."""
        return self._fired or (self._timer is not None and self.remaining() <= 0)

    def remaining(self) -> float:
        """Seconds left (0 when the deadline has passed), to bound a single connect or read."""
        if self._timer is None:
            return self.seconds
        return max(self._ends_at - time.monotonic(), 0.0)

    def clip(self, timeout: float) -> float:
        """`timeout`, or less when less time is left (at least a moment, never 0: blocking)."""
        return max(min(timeout, self.remaining()), 0.001)

    def watch(self, sock: socket.socket) -> None:
        """Hold a duplicate of `sock`'s descriptor, so the deadline can shut it down (even
        after TLS has wrapped it); shut it at once if the deadline has already passed."""
        try:
            held = sock.dup()  # a plain socket: callers watch it before any TLS wraps it
        except (OSError, NotImplementedError):
            return
        with self._lock:
            if self._over:
                held.close()
                return
            self._held.append(held)
            if self._fired:
                _shut(held)

    def _fire(self) -> None:
        with self._lock:
            if self._over:
                return
            self._fired = True
            for sock in self._held:
                _shut(sock)

    def httpx_extensions(self) -> dict[str, Any]:
        """Request extensions for httpx: a `trace` hook that watches each new connection."""
        return {"trace": self._trace}

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            get_extra: Callable[[str], Any] | None = getattr(stream, "get_extra_info", None)
            sock = get_extra("socket") if get_extra is not None else None
            if isinstance(sock, socket.socket):
                self.watch(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)
