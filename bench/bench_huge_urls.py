"""How much memory can a web page make the agent take with huge URLs? (Issue 12, item 1.)

    .venv/bin/python bench/bench_huge_urls.py [--count 2048] [--size 1000000] [--clients 8]

Starts `candor run` on a temp home (bench_proxy's setup, with a small list), then sends
`--count` requests for URLs of `--size` bytes to a blocked host, as a page's images would
(`Sec-Fetch-Mode: no-cors`), and prints the agent's resident size before and after, and the
same for a baseline burst of short URLs in the same run. Goal: the huge burst stays within
+50 MB of the baseline burst. Never run by the tests.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy

GOAL_MB = 50.0
SETTLE = 12.0
"""Seconds after a burst before RSS is read: the agent releases freed memory periodically."""


def request_once(proxy_port: int, target_port: int, size: int) -> int:
    """One request through the proxy for a URL of about `size` bytes; its status code."""
    path = "/" + "x" * max(0, size - 40)
    head = (
        f"GET http://{bench_proxy.BLOCKED_HOST}:{target_port}{path} HTTP/1.1\r\n"
        f"Host: {bench_proxy.BLOCKED_HOST}:{target_port}\r\n"
        "Accept: image/*\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=30) as s:
        s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def burst(proxy: bench_proxy.Proxy, target_port: int, count: int, size: int, clients: int) -> float:
    """Send the burst; the agent's RSS (MB) growth, measured after it settles."""
    before = proxy.rss_mb()
    with ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(lambda _: request_once(proxy.port, target_port, size), range(count)))
    time.sleep(SETTLE)  # the agent's periodic memory release runs meanwhile
    blocked = sum(code == 403 for code in codes)
    print(f"  {count} × {size:,} B: {blocked} blocked; RSS {before:.1f} → {proxy.rss_mb():.1f} MB")
    return proxy.rss_mb() - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2048)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="candor-bench-") as tmp,
        bench_proxy.candor_running(Path(tmp), 1_000) as (proxy, ports),
    ):
        print(f"idle: {proxy.rss_mb():.1f} MB")
        base = burst(proxy, ports["http"], args.count, 100, args.clients)
        huge = burst(proxy, ports["http"], args.count, args.size, args.clients)
    extra = huge - base
    print(f"huge burst grew RSS {huge:+.1f} MB, short burst {base:+.1f} MB: {extra:+.1f} MB more "
          f"(goal ≤ +{GOAL_MB:.0f} MB): {'met' if extra <= GOAL_MB else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
