"""Every verdict of the host-name recogniser on a fixed set of names, to compare two versions.

    PYTHONPATH=<tree A> .venv/bin/python bench/recogniser_verdicts.py dump a.json
    PYTHONPATH=<tree B> .venv/bin/python bench/recogniser_verdicts.py dump b.json
    .venv/bin/python bench/recogniser_verdicts.py compare a.json b.json

A change meant only to make the recogniser faster must leave every verdict as it was. The names:
every validation set in tests/data/recogniser/, and 20,000 names glued (seeded) from lexicon
words, help words, words of the model, digits and hyphens, with common and lexicon top-level
domains. For each: the categories, their words (the reason) and scores, and the words the name
splits into. `compare` prints the names whose record differs and exits 1 if any does. Never run
by the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "recogniser"
GLUED = 20_000
SEED = 1403
TLDS = ("com", "net", "org", "de", "fr", "xyz", "io", "casino", "bet", "poker", "bingo", "xxx")


def set_names() -> list[str]:
    """The names of every validation set, in file order."""
    out = []
    for path in sorted(DATA.glob("*.txt")):
        for raw in path.read_text("utf-8").splitlines():
            line = raw.strip()
            if line and line[0] not in "#[":
                out.append(line)
    return out


def glued_names(lexicon: list[str], common: list[str]) -> list[str]:
    """`GLUED` names of two to four parts glued, at least one a lexicon or help word."""
    rng = random.Random(SEED)
    out = []
    for _ in range(GLUED):
        parts = [rng.choice(lexicon)]
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.45:
                parts.append(rng.choice(common))
            elif roll < 0.75:
                parts.append(rng.choice(lexicon))
            else:
                parts.append(str(rng.randint(0, 999)))
        rng.shuffle(parts)
        glue = "-" if rng.random() < 0.15 else ""
        label = glue.join(parts)
        if rng.random() < 0.1:
            label = rng.choice(common) + "." + label
        out.append(f"{label}.{rng.choice(TLDS)}")
    return out


def dump(out: Path) -> None:
    """Write every name's record to `out`."""
    from rules.name_recogniser import build_recogniser, packaged_lexicons

    recogniser = build_recogniser(cache_size=0)
    lexicons, help_words = packaged_lexicons()
    lexicon = sorted({w for lex in lexicons.values() for w in lex.words} | set(help_words))
    rng = random.Random(SEED)
    model = sorted(set(recogniser.splitter().costs()))
    common = [w for w in rng.sample(model, 5000) if w.isalpha() and 2 <= len(w) <= 9]
    hosts = set_names() + glued_names(lexicon, common)
    records = {}
    for host in hosts:
        verdict = [[r.category, list(r.words), r.score] for r in recogniser.recognise(host)]
        records[host] = {"verdict": verdict, "words": recogniser.words(host)}
    out.write_text(json.dumps(records, sort_keys=True, indent=0), "utf-8")
    recognised = sum(1 for r in records.values() if r["verdict"])
    print(f"{len(records)} names, {recognised} recognised, written to {out}")


def compare(a: Path, b: Path) -> int:
    """Print the names whose records differ; 1 if any does."""
    left = json.loads(a.read_text("utf-8"))
    right = json.loads(b.read_text("utf-8"))
    differ = sorted(h for h in left.keys() | right.keys() if left.get(h) != right.get(h))
    for host in differ[:50]:
        print(f"{host}: {left.get(host)} != {right.get(host)}")
    print(f"{len(left)} and {len(right)} names; {len(differ)} differ")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dump").add_argument("out", type=Path)
    both = sub.add_parser("compare")
    both.add_argument("a", type=Path)
    both.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out)
    else:
        sys.exit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
