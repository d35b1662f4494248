"""Benchmark of Candor's DNS (`candor run --dns`) against plain `mitmdump --mode dns` and dnsmasq,
measured side by side in one invocation, on the same upstream resolver.

    .venv/bin/python bench/bench_dns.py              # 1,000,000-domain list, about 4 minutes
    .venv/bin/python bench/bench_dns.py --quick      # 100,000 domains, 3 s runs, 3 runs

Needs root (the upstream listens on 127.0.0.1:53: mitmdump only forwards to port 53) and,
for the third column, `dnsmasq` from Debian (`apt-get install -y dnsmasq-base`; skipped with a
note when missing). Everything stays on 127.0.0.1: a tiny upstream (a separate process that
answers every A query with one address, so it never limits the others), Candor on a temp home
into which a seeded domain list (bench/bench_proxy.py's, generated once into bench/.data/proxy/)
was imported as the `adult` category, plain mitmdump with no addons (`dns_name_servers` set to the
upstream, no hosts file), and dnsmasq with no cache (`--cache-size=0`, so it forwards every
query as Candor does) and the same list loaded as a hosts file (its fastest way to hold a
million names). The load is a windowed UDP client (64 queries in flight) asking unique names,
so no resolver cache helps. Cases: allowed names (forwarded upstream by all three) and names of
the list (answered by Candor and dnsmasq; forwarded by mitmdump, which cannot block: what the
person pays without Candor). Each case runs on every server in turn, alternating the order,
`--runs` times; the figure is the median CPU time of the server process per answered query.
Ratios are against mitmdump in the same run. Never asserted, never run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_proxy import domain_list, free_port, stop  # noqa: E402

VENV_BIN = Path(sys.executable).parent
UPSTREAM = ("127.0.0.1", 53)
WINDOW = 64


# ---------------------------------------------------------------- wire


def query(qid: int, name: str) -> bytes:
    """A recursive A query for `name`."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"


def upstream_answer(packet: bytes) -> bytes:
    """The upstream's reply: one A record (192.0.2.1) for an A question, none for others."""
    qid, _, qd = struct.unpack_from("!HHH", packet)
    end = 12
    while packet[end]:
        end += packet[end] + 1
    end += 5
    qtype = struct.unpack_from("!H", packet, end - 4)[0]
    answers = 1 if qtype == 1 else 0
    head = struct.pack("!HHHHHH", qid, 0x8180, qd, answers, 0, 0)
    record = b"\xc0\x0c\0\1\0\1\0\0\1\x2c\0\4\xc0\0\2\1" if answers else b""
    return head + packet[12:end] + record


def serve_upstream() -> None:
    """The upstream resolver process: answers forever on UPSTREAM."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(UPSTREAM)
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            sock.sendto(upstream_answer(data), peer)
        except (IndexError, struct.error):
            continue


# ---------------------------------------------------------------- load


class _Client(asyncio.DatagramProtocol):
    def __init__(self, names: Callable[[int], str], total: float) -> None:
        self.names, self.deadline = names, time.monotonic() + total
        self.sent = self.answered = 0
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for _ in range(WINDOW):
            self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent += 1
        self.transport.sendto(query(self.sent & 0xFFFF, self.names(self.sent)))

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.answered += 1
        if time.monotonic() < self.deadline:
            self._send()
        elif self.answered + WINDOW >= self.sent and not self.done.done():
            self.done.set_result(None)


async def _load(port: int, names: Callable[[int], str], seconds: float) -> int:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: _Client(names, seconds), remote_addr=("127.0.0.1", port)
    )
    with contextlib.suppress(TimeoutError):  # a few lost datagrams: count what was answered
        await asyncio.wait_for(client.done, seconds + 5)
    transport.close()
    return client.answered


def load(port: int, names: Callable[[int], str], seconds: float) -> int:
    """Queries answered in `seconds` of windowed load."""
    return asyncio.run(_load(port, names, seconds))


def answers(port: int, name: str) -> bytes:
    """One reply, for the readiness checks (empty after two seconds without one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query(7, name), ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b""


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    def cpu(self) -> float:
        t = psutil.Process(self.process.pid).cpu_times()
        return t.user + t.system


def spawn(name: str, cmd: list[str], port: int, log: Path, probe: str) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not answers(port, probe):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"{name} did not answer DNS; see {log}")
        time.sleep(0.2)
    return Server(name, process, port)


