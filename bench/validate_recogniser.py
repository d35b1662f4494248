"""Recall and false positives of the host-name recogniser on its validation sets.

    .venv/bin/python bench/validate_recogniser.py          # figures per set
    .venv/bin/python bench/validate_recogniser.py --show   # and every false positive, and
                                                           # a sample of misses

Reads tests/data/recogniser/ (held-out samples of public lists, the hand-written innocent set,
and `innocent-fresh`, written after the lexicons as a check no weight was chosen from; see
tests/data/SOURCES.md). Each list set counts what the recogniser alone catches: the
shipped lists are not consulted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.name_recogniser import NameRecogniser, build_recogniser  # noqa: E402

DATA = ROOT / "tests" / "data" / "recogniser"
LIST_SETS = {
    "adult-sinfonietta": "adult",
    "adult-ut1-urls": "adult",
    "gambling-sinfonietta": "gambling",
    "gambling-blocklistproject": "gambling",
    "gambling-ut1": "gambling",
}


def names(path: Path) -> list[str]:
    """The host names of a validation file (comments and blank lines left out)."""
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def innocent_sections(path: Path) -> dict[str, list[str]]:
    """innocent.txt by its `[section]` headings."""
    sections: dict[str, list[str]] = {}
    current = "other"
    for line in names(path):
        if line.startswith("["):
            current = line.strip("[]")
            continue
        sections.setdefault(current, []).append(line)
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="list false positives and misses")
    args = parser.parse_args()
    recogniser = build_recogniser()
    print("held-out list samples (recall of the recogniser alone)")
    for name, category in LIST_SETS.items():
        hosts = names(DATA / f"{name}.txt")
        caught = [h for h in hosts if any(r.category == category for r in recogniser.recognise(h))]
        share = len(caught) / len(hosts)
        print(f"  {name:28} {category:9} {len(caught):5} / {len(hosts):5}  {share:6.1%}")
        if args.show:
            missed = [h for h in hosts if h not in set(caught)]
            print("    missed, first 30:", " ".join(missed[:30]))
    for name in ("innocent", "innocent-fresh"):
        innocent_figures(recogniser, name)


def innocent_figures(recogniser: NameRecogniser, name: str) -> None:
    """False positives on one innocent set, by section."""
    print(f"{name} names (false positives)")
    total = wrong = 0
    for section, hosts in innocent_sections(DATA / f"{name}.txt").items():
        found = [(h, recogniser.recognise(h)) for h in hosts]
        bad = [(h, r) for h, r in found if r]
        total += len(hosts)
        wrong += len(bad)
        print(f"  {section:12} {len(bad):3} of {len(hosts):4}")
        for host, verdicts in bad:
            print(f"    {host}: " + "; ".join(f"{v.category} ({v.reason})" for v in verdicts))
    print(f"  {'all':12} {wrong:3} of {total:4}")


if __name__ == "__main__":
    main()
