"""Benchmark of `candor run` against plain `mitmdump`, measured side by side in one invocation.

    .venv/bin/python bench/bench_proxy.py            # about 9 minutes, longer on a busy machine
    .venv/bin/python bench/bench_proxy.py --quick    # 3 s runs and a 15 s soak, about 6 minutes

Needs `hey` and `wrk` from Debian (`apt-get install -y hey wrk`); installs nothing itself.
Everything stays on 127.0.0.1: a local keep-alive origin (bench/origin_server.py, HTTP and two
HTTPS ports, self-signed), plain mitmdump with no addons, and `candor run` on a temp home into
which a seeded 1,000,000-domain list (generated once into bench/.data/proxy/, git-ignored) is
imported first, so the compiled cache exists. The load generator is hey (and wrk as a
cross-check for plain HTTP). Each case runs against both proxies in turn, alternating which goes
first, at least five times; the figure is the median. The stable figure is the proxy's CPU time
per request: (utime + stime of the proxy process during the run) / requests answered.

URLs use 127.0.0.1 for allowed traffic (neither proxy needs a resolver, so Candor runs without
`--resolve`, exactly as a person runs it) and `blocked.test`, which Candor blocks and never
resolves. mitmdump cannot block, so its figure for a blocked case is the same request forwarded
to the origin: what the person would pay without Candor. mitmdump is told to pass through the
origin's first HTTPS port (`ignore_hosts`), so its passthrough figure means the same as Candor's.
Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.origins import free_port, make_origin_cert  # noqa: E402

DATA = ROOT / "bench" / ".data" / "proxy"
VENV_BIN = Path(sys.executable).parent
SEED = 20261126
BLOCKED_HOST = "blocked.test"
TOOLS = ("hey", "wrk")


# ---------------------------------------------------------------- data


def domain_list(n: int) -> Path:
    """A seeded list of `n` distinct domains, one a line, generated once."""
    path = DATA / f"domains-{n}.txt"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    tlds = ["com"] * 10 + ["net", "org", "xyz", "info", "top", "de", "ru", "co.uk", "io", "site"]
    names: dict[str, None] = {}
    while len(names) < n:
        label = "".join(rng.choices(letters, k=rng.randint(5, 14)))
        prefix = "www." if rng.random() < 0.12 else ""
        names[f"{prefix}{label}.{rng.choice(tlds)}"] = None
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(names) + "\n")
    tmp.replace(path)
    return path


def first_domain(path: Path) -> str:
    with path.open() as f:
        return f.readline().strip()


# ---------------------------------------------------------------- processes


@dataclass
class Proxy:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cpu(self) -> float:
        t = psutil.Process(self.process.pid).cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(kb.group(1)) / 1024 if kb else float("nan")

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Probe:
    """A request sent straight to a proxy, and the answer that shows it is really working."""

    request: bytes
    status: int
    must_contain: bytes = b""


def http_probe(url_host: str, status: int, must_contain: bytes = b"") -> Probe:
    request = (
        f"GET http://{url_host}/ HTTP/1.1\r\nHost: {url_host}\r\nConnection: close\r\n\r\n"
    ).encode()
    return Probe(request, status, must_contain)


def answered(port: int, probe: Probe) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(probe.request)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    head = data.split(b"\r\n\r\n", 1)[0]
    return head.startswith(b"HTTP/1.1 %d " % probe.status) and probe.must_contain in head


def wait_answer(proxy: Proxy, probe: Probe, timeout: float = 60.0) -> float:
    """Seconds from now until `probe` is answered correctly (polls every 10 ms)."""
    start = time.monotonic()
    deadline = start + timeout
    while not answered(proxy.port, probe):
        if proxy.process.poll() is not None:
            raise SystemExit(f"{proxy.name} exited with {proxy.process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{proxy.name} did not answer within {timeout:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - start


@dataclass
class Setup:
    work: Path
    home: Path
    cert: Path
    ports: dict[str, int]
    list_domain: str
    logs: Path

    def mitmdump_cmd(self, port: int) -> list[str]:
        passthrough = rf"^127\.0\.0\.1:{self.ports['https_pass']}$"
        return [
            str(VENV_BIN / "mitmdump"),
            "--listen-host", "127.0.0.1",
            "--listen-port", str(port),
            "--set", f"confdir={self.work / 'mitmdump'}",
            "--set", "connection_strategy=lazy",
            "--set", "termlog_verbosity=warn",
            "--set", "flow_detail=0",
            "--set", f"ssl_verify_upstream_trusted_ca={self.cert}",
            "--set", f"ignore_hosts={passthrough}",
        ]  # fmt: skip

    def candor_cmd(self, port: int) -> list[str]:
        return [
            str(VENV_BIN / "candor"),
            "--home", str(self.home),
            "run",
            "--listen", f"127.0.0.1:{port}",
            "--upstream-ca", str(self.cert),
        ]  # fmt: skip

    def spawn(self, name: str) -> Proxy:
        port = free_port()
        cmd = self.mitmdump_cmd(port) if name == "mitmdump" else self.candor_cmd(port)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.work
        )
        return Proxy(name, process, port)

    def ready_probe(self, name: str) -> Probe:
        """mitmdump: the origin's answer. Candor: the block page for a domain of the 1 M list,
        which proves the list is loaded."""
        if name == "mitmdump":
            return http_probe(f"127.0.0.1:{self.ports['http']}", 200)
        return http_probe(self.list_domain, 403, b"X-Candor-Decision: block")


def candor(home: Path, *args: str) -> None:
    subprocess.run(
        [str(VENV_BIN / "candor"), "--home", str(home), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )


@contextmanager
def origin(cert: Path, key: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int]]]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "origin_server.py"), "--cert", str(cert),
         "--key", str(key)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline())
        yield process, ports
    finally:
        stop(process)


# ---------------------------------------------------------------- load


@contextmanager
def candor_running(work: Path, n_domains: int) -> Iterator[tuple[Proxy, dict[str, int]]]:
    """`candor run` on a temp home with an `n_domains` list, answering, with the origin's
    ports; stopped on the way out. For the benches that watch one agent (memory, huge URLs)."""
    setup = prepare(work, n_domains)
    with origin(setup.cert, setup.cert.with_name("origin.key")) as (_, ports):
        setup.ports = ports
        proxy = setup.spawn("candor")
        try:
            wait_answer(proxy, setup.ready_probe("candor"))
            yield proxy, ports
        finally:
            proxy.stop()


@dataclass
class Load:
    """One load-generator run, as the tool reported it."""

    requests: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float
    rps: float
    output: str = field(repr=False)


def run_hey(proxy: Proxy, url: str, clients: int, seconds: float, keepalive: bool = True) -> Load:
    cmd = ["hey", "-z", f"{seconds:g}s", "-c", str(clients), "-x", f"http://{proxy.address}"]
    if not keepalive:
        cmd.append("-disable-keepalive")
    text = _tool([*cmd, url], seconds)
    statuses = {
        code: int(n) for code, n in re.findall(r"^\s+\[(\d{3})\]\s+(\d+) responses", text, re.M)
    }
    errors = sum(
        int(n)
        for n in re.findall(
            r"^\s+\[(\d+)\]\s+\S", text.split("Error distribution:", 1)[-1], re.M
        )
    ) if "Error distribution:" in text else 0  # fmt: skip
    p50 = re.search(r"50% in ([\d.]+) secs", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    return Load(
        requests=sum(statuses.values()),
        errors=errors,
        statuses=statuses,
        p50_ms=float(p50.group(1)) * 1000 if p50 else float("nan"),
        rps=float(rps.group(1)) if rps else 0.0,
        output=text,
    )


WRK_SCRIPT = """\
wrk.method = "GET"
wrk.path = "{url}"
wrk.headers["Host"] = "{host}"
"""


def run_wrk(proxy: Proxy, url: str, clients: int, seconds: float, script_dir: Path) -> Load:
    """wrk cannot use a proxy, so it sends absolute-form request lines straight to one."""
    host = url.split("/")[2]
    script = script_dir / f"wrk-{host.replace(':', '_')}.lua"
    script.write_text(WRK_SCRIPT.format(url=url, host=host))
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    text = _tool([*cmd, f"http://{proxy.address}/"], seconds)
    total = re.search(r"(\d+) requests in", text)
    requests = int(total.group(1)) if total else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = int(non2xx.group(1)) if non2xx else 0
    return Load(
        requests=requests,
        errors=errors,
        statuses={"2xx": requests - bad, "other": bad},
        p50_ms=float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan"),
        rps=requests / seconds,
        output=text,
    )


def _tool(cmd: list[str], seconds: float) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr or done.stdout}")
    return done.stdout


def time_wait(port: int) -> set[tuple[str, str]]:
    """TIME-WAIT sockets with `port` at either end; new ones are connections closed."""
    hex_port = f":{port:04X}"
    found: set[tuple[str, str]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError), open(table) as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if parts[3] == "06" and (
                    parts[1].endswith(hex_port) or parts[2].endswith(hex_port)
                ):
                    found.add((parts[1], parts[2]))
    return found


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    clients: int
    urls: dict[str, str]
    """Per proxy name."""
    expect: dict[str, str]
    """Expected status per proxy name."""
    keepalive: bool = True
    tool: str = "hey"
    figure: str = "cpu"
    """"cpu" (ms per request) or "p50" (ms)."""
    target: float | None = None
    """Candor / mitmdump ratio to stay at or under; None: reported only."""


def cases(ports: dict[str, int]) -> list[Case]:
    allowed = f"http://127.0.0.1:{ports['http']}/"
    passthrough = f"https://127.0.0.1:{ports['https_pass']}/"
    blocked_http = f"http://{BLOCKED_HOST}:{ports['http']}/"
    intercepted = f"https://127.0.0.1:{ports['https_intercept']}/"
    blocked_https = f"https://{BLOCKED_HOST}:{ports['https_intercept']}/"
    ok = {"mitmdump": "200", "candor": "200"}
    page = {"mitmdump": "200", "candor": "403"}
    return [
        Case("http_allowed", "CPU per allowed HTTP request, 20 clients (ms)", 20,
             {"mitmdump": allowed, "candor": allowed}, ok, target=0.55),
        Case("http_blocked", "CPU per blocked HTTP request, 20 clients (ms)", 20,
             {"mitmdump": allowed, "candor": blocked_http}, page, target=0.55),
        Case("https_pass", "CPU per passed-through HTTPS request, keep-alive (ms)", 20,
             {"mitmdump": passthrough, "candor": passthrough}, ok, target=1.1),
        Case("https_pass_new", "CPU per passed-through HTTPS request, new connection (ms)", 20,
             {"mitmdump": passthrough, "candor": passthrough}, ok, keepalive=False, target=1.1),
        Case("https_block", "CPU per HTTPS block page, keep-alive (ms)", 20,
             {"mitmdump": intercepted, "candor": blocked_https}, page, target=1.0),
        Case("p50_allowed", "p50 latency, one client, allowed HTTP (ms)", 1,
             {"mitmdump": allowed, "candor": allowed}, ok, figure="p50", target=0.75),
        Case("wrk_http_allowed", "cross-check, wrk: CPU per allowed HTTP request (ms)", 20,
             {"mitmdump": allowed, "candor": allowed}, ok, tool="wrk", target=0.55),
    ]  # fmt: skip


@dataclass
class Sample:
    proxy: str
    case: str
    run: int
    cpu_ms: float
    p50_ms: float
    requests: int
    errors: int
    unexpected: int
    closed: int
    rps: float
    load1: float
    attempts: int


def measure(proxy: Proxy, case: Case, run: int, seconds: float, work: Path) -> Sample:
    """One run of `case` on `proxy`. A keep-alive run where the client fell into opening a
    connection per request (a known hey habit through proxies) is retried, at most twice."""
    url, expect = case.urls[proxy.name], case.expect[proxy.name]
    for attempt in range(1, 4):
        time.sleep(0.3)  # let the previous run's connections close
        closed_before, cpu_before = time_wait(proxy.port), proxy.cpu()
        if case.tool == "wrk":
            load = run_wrk(proxy, url, case.clients, seconds, work)
            expect = "2xx"
        else:
            load = run_hey(proxy, url, case.clients, seconds, case.keepalive)
        time.sleep(0.2)  # closing the connections is part of the cost
        cpu = proxy.cpu() - cpu_before
        closed = len(time_wait(proxy.port) - closed_before)
        churned = case.keepalive and closed > max(5 * case.clients, 0.2 * load.requests)
        if not churned or attempt == 3:
            break
    return Sample(
        proxy=proxy.name,
        case=case.key,
        run=run,
        cpu_ms=1000 * cpu / load.requests if load.requests else float("nan"),
        p50_ms=load.p50_ms,
        requests=load.requests,
        errors=load.errors,
        unexpected=load.requests - load.statuses.get(expect, 0),
        closed=closed,
        rps=load.rps,
        load1=os.getloadavg()[0],
        attempts=attempt,
    )


# ---------------------------------------------------------------- start-up and memory


@dataclass
class Start:
    proxy: str
    seconds: float
    cpu_seconds: float
    """CPU time the process used until its first answer: what start-up costs, whatever else
    the machine is doing (the wall-clock figure is not)."""
    idle_rss_mb: float


def measure_start(setup: Setup, name: str, settle: float) -> Start:
    """Spawn to first correct answer; then the idle RSS once it has settled."""
    began = time.monotonic()
    proxy = setup.spawn(name)
    try:
        wait_answer(proxy, setup.ready_probe(name))
        seconds = time.monotonic() - began
        cpu = proxy.cpu()
        time.sleep(settle)
        return Start(name, seconds, cpu, proxy.rss_mb())
    finally:
        proxy.stop()


# ---------------------------------------------------------------- soak


@dataclass
class Soak:
    seconds: float
    clients: int
    requests: int
    errors: int
    unexpected: int
    rss_before_mb: float
    rss_after_mb: float
    rss_peak_mb: float
    rss_settled_mb: float

    @property
    def growth(self) -> float:
        return self.rss_after_mb / self.rss_before_mb - 1


WARMUP_SECONDS = 10.0
SETTLE_SECONDS = 15.0


def soak(proxy: Proxy, ports: dict[str, int], seconds: float) -> Soak:
    """200 clients at once for `seconds`: allowed and blocked HTTP, passthrough and blocked
    HTTPS, four hey processes side by side.

    The same load runs for WARMUP_SECONDS first, untimed: the first burst of 200 connections
    sets the allocator's high-water mark (connection buffers, TLS state), which is not growth.
    RSS is read just before the soak, 2 s after it (the figure judged) and SETTLE_SECONDS after
    it, once the agent has handed freed memory back (`agent/free_memory.py`).
    """
    mix = soak_mix(ports)
    load_mix(proxy, mix, WARMUP_SECONDS)
    time.sleep(2.0)
    before = proxy.rss_mb()
    peaks = [before]
    requests, errors, unexpected = load_mix(proxy, mix, seconds, peaks)
    time.sleep(2.0)
    after = proxy.rss_mb()
    time.sleep(SETTLE_SECONDS - 2.0)
    settled = proxy.rss_mb()
    return Soak(seconds, sum(c for c, _, _ in mix), requests, errors, unexpected, before,
                after, max(*peaks, after), settled)  # fmt: skip


def soak_mix(ports: dict[str, int]) -> list[tuple[int, str, str]]:
    """(clients, URL, expected status) of the 200-client soak."""
    return [
        (80, f"http://127.0.0.1:{ports['http']}/", "200"),
        (40, f"http://{BLOCKED_HOST}:{ports['http']}/", "403"),
        (40, f"https://127.0.0.1:{ports['https_pass']}/", "200"),
        (40, f"https://{BLOCKED_HOST}:{ports['https_intercept']}/", "403"),
    ]


def load_mix(
    proxy: Proxy, mix: list[tuple[int, str, str]], seconds: float, peaks: list[float] | None = None
) -> tuple[int, int, int]:
    """Runs one hey per (clients, url, expected status) at once; (requests, errors, unexpected)."""
    running = [
        (
            subprocess.Popen(
                ["hey", "-z", f"{seconds}s", "-c", str(c), "-x", f"http://{proxy.address}", url],
                stdout=subprocess.PIPE,
                text=True,
            ),
            expect,
        )
        for c, url, expect in mix
    ]
    deadline = time.monotonic() + seconds + 60
    while any(p.poll() is None for p, _ in running) and time.monotonic() < deadline:
        if peaks is not None:
            peaks.append(proxy.rss_mb())
        time.sleep(1.0)
    requests = errors = unexpected = 0
    for process, expect in running:
        out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        statuses = {
            code: int(n) for code, n in re.findall(r"^\s+\[(\d{3})\]\s+(\d+) responses", out, re.M)
        }
        requests += sum(statuses.values())
        unexpected += sum(statuses.values()) - statuses.get(expect, 0)
        if "Error distribution:" in out:
            tail = out.split("Error distribution:", 1)[1]
            errors += sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]", tail, re.M))
    return requests, errors, unexpected


# ---------------------------------------------------------------- report


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(
    case_list: list[Case], samples: list[Sample], starts: list[Start], soaked: Soak | None
) -> list[str]:
    lines = [
        "| metric | mitmdump | Candor | ratio | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for case in case_list:
        attr = "cpu_ms" if case.figure == "cpu" else "p50_ms"
        m = median([getattr(s, attr) for s in samples if s.case == case.key and s.proxy ==
                    "mitmdump"])  # fmt: skip
        c = median([getattr(s, attr) for s in samples if s.case == case.key and s.proxy ==
                    "candor"])  # fmt: skip
        ratio = c / m if m else float("nan")
        target = f"≤ {case.target:.2f}×" if case.target else "-"
        met = verdict(ratio <= case.target) if case.target else "-"
        digits = 3 if case.key.startswith("https_pass") and case.keepalive else 2
        lines.append(
            f"| {case.title} | {m:.{digits}f} | {c:.{digits}f} | {ratio:.2f}× | {target} | {met} |"
        )
    m_rss = median([s.idle_rss_mb for s in starts if s.proxy == "mitmdump"])
    c_rss = median([s.idle_rss_mb for s in starts if s.proxy == "candor"])
    lines.append(
        f"| RSS idle (MB); Candor with the 1 M list | {m_rss:.1f} | {c_rss:.1f} | "
        f"{c_rss - m_rss:+.1f} MB | ≤ +40 MB | {verdict(c_rss - m_rss <= 40)} |"
    )
    m_start = median([s.seconds for s in starts if s.proxy == "mitmdump"])
    c_start = median([s.seconds for s in starts if s.proxy == "candor"])
    lines.append(
        f"| start to first answer (s), compiled list present | {m_start:.2f} | {c_start:.2f} | "
        f"{c_start / m_start:.2f}× | ≤ 1.5 s | {verdict(c_start <= 1.5)} |"
    )
    m_cpu = median([s.cpu_seconds for s in starts if s.proxy == "mitmdump"])
    c_cpu = median([s.cpu_seconds for s in starts if s.proxy == "candor"])
    lines.append(
        f"| CPU time to first answer (s), for reference | {m_cpu:.2f} | {c_cpu:.2f} | "
        f"{c_cpu / m_cpu:.2f}× | - | - |"
    )
    if soaked:
        ok = soaked.errors == 0 and soaked.unexpected == 0 and soaked.growth < 0.10
        lines.append(
            f"| soak: {soaked.clients} clients for {soaked.seconds:.0f} s | - | "
            f"{soaked.requests} requests, {soaked.errors} errors, {soaked.unexpected} "
            f"unexpected; RSS {soaked.rss_before_mb:.1f} → {soaked.rss_after_mb:.1f} MB "
            f"({100 * soaked.growth:+.1f} %), peak {soaked.rss_peak_mb:.1f}, "
            f"{SETTLE_SECONDS:.0f} s later {soaked.rss_settled_mb:.1f} | - | "
            f"no errors, RSS growth < 10 % | {verdict(ok)} |"
        )
    return lines


def detail(samples: list[Sample], case_list: list[Case]) -> list[str]:
    lines = [
        "| case | proxy | CPU ms/req, each run | p50 ms | req/s | errors | unexpected | closed |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for case in case_list:
        for name in ("mitmdump", "candor"):
            mine = sorted((s for s in samples if s.case == case.key and s.proxy == name),
                          key=lambda s: s.run)  # fmt: skip
            if not mine:
                continue
            lines.append(
                f"| {case.key} | {name} | {', '.join(f'{s.cpu_ms:.3f}' for s in mine)} | "
                f"{median([s.p50_ms for s in mine]):.2f} | {median([s.rps for s in mine]):.0f} | "
                f"{sum(s.errors for s in mine)} | {sum(s.unexpected for s in mine)} | "
                f"{', '.join(str(s.closed) for s in mine)} |"
            )
    return lines


# ---------------------------------------------------------------- main


def check_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"bench_proxy needs {', '.join(missing)}: sudo apt-get install -y {' '.join(TOOLS)}"
        )


def prepare(work: Path, n_domains: int) -> Setup:
    say(f"domain list: {n_domains:,} domains (generated once into {DATA})")
    domains = domain_list(n_domains)
    home = work / "home"
    cert = make_origin_cert(work / "cert")
    say("importing the list into a temp home (`candor rules import`)")
    began = time.monotonic()
    candor(home, "rules", "import", str(domains), "--category", "adult")
    candor(home, "rules", "add", "adult", BLOCKED_HOST)
    say(f"  imported in {time.monotonic() - began:.1f} s")
    logs = work / "logs"
    logs.mkdir()
    return Setup(work, home, cert.cert, {}, first_domain(domains), logs)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs and a 15 s soak")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per case (≥ 5)")
    parser.add_argument("--seconds", type=float, help="seconds per run (default 5; quick 3)")
    parser.add_argument("--soak", type=float, help="soak seconds (default 60; quick 15)")
    parser.add_argument("--starts", type=int, default=5, help="timed starts per proxy")
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--only", help="comma-separated case keys to run (for diagnosis)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and proxy logs")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 5.0)
    soak_seconds = args.soak if args.soak is not None else (15.0 if args.quick else 60.0)
    check_tools()
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="candor-bench-", delete=not args.keep) as tmp:
        if args.keep:
            say(f"work directory (kept): {tmp}")
        setup = prepare(Path(tmp), args.domains)
        cert_key = setup.cert.with_name("origin.key")
        with origin(setup.cert, cert_key) as (_, ports):
            setup.ports = ports
            case_list = cases(ports)
            if args.only:
                keep = set(args.only.split(","))
                case_list = [c for c in case_list if c.key in keep]
            starts = timed_starts(setup, args.starts)
            samples, soaked = load_runs(setup, case_list, args.runs, seconds, soak_seconds, loads)
    loads.append(os.getloadavg()[0])
    lines = report(case_list, samples, starts, soaked)
    lines += ["", *detail(samples, case_list)]
    lines += [
        "",
        f"runs: {args.runs} interleaved × {seconds:.0f} s per case and proxy; starts: "
        f"{args.starts} per proxy; load average (1 min) over the runs: "
        f"{min(s.load1 for s in samples):.2f}–{max(s.load1 for s in samples):.2f}"
        if samples
        else "",
        "start times, wall (CPU) s: "
        + "; ".join(
            f"{n} "
            + ", ".join(f"{s.seconds:.2f} ({s.cpu_seconds:.2f})" for s in starts if s.proxy == n)
            for n in ("mitmdump", "candor")
        ),
    ]
    print("\n".join(lines))
    DATA.mkdir(parents=True, exist_ok=True)
    out = DATA / f"results-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "samples": [asdict(s) for s in samples],
                "starts": [asdict(s) for s in starts],
                "soak": asdict(soaked) if soaked else None,
                "loadavg": loads,
            },
            indent=1,
        )
    )
    say(f"raw figures: {out}")
    return 0


def timed_starts(setup: Setup, count: int) -> list[Start]:
    """One untimed start of each first (creates the CAs, warms the page cache), then `count`
    timed starts of each, alternating which goes first."""
    say("start-up: one warm-up start each, then timed starts")
    for name in ("mitmdump", "candor"):
        measure_start(setup, name, settle=0.0)
    starts: list[Start] = []
    for i in range(count):
        order = ("mitmdump", "candor") if i % 2 == 0 else ("candor", "mitmdump")
        for name in order:
            starts.append(measure_start(setup, name, settle=2.0))
            last = starts[-1]
            say(
                f"  {name}: {last.seconds:.2f} s ({last.cpu_seconds:.2f} s CPU), "
                f"idle RSS {last.idle_rss_mb:.1f} MB"
            )
    return starts


def load_runs(
    setup: Setup,
    case_list: list[Case],
    runs: int,
    seconds: float,
    soak_seconds: float,
    loads: list[float],
) -> tuple[list[Sample], Soak | None]:
    proxies = {name: setup.spawn(name) for name in ("mitmdump", "candor")}
    try:
        for name, proxy in proxies.items():
            wait_answer(proxy, setup.ready_probe(name))
        check_cases(setup, proxies, case_list)
        samples: list[Sample] = []
        for run in range(runs):
            say(f"run {run + 1}/{runs} (load average {os.getloadavg()[0]:.2f})")
            for case in case_list:
                order = ("mitmdump", "candor") if run % 2 == 0 else ("candor", "mitmdump")
                for name in order:
                    sample = measure(proxies[name], case, run, seconds, setup.work)
                    samples.append(sample)
                    say(
                        f"  {case.key:18} {name:8} {sample.cpu_ms:7.3f} ms/req  "
                        f"p50 {sample.p50_ms:6.2f} ms  {sample.rps:8.0f} req/s  "
                        f"errors {sample.errors} unexpected {sample.unexpected} "
                        f"closed {sample.closed}"
                    )
        loads.append(os.getloadavg()[0])
        soaked = None
        if soak_seconds > 0:
            say(f"soak: 200 clients for {soak_seconds:.0f} s on candor")
            soaked = soak(proxies["candor"], setup.ports, soak_seconds)
            say(f"  {soaked}")
        for name, proxy in proxies.items():
            say(
                f"{name}: RSS after the runs {proxy.rss_mb():.1f} MB, "
                f"peak {proxy.peak_rss_mb():.1f} MB"
            )
        return samples, soaked
    finally:
        for proxy in proxies.values():
            proxy.stop()


def presented_cert(proxy: Proxy, port: int) -> bytes:
    """The certificate a client sees for 127.0.0.1:`port` through `proxy` (DER)."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                raise SystemExit(f"{proxy.name} closed the CONNECT to port {port}")
            head += chunk
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(s) as tls:
            return tls.getpeercert(binary_form=True) or b""


