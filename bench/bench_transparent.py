"""Benchmark of Candor's transparent listener (`candor run --transparent`) against plain
`mitmdump --mode transparent@…`: proxy CPU time per passed-through HTTPS connection, side by side
in one invocation (issue 13's goal: at most 1.1 times mitmdump's).

    .venv/bin/python bench/bench_transparent.py               # 500 connections, 5 runs each
    .venv/bin/python bench/bench_transparent.py --quick       # 200 connections, 3 runs each

Needs root, `unshare`, `nsenter`, `setpriv`, `nft` and /usr/bin/python3. Everything happens in a
network namespace made for the run (nothing leaves it, and it goes with the run): a TLS origin on
192.0.2.10:443 (TEST-NET-1 on a veth, since Candor's own table leaves loopback alone), one
nftables rule redirecting the ordinary user's (uid 65534) TCP 443 to 127.0.0.1:PORT, and each
proxy in turn listening there, as root. The client, as that ordinary user with no proxy
settings, opens `--connections` connections (8 at a time) with the SNI `allowed.bench.test`,
completes the TLS handshake with the origin (end to end: both proxies pass it through), sends a
request, reads the answer and closes. Candor runs on a temp home with one blocked host (any other
host passes through at the ClientHello); mitmdump with `connection_strategy=lazy`, quiet logs and
`ignore_hosts` matching the allowed host, its way to pass a connection through. The figure is
the proxy process's CPU time (utime + stime from /proc/PID/stat) over the connections of a run,
per connection, after 20 warm-up connections; the median over `--runs` runs, alternating which
proxy goes first. The ratio is Candor's over mitmdump's. Never asserted, never run by the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ORIGIN = "192.0.2.10"
SNI = "allowed.bench.test"
BLOCKED = "blocked.bench.test"
PORT = 18443
NOBODY = 65534
WARM_UP = 20
CONCURRENCY = 8
TICKS = os.sysconf("SC_CLK_TCK")

CLIENT = """
import socket, ssl, sys, threading
host, sni, total, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
done, lock, left = [0], threading.Lock(), [total]
def work():
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        try:
            with socket.create_connection((host, 443), timeout=20) as raw:
                with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                    tls.sendall(b"GET / HTTP/1.1\\r\\nHost: " + sni.encode() + b"\\r\\n\\r\\n")
                    if tls.recv(4096).startswith(b"HTTP/1.1 200"):
                        with lock:
                            done[0] += 1
        except OSError:
            pass
