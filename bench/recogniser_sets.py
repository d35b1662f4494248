"""Build the host-name recogniser's validation sets from the public lists (run by hand, once).

    .venv/bin/python bench/recogniser_sets.py /work/shared/lists

Every listed name is reduced to its registrable domain and deduplicated, then split by a hash of
that domain: 70 % "build" (the part the lexicons were read from, written to bench/.data/, which
git ignores) and 30 % "held out" (never looked at while writing the lexicons). A fixed-size sample
of the held-out part of each list is written to tests/data/recogniser/, where the tests and
`bench/validate_recogniser.py` read it. The innocent set is written by hand (innocent.txt).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.hostnames import is_ip_literal  # noqa: E402
from rules.sites import registrable_domain  # noqa: E402

OUT = ROOT / "tests" / "data" / "recogniser"
BUILD = ROOT / "bench" / ".data" / "recogniser"
HELD_OUT_SHARE = 0.3
SAMPLE = 1500
SEED = 14

SOURCES = {
    # set name: (files under the lists folder, how each line names its host)
    "adult-sinfonietta": (["sinfonietta_hostfiles/pornography-hosts.txt"], "hosts"),
    "adult-ut1-urls": (["ut1/adult.urls"], "url"),
    "gambling-sinfonietta": (["sinfonietta_hostfiles/gambling-hosts.txt"], "hosts"),
    "gambling-blocklistproject": (["blocklistproject/gambling-nl.domains.txt"], "domain"),
    "gambling-ut1": (["ut1/gambling.domains"], "domain"),
}


def hosts_of(path: Path, how: str) -> list[str]:
    """The host each line of a list names."""
    out = []
    for raw in path.read_text("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        if how == "hosts":
            parts = line.split()
            line = parts[1] if len(parts) > 1 else ""
        elif how == "url":
            line = line.split("/", 1)[0]
        host = line.lower().rstrip(".")
        if host and "." in host and not is_ip_literal(host) and "xn--" not in host:
            out.append(host)
    return out


def held_out(name: str) -> bool:
    """Whether a registrable domain belongs to the held-out part (a stable hash split)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELD_OUT_SHARE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lists", type=Path, help="the folder of public lists (shared/lists)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    for name, (files, how) in SOURCES.items():
        domains = sorted(
            {registrable_domain(h) for f in files for h in hosts_of(args.lists / f, how)}
        )
        build = [d for d in domains if not held_out(d)]
        kept = [d for d in domains if held_out(d)]
        sample = sorted(rng.sample(kept, min(SAMPLE, len(kept))))
        (BUILD / f"{name}.txt").write_text("\n".join(build) + "\n", "utf-8")
        header = (
            f"# {name}: {len(sample)} registrable domains sampled (seed {SEED}) from the held-out "
            f"{HELD_OUT_SHARE:.0%} of {', '.join(files)} ({len(domains)} domains); see SOURCES.md\n"
        )
        (OUT / f"{name}.txt").write_text(header + "\n".join(sample) + "\n", "utf-8")
        print(f"{name}: {len(domains)} domains, {len(build)} build, {len(sample)} held-out sample")


if __name__ == "__main__":
    main()