def servers(work: Path, listed: Path, with_dnsmasq: bool) -> list[Server]:
    home = work / "home"
    subprocess.run(
        [str(VENV_BIN / "candor"), "--home", str(home), "rules", "import", str(listed),
         "--category", "adult"],
        check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    up = f"{UPSTREAM[0]}:{UPSTREAM[1]}"
    found = []
    port = free_port()
    found.append(spawn(
        "candor",
        [str(VENV_BIN / "candor"), "--home", str(home), "run", "--listen",
         f"127.0.0.1:{free_port()}", "--dns", f"127.0.0.1:{port}", "--dns-upstream", up],
        port, work / "candor.log", "ready.allowed.test",
    ))  # fmt: skip
    port = free_port()
    found.append(spawn(
        "mitmdump",
        [str(VENV_BIN / "mitmdump"), "--mode", f"dns@{port}", "--listen-host", "127.0.0.1",
         "--set", f"confdir={work / 'mitm'}", "--set", f"dns_name_servers={UPSTREAM[0]}",
         "--set", "dns_use_hosts_file=false", "--set", "termlog_verbosity=warn",
         "--set", "flow_detail=0"],
        port, work / "mitmdump.log", "ready.allowed.test",
    ))  # fmt: skip
    if with_dnsmasq:
        hosts = work / "list.hosts"
        with listed.open() as src, hosts.open("w") as dst:
            dst.writelines(f"198.51.100.1 {line.strip()}\n" for line in src if line.strip())
        port = free_port()
        found.append(spawn(
            "dnsmasq",
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--cache-size=0",
             f"--server={UPSTREAM[0]}#{UPSTREAM[1]}", f"--addn-hosts={hosts}",
             "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
             "--pid-file=", "--user=root", "--log-facility=-"],
            port, work / "dnsmasq.log", "ready.allowed.test",
        ))  # fmt: skip
    return found


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 domains, 3 s runs, 3 runs")
    parser.add_argument("--runs", type=int, help="runs per case and server (default 5)")
    parser.add_argument("--seconds", type=float, help="seconds per run (default 5)")
    parser.add_argument("--domains", type=int, help="domains in the list (default 1,000,000)")
    parser.add_argument("--upstream-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.upstream_only:
        serve_upstream()
        return 0
    if os.geteuid() != 0:
        raise SystemExit("Run as root: the upstream listens on 127.0.0.1:53.")
    runs = args.runs or (3 if args.quick else 5)
    seconds = args.seconds or (3.0 if args.quick else 5.0)
    listed = domain_list(args.domains or (100_000 if args.quick else 1_000_000))
    blocked = [line.strip() for line in listed.open() if line.strip()]
    with_dnsmasq = shutil.which("dnsmasq") is not None
    if not with_dnsmasq:
        print("dnsmasq is not installed (apt-get install -y dnsmasq-base): its column is left out.")
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--upstream-only"], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert upstream.stdout is not None and upstream.stdout.readline().strip() == b"ready"
    tag = f"{random.randrange(1 << 30):x}"
    cases: dict[str, Callable[[int], str]] = {
        "allowed": lambda i: f"q{i}.{tag}.allowed.test",
        "listed": lambda i: blocked[(i * 7919) % len(blocked)],
    }
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="candor-bench-dns-") as tmp:
        running = servers(Path(tmp), listed, with_dnsmasq)
        try:
            for run in range(runs):
                order = running if run % 2 == 0 else running[::-1]
                for case, names in cases.items():
                    for server in order:
                        before = server.cpu()
                        answered = load(server.port, names, seconds)
                        time.sleep(0.2)
                        cpu = server.cpu() - before
                        sample = (1000 * cpu / max(answered, 1), answered / seconds)
                        results.setdefault((case, server.name), []).append(sample)
        finally:
            for server in running:
                stop(server.process)
            stop(upstream)
    names = [s.name for s in running]
    print(f"\nCPU per query (ms), median of {runs} runs of {seconds:g} s; ratio to mitmdump")
    print(f"{'case':<10}" + "".join(f"{n:>22}" for n in names))
    for case in cases:
        base = statistics.median(c for c, _ in results[(case, "mitmdump")])
        cells = []
        for name in names:
            cpu = statistics.median(c for c, _ in results[(case, name)])
            qps = statistics.median(q for _, q in results[(case, name)])
            cells.append(f"{cpu:.3f} {cpu / base:.2f}x {qps:>6,.0f}/s")
        print(f"{case:<10}" + "".join(f"{c:>22}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