threads = [threading.Thread(target=work) for _ in range(width)]
for t in threads: t.start()
for t in threads: t.join()
print(done[0])
"""

ORIGIN_SERVER = """
import asyncio, ssl, sys
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
BODY = b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n"
async def serve(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(BODY)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(serve, sys.argv[3], 443, ssl=ctx, backlog=512)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class Namespace:
    """A network namespace held by a sleeping process, with the origin's address on a veth."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None and self.holder.stdout.readline().strip() == "ready"
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1")
        for name in ("bench0", "bench1"):
            self.run("ip", "link", "set", name, "up")
        self.run("ip", "addr", "add", f"{ORIGIN}/24", "dev", "bench0")
        table = (
            "table ip bench {\n  chain out {\n    type nat hook output priority -100;\n"
            f"    meta skuid {NOBODY} tcp dport 443 redirect to :{PORT}\n  }}\n}}\n"
        )
        self.run("nft", "-f", "-", input=table)

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace."""
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--", *argv]

    def run(self, *argv: str, input: str | None = None) -> str:
        """Run `argv` inside the namespace; its output, or CalledProcessError."""
        done = subprocess.run(
            self.command(*argv), input=input, capture_output=True, text=True, check=True
        )
        return done.stdout

    def close(self) -> None:
        """End the holder: the namespace, its rule and its addresses go with it."""
        self.holder.kill()
        self.holder.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, from /proc/PID/stat (after the parenthesised command name)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def connect(ns: Namespace, client: Path, count: int) -> int:
    """`count` connections as the ordinary user, no proxy settings; how many were answered."""
    user = (f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    done = subprocess.run(
        ns.command("setpriv", *user, "/usr/bin/python3", str(client), ORIGIN, SNI, str(count),
                   str(CONCURRENCY)),
        capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return int(done.stdout.strip() or 0)


def start(ns: Namespace, name: str, argv: list[str], log: Path, client: Path) -> subprocess.Popen:
    """Start a proxy in the namespace (nsenter execs it: the pid is the proxy's) and wait until
    a redirected connection is answered through it."""
    with log.open("wb") as out:
        process = subprocess.Popen(ns.command(*argv), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while connect(ns, client, 1) != 1:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"{name} did not pass a connection through; see {log}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 20 s: a proxy's clean stop, or the end of it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def proxies(work: Path) -> dict[str, list[str]]:
    """The two proxies' command lines, each on 127.0.0.1:PORT in transparent mode."""
    home = work / "home"
    subprocess.run(
        [str(VENV_BIN / "candor"), "--home", str(home), "rules", "add", "adult", BLOCKED],
        check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    return {
        "candor": [str(VENV_BIN / "candor"), "--home", str(home), "run", "--listen",
                   "127.0.0.1:0", "--transparent", f"127.0.0.1:{PORT}"],
        "mitmdump": [str(VENV_BIN / "mitmdump"), "--mode", f"transparent@127.0.0.1:{PORT}",
                     "--set", f"confdir={work / 'mitm'}", "--set", "connection_strategy=lazy",
                     "--set", "termlog_verbosity=warn", "--set", "flow_detail=0",
                     "--set", "ignore_hosts=^allowed\\.bench\\.test:443$"],
    }  # fmt: skip


def origin_cert(work: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the allowed name: passed through, so never checked."""
    cert, key = work / "origin.crt", work / "origin.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", f"/CN={SNI}",
         "-addext", f"subjectAltName=DNS:{SNI}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def main(argv: Sequence[str] | None = None) -> int:
    """Both proxies in turn, `--runs` times; prints each run and the medians with the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 connections, 3 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.runs = 200, 3
    if os.geteuid() != 0:
        raise SystemExit("bench_transparent needs root (a network namespace with nftables).")
    missing = [
        t for t in ("unshare", "nsenter", "setpriv", "nft", "openssl") if not shutil.which(t)
    ]
    if missing or not Path("/usr/bin/python3").exists():
        raise SystemExit(f"bench_transparent needs {', '.join(missing) or '/usr/bin/python3'}")
    work = Path(tempfile.mkdtemp(prefix="candor-bench-transparent-"))
    work.chmod(0o755)
    ns = Namespace()
    origin: subprocess.Popen | None = None
    try:
        client = work / "client.py"
        client.write_text(CLIENT)
        client.chmod(0o644)
        (work / "origin.py").write_text(ORIGIN_SERVER)
        cert, key = origin_cert(work)
        origin = subprocess.Popen(
            ns.command(sys.executable, str(work / "origin.py"), str(cert), str(key), ORIGIN),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert origin.stdout is not None and origin.stdout.readline().strip() == "ready"
        commands = proxies(work)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        print(f"{args.connections} connections a run, {args.runs} runs, SNI {SNI}", flush=True)
        for run in range(args.runs):
            order = list(commands) if run % 2 == 0 else list(reversed(commands))
            for name in order:
                process = start(ns, name, commands[name], work / f"{name}.log", client)
                connect(ns, client, WARM_UP)
                before = cpu_seconds(process.pid)
                answered = connect(ns, client, args.connections)
                used = cpu_seconds(process.pid) - before
                stop(process)
                if answered != args.connections:
                    print(f"  note: {name} answered {answered} of {args.connections}")
                per = used / max(answered, 1) * 1000
                samples[name].append(per)
                print(f"  run {run + 1} {name:9} {per:6.3f} ms CPU per connection", flush=True)
        base = statistics.median(samples["mitmdump"])
        print("\nproxy      CPU ms/connection (median)  ratio to mitmdump")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"{name:10} {median:27.3f}  {median / base:17.2f}")
    finally:
        if origin is not None:
            stop(origin)
        ns.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
