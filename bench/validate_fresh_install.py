"""What a newcomer gets with no network: a fresh home's verdicts on the validation sets.

    .venv/bin/python bench/validate_fresh_install.py          # figures per set
    .venv/bin/python bench/validate_fresh_install.py --show   # and every wrong verdict

A new home in a temporary folder, with nothing but what `candor` makes on its own (the starter
lists, the shipped snapshot, the name recogniser; no download), is asked through the real command,
`candor rules test - --json`, about `https://<name>/` for every name in tests/data/recogniser/,
and about help-seeking searches on Google, Bing, DuckDuckGo and YouTube. Blocked share per list
set; every innocent name or help search blocked is a mistake. The Sinfonietta sets are in the
shipped snapshot, so they say only that the snapshot is in force; the recogniser's own figures,
on names it was not written from, are `bench/validate_recogniser.py`'s. Never run by the tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "recogniser"
VENV_BIN = Path(sys.executable).parent
LIST_SETS = (
    "adult-sinfonietta",
    "adult-ut1-urls",
    "gambling-sinfonietta",
    "gambling-blocklistproject",
    "gambling-ut1",
)
INNOCENT_SETS = ("innocent", "innocent-fresh")
HELP_SEARCHES = (
    "porn addiction help",
    "how to quit pornography",
    "sex addicts anonymous meetings",
    "rebuilding trust after relapse",
    "am i addicted to porn",
    "porn addiction recovery",
    "gambling addiction help",
    "how to stop gambling",
    "sexual health clinic near me",
    "aide addiction pornographie",
    "pornosucht hilfe",
    "adicción a la pornografía ayuda",
)
SEARCH_URLS = (
    "https://www.google.com/search?q={}",
    "https://www.bing.com/search?q={}",
    "https://duckduckgo.com/?q={}",
    "https://www.youtube.com/results?search_query={}",
)


def names(path: Path) -> list[str]:
    """The host names of a validation file (comments, headings and blank lines left out)."""
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line and line[0] not in "#["]


def verdicts(home: Path, urls: list[str]) -> list[dict[str, object]]:
    """`candor rules test - --json` on `urls`, one object per URL, in order."""
    candor = str(VENV_BIN / "candor")
    data = "\n".join(urls) + "\n"
    done = subprocess.run(
        [candor, "--home", str(home), "rules", "test", "-", "--json"],
        input=data,
        capture_output=True,
        text=True,
        check=False,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    if len(out) != len(urls):
        raise SystemExit(f"rules test answered {len(out)} of {len(urls)}: {done.stderr.strip()}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="list every wrong verdict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        subprocess.run(
            [str(VENV_BIN / "candor"), "--home", str(home), "rules", "list"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print("a fresh home, no network: share of each held-out list sample blocked")
        for name in LIST_SETS:
            hosts = names(DATA / f"{name}.txt")
            found = verdicts(home, [f"https://{h}/" for h in hosts])
            blocked = [v for v in found if v["decision"] == "block"]
            by_recogniser = sum(1 for v in blocked if v["source"] == "name recogniser")
            print(f"  {name:28} {len(blocked):5} / {len(hosts):5}  {len(blocked) / len(hosts):6.1%}"
                  f"   (by the recogniser: {by_recogniser})")  # fmt: skip
        for name in INNOCENT_SETS:
            hosts = names(DATA / f"{name}.txt")
            found = verdicts(home, [f"https://{h}/" for h in hosts])
            wrong = [v for v in found if v["decision"] != "allow"]
            print(f"  {name:28} {len(wrong):5} / {len(hosts):5}  not allowed")
            if args.show:
                for v in wrong:
                    print(f"    {v['url']}: {v['reason']}")
        urls = [form.format(quote_plus(q)) for q in HELP_SEARCHES for form in SEARCH_URLS]
        found = verdicts(home, urls)
        wrong = [v for v in found if v["decision"] != "allow"]
        print(f"  {'help-seeking searches':28} {len(wrong):5} / {len(urls):5}  not allowed")
        for v in wrong:
            print(f"    {v['url']}: {v['reason']}")


if __name__ == "__main__":
    main()
