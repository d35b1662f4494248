"""How much memory and delay does a large body cost through the agent? (Issue 12, item 2.)

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/bench_bodies.py [--size-mb 1024]

Starts `candor run` on a temp home (bench_proxy's setup, with a small list and a path rule that
makes it decrypt the origin's HTTPS), then moves one body of `--size-mb` each way, over plain
HTTP and over intercepted HTTPS: a download from the origin and an upload to it. For each, it
prints the agent's peak RSS growth over its RSS just before (sampled every 10 ms), and the time
to the first body byte through the agent against the same exchange sent straight to the origin
in the same run (for a download, the client's first byte; for an upload, the origin's). Goals:
growth ≤ +50 MB; first byte within 0.5 s of the origin's. Never run by the tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy

GOAL_MB = 50.0
GOAL_FIRST_BYTE = 0.5
CHUNK = b"b" * 2**20
SETTLE = 3.0
"""Seconds before each exchange, so the RSS it starts from is the agent's idle size."""
INSPECTED_PATH = "/private"
"""A path rule on the origin's address: the agent decrypts its HTTPS; /bytes stays allowed."""


class _Origin(BaseHTTPRequestHandler):
    """GET /bytes/N answers N bytes; POST /bytes reads the body and answers when its first byte
    came (`time.monotonic`, this process's clock) and how many came."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        size = int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        for _ in range(size // len(CHUNK)):
            self.wfile.write(CHUNK)
        self.wfile.write(CHUNK[: size % len(CHUNK)])

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        first = self.rfile.read(1)
        first_at = time.monotonic()
        received = len(first)
        while received < length and (part := self.rfile.read(min(length - received, 2**20))):
            received += len(part)
        body = json.dumps({"first_at": first_at, "received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def origin(cert: Path) -> Iterator[tuple[int, int]]:
    """The big-body origin on 127.0.0.1: (HTTP port, HTTPS port)."""
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    secure = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, cert.with_name("origin.key"))
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield plain.server_address[1], secure.server_address[1]
    finally:
        for server in (plain, secure):
            server.shutdown()
            server.server_close()


@contextmanager
def agent(work: Path) -> Iterator[tuple[bench_proxy.Proxy, Path, Path]]:
    """`candor run` as bench_proxy.candor_running starts it, with a path rule on the origin's
    address so its HTTPS is decrypted; the proxy, the origin's certificate and Candor's CA."""
    setup = bench_proxy.prepare(work, 1_000)
    bench_proxy.candor(setup.home, "rules", "add", "adult", f"127.0.0.1{INSPECTED_PATH}")
    proxy = setup.spawn("candor")
    try:
        bench_proxy.wait_answer(proxy, setup.ready_probe("candor"))
        yield proxy, setup.cert, setup.home / "mitmproxy" / "mitmproxy-ca-cert.pem"
    finally:
        proxy.stop()


@dataclass
class Route:
    """How a client reaches the origin: straight, or through the agent."""

    scheme: str
    port: int
    cafile: Path
    proxy: int | None = None

    def connect(self) -> tuple[http.client.HTTPConnection, str]:
        """A fresh connection and the prefix of its request targets."""
        if self.scheme == "http":
            if self.proxy is None:
                return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120), ""
            conn = http.client.HTTPConnection("127.0.0.1", self.proxy, timeout=120)
            return conn, f"http://127.0.0.1:{self.port}"
        context = ssl.create_default_context(cafile=str(self.cafile))
        if self.proxy is None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=120, context=context)
            return conn, ""
        conn = http.client.HTTPSConnection("127.0.0.1", self.proxy, timeout=120, context=context)
        conn.set_tunnel("127.0.0.1", self.port)
        return conn, ""


def download(route: Route, size: int) -> float:
    """Seconds from sending the request to the client's first body byte; reads it all."""
    conn, prefix = route.connect()
    with closing(conn):
        conn.connect()
        started = time.monotonic()
        conn.request("GET", f"{prefix}/bytes/{size}")
        response = conn.getresponse()
        got = len(response.read(1))
        first = time.monotonic() - started
        buffer = bytearray(2**20)
        while n := response.readinto(buffer):
            got += n
        assert got == size, f"download: {got} of {size} bytes"
    return first


def upload(route: Route, size: int) -> float:
    """Seconds from the client's first body byte to the origin's; sends it all."""
    conn, prefix = route.connect()
    with closing(conn):
        conn.connect()
        conn.putrequest("POST", f"{prefix}/bytes")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        started = time.monotonic()
        for _ in range(size // len(CHUNK)):
            conn.send(CHUNK)
        conn.send(CHUNK[: size % len(CHUNK)])
        answer = json.loads(conn.getresponse().read())
        assert answer["received"] == size, f"upload: {answer['received']} of {size} bytes"
    return answer["first_at"] - started


@contextmanager
def peak_rss(proxy: bench_proxy.Proxy) -> Iterator[list[float]]:
    """Samples the agent's RSS every 10 ms; the list holds [before, peak] once done."""
    found = [proxy.rss_mb()]
    peak = [found[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], proxy.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found.append(max(peak[0], proxy.rss_mb()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * 2**20
    met = True
    with (
        tempfile.TemporaryDirectory(prefix="candor-bench-") as tmp,
        agent(Path(tmp)) as (proxy, cert, candor_ca),
        origin(cert) as (http_port, https_port),
    ):
        time.sleep(SETTLE)
        print(f"idle: {proxy.rss_mb():.1f} MB; {args.size_mb:,} MB each way")
        for scheme, port in (("http", http_port), ("https", https_port)):
            for name, exchange in (("download", download), ("upload", upload)):
                own = exchange(Route(scheme, port, cert), size)
                time.sleep(SETTLE)
                route = Route(scheme, port, candor_ca, proxy.port)
                with peak_rss(proxy) as rss:
                    through = exchange(route, size)
                before, peak = rss
                grew, later = peak - before, through - own
                ok = grew <= GOAL_MB and later <= GOAL_FIRST_BYTE
                met = met and ok
                print(f"{scheme:5} {name:8}: RSS {before:.1f} → peak {peak:.1f} MB ({grew:+.1f}); "
                      f"first byte {through:.3f} s, origin's own {own:.3f} s ({later:+.3f} s): "
                      f"{'met' if ok else 'NOT met'}")  # fmt: skip
    print(f"goals (≤ +{GOAL_MB:.0f} MB, first byte ≤ +{GOAL_FIRST_BYTE} s): "
          f"{'all met' if met else 'NOT all met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
