"""Does the agent's memory settle under repeated bursts? Back-to-back soaks on one agent.

    .venv/bin/python bench/bench_soak_memory.py [--soaks 4] [--seconds 30]

Starts `candor run` on a temp home with the seeded 1 M-domain list (as bench_proxy.py does),
then runs bench_proxy's 200-client soak mix `--soaks` times in a row (no warm-up), printing the
resident size before each soak, 2 s after and 12 s after (once the agent's periodic memory
release has run). A plateau after the first soak is the healthy shape; steady growth is a leak.
Needs `hey`; never run by the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soaks", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    bench_proxy.check_tools()
    with (
        tempfile.TemporaryDirectory(prefix="candor-bench-") as tmp,
        bench_proxy.candor_running(Path(tmp), 1_000_000) as (proxy, ports),
    ):
        print(f"idle: {proxy.rss_mb():.1f} MB")
        for i in range(args.soaks):
            before = proxy.rss_mb()
            mix = bench_proxy.soak_mix(ports)
            requests, errors, _ = bench_proxy.load_mix(proxy, mix, args.seconds)
            time.sleep(2.0)
            after = proxy.rss_mb()
            time.sleep(10.0)
            print(
                f"soak {i + 1}: {requests} requests, {errors} errors; RSS {before:.1f} → "
                f"{after:.1f} MB, 12 s later {proxy.rss_mb():.1f} MB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
