"""A loopback server that answers, then trickles one byte at a time, forever: a slow server.

Each byte comes well within any per-read timeout, so only a total deadline ends the exchange.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest


class TrickleServer:
    """Sends `head` at once to each client, then `drip` (repeated) one byte every `interval`;
    with an empty `drip`, answers `head` and hangs up. `tls`: serve https."""

    def __init__(
        self, head: bytes, drip: bytes, interval: float = 0.3, tls: ssl.SSLContext | None = None
    ) -> None:
        self.head = head
        self.drip = drip
        self.interval = interval
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> TrickleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(5)
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request, if the client speaks first
            conn.sendall(self.head)
            while self.drip and not self._stop.is_set():
                for byte in self.drip:
                    time.sleep(self.interval)
                    if self._stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
        except OSError:
            return  # the client hung up: what a deadline does
        finally:
            conn.close()


SMTP_TRICKLE = (b"", b"220-slow.example greets you, one byte at a time\r\n")
"""A mail server whose greeting never ends."""

HTTP_TRICKLE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n",
    b"0.0.0.0 slow.example\n",
)
"""A web server whose body never ends (a list download, or a webhook's answer)."""


@pytest.fixture
def trickle_smtp() -> Iterator[TrickleServer]:
    """A loopback mail server that trickles its greeting."""
    server = TrickleServer(*SMTP_TRICKLE).start()
    yield server
    server.stop()


@pytest.fixture
def trickle_http() -> Iterator[TrickleServer]:
    """A loopback web server that answers 200 and trickles the body."""
    server = TrickleServer(*HTTP_TRICKLE).start()
    yield server
    server.stop()