def check_cases(setup: Setup, proxies: dict[str, Proxy], case_list: list[Case]) -> None:
    """Each case's URL gets the expected answer from each proxy before anything is timed, and
    both proxies really pass the passthrough port through (the client sees the origin's own
    certificate); mitmdump intercepts the other one (Candor, only for `blocked.test`)."""
    origin_der = ssl.PEM_cert_to_DER_cert(setup.cert.read_text())
    for name, proxy in proxies.items():
        if presented_cert(proxy, setup.ports["https_pass"]) != origin_der:
            raise SystemExit(f"{name} does not pass through port {setup.ports['https_pass']}")
        if (
            name == "mitmdump"
            and presented_cert(proxy, setup.ports["https_intercept"]) == origin_der
        ):
            raise SystemExit(f"{name} does not intercept port {setup.ports['https_intercept']}")
    for case in case_list:
        for name, proxy in proxies.items():
            load = run_hey(proxy, case.urls[name], 1, 0.3, case.keepalive)
            if load.requests == 0 or load.statuses.get(case.expect[name], 0) != load.requests:
                raise SystemExit(
                    f"{name} answered {case.urls[name]} with {load.statuses} "
                    f"(expected {case.expect[name]}):\n{load.output}"
                )


if __name__ == "__main__":
    raise SystemExit(main())
