"""`candor rules test - --json` on 10,000 URLs against the matcher called directly, in one run.

    .venv/bin/python bench/bench_rules_test_batch.py            # 1,000,000 listed domains
    .venv/bin/python bench/bench_rules_test_batch.py --quick    # 100,000 domains, 3 rounds

Checking a list of sites someone cares about is one command: the URLs go in on standard input and
one JSON line comes out per URL. The home is a temporary folder with the starter lists and a
seeded domain list (bench_proxy.py's generator, kept in bench/.data/proxy/, git-ignored) imported
into `adult`, so the compiled cache exists, as on a person's machine. The URLs mix listed hosts,
unlisted hosts with paths, keyword URLs, and Google and YouTube searches (help-seeking and not).

Each round runs, in turn: the baseline, in this process, `load_rules` once and `Matcher.decide`
on every URL (no search terms read, nothing printed); then the command in a fresh process, fed
the same URLs, its output read and checked (one JSON object per URL, in order). The figures are
the medians over the rounds of wall time and, for the command, its CPU time (`os.wait4`); the
ratio is command over baseline. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_proxy import domain_list  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SEED = 20261127
SEARCHES = (
    "porn addiction help",
    "how to quit pornography",
    "sex addicts anonymous meetings",
    "free porn",
    "red shoes",
    "weather tomorrow",
)


def urls(domains: Path, n: int) -> list[str]:
    """`n` seeded URLs: a mix of listed hosts, unlisted ones, keywords and searches."""
    rng = random.Random(SEED)
    listed = domains.read_text().split()
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: list[str] = []
    for _ in range(n):
        roll = rng.random()
        path = "/" + "".join(rng.choices(letters, k=rng.randint(0, 12)))
        if roll < 0.4:
            out.append(f"https://{rng.choice(listed)}{path}")
        elif roll < 0.8:
            host = "".join(rng.choices(letters, k=rng.randint(5, 12))) + ".example"
            out.append(f"https://www.{host}{path}?id={rng.randint(1, 10**6)}")
        elif roll < 0.9:
            out.append(f"https://news.example/story/free-porn-{rng.randint(1, 999)}")
        elif roll < 0.95:
            q = rng.choice(SEARCHES).replace(" ", "+")
            out.append(f"https://www.google.com/search?q={q}")
        else:
            q = rng.choice(SEARCHES).replace(" ", "+")
            out.append(f"https://www.youtube.com/results?search_query={q}")
    return out


def baseline(home: Path, batch: list[str]) -> float:
    """Seconds to load the rules and decide every URL in this process."""
    from agent.config import Home, last_good_config
    from agent.policy.rulebook import load_rules

    start = time.perf_counter()
    h = Home.at(home)
    matcher = load_rules(h, last_good_config(h).config).matcher
    decide = matcher.decide
    for url in batch:
        decide(url)
    return time.perf_counter() - start


def command(home: Path, batch: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of `candor rules test - --json` on `batch`; its output checked."""
    data = ("\n".join(batch) + "\n").encode()
    cmd = [str(VENV_BIN / "candor"), "--home", str(home), "rules", "test", "-", "--json"]
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=sink, cwd=ROOT)
        assert process.stdin is not None
        process.stdin.write(data)
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 0, process.returncode
        sink.seek(0)
        lines = sink.read().decode().splitlines()
    assert [json.loads(line)["url"] for line in lines] == batch
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 domains, 3 rounds")
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    n_domains = 100_000 if args.quick else 1_000_000
    rounds = args.rounds or (3 if args.quick else 7)
    domains = domain_list(n_domains)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        candor = [str(VENV_BIN / "candor"), "--home", str(home)]
        subprocess.run([*candor, "rules", "list"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*candor, "rules", "import", str(domains), "--category", "adult"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        batch = urls(domains, args.urls)
        command(home, batch)  # untimed: checks the answer, writes bytecode caches
        base: list[float] = []
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(rounds):
            base.append(baseline(home, batch))
            wall, cpu = command(home, batch)
            walls.append(wall)
            cpus.append(cpu)
    b, w, c = (statistics.median(x) for x in (base, walls, cpus))
    print(f"{args.urls:,} URLs, {n_domains:,} listed domains, median of {rounds} rounds")
    print(f"  baseline (load_rules + Matcher.decide, in process): {b:6.2f} s")
    print(f"  candor rules test - --json:   wall {w:6.2f} s   CPU {c:6.2f} s")
    print(f"  ratio (command wall / baseline): {w / b:.2f}")
    print(f"  per URL beyond the baseline: {(w - b) / args.urls * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
