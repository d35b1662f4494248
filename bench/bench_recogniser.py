"""Benchmark of the host-name recogniser: cost per new host name, and memory added.

    .venv/bin/python bench/bench_recogniser.py

Host names: the validation sets in tests/data/recogniser/ (innocent names, and held-out adult
and gambling names), each timed uncached (`recognise.__wrapped__`), one call at a time,
best of three passes. The baseline, run in the same process and interleaved pass by pass, is
what the matcher already does for every new host: `Matcher.check_host` uncached on a policy of
the three starter lists (recogniser off). The memory added is the RSS after building the
recogniser and its word model (with the splitter's look-up table) and recognising one name (which
works out the table of chunks that are one lexicon word), minus before (psutil, after
`gc.collect()` and `malloc_trim`), measured in a fresh child interpreter. Never run by the test
suite.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "recogniser"
SETS = ("innocent", "adult-sinfonietta", "gambling-ut1")


def names(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line and line[0] not in "#["]


def trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def memory_child() -> None:
    import psutil

    process = psutil.Process()
    from rules.name_recogniser import build_recogniser  # the import itself is counted

    trim()
    before = process.memory_info().rss
    started = time.perf_counter()
    recogniser = build_recogniser()
    built = time.perf_counter() - started
    recogniser.recognise("snapsexehot.com")
    trim()
    after = process.memory_info().rss
    print(json.dumps({"mb": (after - before) / 1e6, "load_s": built}))


def timings(fn, hosts: list[str]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for host in hosts:
        start = clock()
        fn(host)
        out.append((clock() - start) / 1000)
    return out


def starter_matcher():
    """The matcher on the three starter lists alone (keywords included), recogniser off."""
    from rules.matcher import CategoryPolicy, Matcher, Policy
    from rules.syntax import parse_rules_text

    categories = []
    for name in ("adult", "gambling", "bypass"):
        text = (ROOT / "rules" / "starter" / f"{name}.txt").read_text("utf-8")
        rules = parse_rules_text(text, f"{name}.txt").rules
        categories.append(CategoryPolicy(name, "block", rules=tuple(rules)))
    return Matcher.compile(Policy(categories=tuple(categories)), cache_size=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child()
        return
    from rules.name_recogniser import build_recogniser

    recogniser = build_recogniser()
    uncached = recogniser.recognise.__wrapped__  # type: ignore[attr-defined]
    baseline = starter_matcher()
    print("median µs per new host name (best of 3 passes)")
    print(f"  {'set':20} {'names':>6} {'recogniser':>11} {'check_host':>11} {'ratio':>6}")
    everything: list[str] = []
    for name in SETS:
        hosts = names(DATA / f"{name}.txt")
        everything += hosts
        ours, base = [], []
        for _ in range(3):
            ours.append(statistics.median(timings(uncached, hosts)))
            base.append(statistics.median(timings(baseline.check_host, hosts)))
        print(f"  {name:20} {len(hosts):6} {min(ours):11.2f} {min(base):11.2f} "
              f"{min(ours) / min(base):6.2f}")  # fmt: skip
    candidates = [h for h in everything if recogniser.holds_lexicon_word(h)]
    share = len(candidates) / len(everything)
    print(f"  names holding a lexicon word (split by the word model): {share:.0%}")
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child"], capture_output=True, text=True, check=True
    )
    memory = json.loads(child.stdout)
    print(f"memory added: {memory['mb']:.1f} MB RSS; word model built in {memory['load_s']:.2f} s")


if __name__ == "__main__":
    main()
