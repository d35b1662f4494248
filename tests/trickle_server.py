"""A loopback server that answers, then trickles one byte at a time, forever: a slow server.

Each byte comes well within any per-read timeout, so only a total deadline ends the exchange.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time


class TrickleServer:
    """Sends `head` at once to each client, then `drip` (repeated) one byte every `interval`;
    with an empty `drip`, answers `head` and hangs up. `tls`: serve https. `later`: what the
    second and later connections get instead of `head`."""

    def __init__(
        self,
        head: bytes,
        drip: bytes,
        interval: float = 0.3,
        tls: ssl.SSLContext | None = None,
        later: bytes | None = None,
    ) -> None:
        self.head = head
        self.later = later
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
            head = self.head if self.later is None or self.connections == 1 else self.later
            threading.Thread(target=self._serve, args=(conn, head), daemon=True).start()

    def _serve(self, conn: socket.socket, head: bytes) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(5)
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request, if the client speaks first
            conn.sendall(head)
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
