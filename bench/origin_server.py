"""A small, fast keep-alive origin for the proxy benchmark: HTTP and HTTPS on 127.0.0.1.

The test suite's origin (tests/origins.py) spends a thread per connection and logs every
request, which is right for proving what reached it but would make the origin, not the proxy,
the bottleneck under load. This one is a single asyncio process answering every request with
the same 44-byte body, like the reference measurements' origin. It listens on one HTTP port and
two HTTPS ports: one that the proxies pass through and one they intercept, so plain mitmdump
can be told to pass through exactly the first (`ignore_hosts` matches host:port).

    python bench/origin_server.py --cert origin.crt --key origin.key

prints one JSON line with the ports, then serves until stdin closes or SIGTERM. `GET /__stats`
(sent directly, not through a proxy) answers with the connections and requests counted so far.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
from collections import Counter

BODY = b"candor bench origin: hello from 127.0.0.1..\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY
CLOSE_RESPONSE = RESPONSE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
END = b"\r\n\r\n"

stats: Counter[str] = Counter()


class _Http(asyncio.Protocol):
    """Answers each complete request head at once; requests carry no body here."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        stats[f"{self.name}_connections"] += 1

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer + data
        while (end := buffer.find(END)) >= 0:
            head, buffer = buffer[:end], buffer[end + 4 :]
            stats[f"{self.name}_requests"] += 1
            if head.startswith(b"GET /__stats "):
                body = json.dumps(stats).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            elif b"onnection: close" in head or b"ONNECTION: close" in head:
                self.transport.write(CLOSE_RESPONSE)
                self.transport.close()
                return
            else:
                self.transport.write(RESPONSE)
        self.buffer = buffer


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def serve(cert: str, key: str) -> None:
    loop = asyncio.get_running_loop()
    context = tls_context(cert, key)
    servers = {
        "http": await loop.create_server(lambda: _Http("http"), "127.0.0.1", 0, backlog=1024),
        "https_pass": await loop.create_server(
            lambda: _Http("https_pass"), "127.0.0.1", 0, ssl=context, backlog=1024
        ),
        "https_intercept": await loop.create_server(
            lambda: _Http("https_intercept"), "127.0.0.1", 0, ssl=context, backlog=1024
        ),
    }
    ports = {name: s.sockets[0].getsockname()[1] for name, s in servers.items()}
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(1) or stop.set())
    await stop.wait()
    for server in servers.values():
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.cert, args.key))


if __name__ == "__main__":
    main()
