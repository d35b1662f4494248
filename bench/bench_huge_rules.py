"""How long does a huge rules file of the person's own keep the port closed, and what does it
cost in memory? And what does an import cost the running agent? (Issue 12, item 12.)

    .venv/bin/python bench/bench_huge_rules.py [--lines 2200000]

Generates a rules file of `--lines` host lines (about 50 MB at the default) and measures, each
as a separate `candor run` on a temp home: the time from start to the first answered request
(a host of the file blocked) and the peak resident size, for a baseline home with a 100-line
file, the first start with the huge file (compiled), a second start (its compiled copy mapped),
and a start after a line was added while stopped (the rules last applied serve while the file
compiles; the time to the new line's block is printed too). Then, with the baseline agent
running, imports a list of the same hosts and samples the agent's resident size until the
agent has the list in force. Ratios are against the baseline of the same run. Never run by the
tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy

CONFIG = '[categories.adult]\naction = "block"\n'
LATE_HOST = "added-while-stopped.bulk.example"


def host(i: int) -> str:
    return f"site{i}.bulk{i % 89}.example"


def write_hosts(path: Path, count: int) -> None:
    """`count` host lines, written in blocks (the file is about 23 bytes a line)."""
    with path.open("w") as f:
        for start in range(0, count, 100_000):
            f.write("".join(f"{host(i)}\n" for i in range(start, min(count, start + 100_000))))


def make_home(root: Path, rules: Path | None) -> Path:
    """A home with one category; its rules file a copy of `rules` (or 100 lines)."""
    home = root / "home"
    (home / "rules").mkdir(parents=True)
    (home / "config.toml").write_text(CONFIG)
    target = home / "rules" / "adult.txt"
    if rules is None:
        write_hosts(target, 100)
    else:
        target.write_bytes(rules.read_bytes())
    return home


def spawn(home: Path, logs: Path) -> bench_proxy.Proxy:
    port = bench_proxy.free_port()
    cmd = [
        str(bench_proxy.VENV_BIN / "candor"),
        "--home", str(home),
        "run",
        "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    log = (logs / "candor.log").open("ab")
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return bench_proxy.Proxy("candor", process, port)


def blocked(name: str) -> bench_proxy.Probe:
    return bench_proxy.http_probe(name, 403, b"X-Candor-Decision: block")


def timed_start(home: Path, logs: Path, label: str, late: bool = False) -> tuple[float, float]:
    """Start the agent; seconds until a host of the file is blocked, and the peak RSS (MB)
    once the rules on disk are in force (with `late`, once the line added is blocked too)."""
    began = time.monotonic()
    proxy = spawn(home, logs)
    try:
        bench_proxy.wait_answer(proxy, blocked(host(7)), timeout=600)
        opened = time.monotonic() - began
        line = f"  {label}: port answers after {opened:.2f} s"
        if late:
            bench_proxy.wait_answer(proxy, blocked(LATE_HOST), timeout=600)
            line += f"; the added line blocks after {time.monotonic() - began:.2f} s"
        peak = proxy.peak_rss_mb()
        print(f"{line}; peak RSS {peak:.0f} MB", flush=True)
        return opened, peak
    finally:
        proxy.stop()


def import_while_running(
    home: Path, logs: Path, source: Path, last: str
) -> tuple[float, float, float]:
    """The baseline agent running, `candor rules import` of `source`; the agent's RSS (MB)
    before, its highest while the import ran and until the list was in force, and after."""
    proxy = spawn(home, logs)
    try:
        bench_proxy.wait_answer(proxy, blocked(host(7)), timeout=600)
        time.sleep(2.0)
        agent = psutil.Process(proxy.process.pid)
        before = agent.memory_info().rss / 2**20
        highest = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                highest[0] = max(highest[0], agent.memory_info().rss / 2**20)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        bench_proxy.candor(home, "rules", "import", str(source), "--category", "extra")
        imported = time.monotonic() - began
        bench_proxy.wait_answer(proxy, blocked(last), timeout=600)  # the list is in force
        time.sleep(3.0)  # the watcher's debounce and the reload, sampled
        done.set()
        sampler.join()
        after = agent.memory_info().rss / 2**20
        print(
            f"  import took {imported:.1f} s; agent RSS {before:.0f} → peak {highest[0]:.0f} "
            f"→ {after:.0f} MB",
            flush=True,
        )
        return before, highest[0], after
    finally:
        proxy.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="candor-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        rules = work / "huge.txt"
        write_hosts(rules, args.lines)
        size = rules.stat().st_size / 2**20
        print(f"rules file: {args.lines:,} host lines, {size:.1f} MB", flush=True)

        base_home = make_home(work / "base", None)
        base_open, base_peak = timed_start(base_home, logs, "baseline (100 lines)")
        huge_home = make_home(work / "huge", rules)
        first_open, first_peak = timed_start(huge_home, logs, "huge file, first start")
        again_open, again_peak = timed_start(huge_home, logs, "huge file, second start")
        with (huge_home / "rules" / "adult.txt").open("a") as f:
            f.write(LATE_HOST + "\n")
        edit_open, edit_peak = timed_start(huge_home, logs, "huge file edited", late=True)

        print("import of the same hosts as a list, the baseline agent running:", flush=True)
        last = host(args.lines - 1)
        before, peak, after = import_while_running(base_home, logs, rules, last)

    print("\nratios against the baseline start (time to answer, peak RSS):")
    for label, opened, peak_mb in (
        ("first start (compiles)", first_open, first_peak),
        ("second start (maps)", again_open, again_peak),
        ("edited while stopped", edit_open, edit_peak),
    ):
        print(f"  {label}: {opened / base_open:.1f}× time, {peak_mb / base_peak:.1f}× peak RSS")
    print(f"  agent during an import: peak {peak - before:+.0f} MB, after {after - before:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
