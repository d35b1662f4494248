"""Benchmark of the rules engine against a plain-Python `set` + suffix-walk baseline.

    .venv/bin/python bench/bench_rules.py            # full run (1 M domains), about 2 minutes
    .venv/bin/python bench/bench_rules.py --quick    # 100 k domains, for a smoke test

Data is generated once (seed 12345) into bench/.data/ (git-ignored): 1,000,000 domains, the same
domains as a 1 M-line hosts file, 10,000 keywords and 200,000 request URLs (50 % hits on listed
domains, half of them on subdomains; 50 % misses), plus a small rules file of the person's own.
Every measurement runs in a fresh child interpreter so memory and timings do not leak between
them. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 12345
SYLLABLES = (  # noqa: SIM905 - a word list reads better as text
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ha he hi ho ja jo ka ke "
    "ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so "
    "su ta te ti to tu va ve vi vo za zo bar cam dor fen gar hub jet kin lan mor nix pix ron sun "
    "tek vid web zen star play tube live hot club bet win cash spin fun chat date meet cam show "
    "land zone box net hub hd pro max top"
).split()
TLDS = (
    ("com", 52), ("net", 7), ("org", 4), ("stream", 3), ("tk", 3), ("info", 3), ("xyz", 3),
    ("top", 3), ("online", 2), ("site", 2), ("club", 2), ("co.uk", 2), ("com.br", 2), ("de", 3),
    ("ru", 3), ("fr", 2), ("nl", 2), ("pl", 1), ("it", 1), ("co.jp", 1), ("io", 1),
)  # fmt: skip
PATH_WORDS = (  # noqa: SIM905
    "video watch search tag category page index home news blog post user profile photos gallery "
    "latest popular new best top free hd full live stream embed player api v1 static img css js"
).split()


# ---------------------------------------------------------------- data generation


def _label(rng: random.Random, lo: int = 2, hi: int = 4) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(lo, hi)))


def _tld(rng: random.Random) -> str:
    names, weights = zip(*TLDS, strict=True)
    return rng.choices(names, weights)[0]


def generate(data: Path, n_domains: int, n_keywords: int, n_urls: int) -> None:
    """Write the synthetic inputs once per size (the same bytes every time: one seed)."""
    marker = data / f"done-{n_domains}-{n_keywords}-{n_urls}"
    if marker.exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    names = _domains(rng, n_domains)
    (data / "domains.txt").write_text("\n".join(names) + "\n")
    (data / "hosts.txt").write_text("\n".join(_hosts_lines(rng, names)) + "\n")
    kw_list = _keywords(rng, n_keywords)
    (data / "keywords.txt").write_text("\n".join(kw_list) + "\n")
    urls, kinds = _urls(rng, names, kw_list, n_urls)
    (data / "urls.json").write_text(json.dumps({"urls": urls, "kinds": kinds}))
    (data / "rules.txt").write_text("\n".join(_own_rules(rng)) + "\n")
    marker.write_text("ok\n")


def _domains(rng: random.Random, n_domains: int) -> list[str]:
    domains: dict[str, None] = {}
    while len(domains) < n_domains:
        base = f"{_label(rng)}{rng.randint(0, 99) if rng.random() < 0.3 else ''}.{_tld(rng)}"
        roll = rng.random()
        if roll < 0.12:
            base = "www." + base
        elif roll < 0.18:
            base = f"{_label(rng, 1, 2)}.{base}"
        domains[base] = None
    return list(domains)


def _hosts_lines(rng: random.Random, names: list[str]) -> list[str]:
    lines = [
        "# Title: synthetic benchmark hosts file",
        "127.0.0.1 localhost",
        "::1 localhost",
        "255.255.255.255 broadcasthost",
        "0.0.0.0 0.0.0.0",
    ]
    for i, name in enumerate(names):
        if i % 500 == 0:
            lines.append(f"# section {i // 500}")
        ip = "127.0.0.1" if rng.random() < 0.03 else "0.0.0.0"
        roll = rng.random()
        shown = name.upper() if roll < 0.01 else name + "." if roll < 0.013 else name
        comment = "  # inline comment" if rng.random() < 0.005 else ""
        lines.append(f"{ip} {shown}{comment}")
    return lines


def _keywords(rng: random.Random, n_keywords: int) -> list[str]:
    keywords: dict[str, None] = {}
    while len(keywords) < n_keywords:
        word = _label(rng, 2, 4)
        if 5 <= len(word) <= 12:
            keywords[word] = None
    return list(keywords)


def _urls(
    rng: random.Random, names: list[str], kw_list: list[str], n_urls: int
) -> tuple[list[str], list[str]]:
    listed = set(names)
    urls: list[str] = []
    kinds: list[str] = []
    for _ in range(n_urls):
        host, kind = _url_host(rng, names, listed)
        segments = [rng.choice(PATH_WORDS) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.05:
            segments.append(f"{rng.choice(PATH_WORDS)}-{rng.choice(kw_list)}")
        path = "/" + "/".join(segments)
        if rng.random() < 0.4:
            path += f"?q={rng.choice(PATH_WORDS)}+{_label(rng, 2, 3)}&page={rng.randint(1, 20)}"
        urls.append(f"https://{host}{path}")
        kinds.append(kind)
    return urls, kinds


def _url_host(rng: random.Random, names: list[str], listed: set[str]) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(names), "hit_exact"
    if roll < 0.5:
        extra = ".".join(_label(rng, 1, 2) for _ in range(rng.randint(1, 2)))
        return f"{extra}.{rng.choice(names)}", "hit_sub"
    while True:
        host = f"{_label(rng, 1, 2)}.{_label(rng)}.{_tld(rng)}"
        if rng.random() < 0.5:
            host = host.split(".", 1)[1]
        if not _listed_suffix(host, listed):
            return host, "miss"


def _listed_suffix(host: str, listed: set[str]) -> bool:
    while True:
        if host in listed:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


def _own_rules(rng: random.Random) -> list[str]:
    rules = [
        "# the person's own rules (benchmark)",
        "keyword: casino",
        "keyword: roulette",
        "/poker[0-9]+/",
        "@@safe.example.com",
    ]
    for i in range(150):
        rules.append(f"{_label(rng)}.{_tld(rng)}")
        if i % 10 == 0:
            rules.append(f"={_label(rng)}.{_tld(rng)}")
        if i % 15 == 0:
            rules.append(f"{_label(rng)}.com/{rng.choice(PATH_WORDS)}")
    return rules


# ---------------------------------------------------------------- helpers shared by children


def rss_mb() -> float:
    import psutil

    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss / 2**20


def source_hash(path: Path, fmt: str, exact: bool) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(f"\0{fmt}\0{exact}".encode())
    return digest.hexdigest()


def read_hosts(path: Path, exact: bool = False):  # -> (ImportedEntries, how)
    """The import path: `rules.lists.formats.read_list` when it exists."""
    try:
        from rules.lists.formats import read_list
    except ImportError:
        return _fallback_read_hosts(path, exact), "fallback parser (rules.lists.formats missing)"
    entries = read_list(path, "hosts", exact=exact, name="bench/hosts")
    return entries, "rules.lists.formats.read_list"


def _fallback_read_hosts(path: Path, exact: bool):
    from rules.hostnames import LOCAL_NAMES, InvalidHost, is_ip_literal, normalise_host
    from rules.model import ImportedEntries

    out = ImportedEntries()
    seen: set[str] = set()
    target = out.exact if exact else out.domains
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            line = line.split("#", 1)[0]
            parts = line.split()
            if len(parts) < 2:
                continue
            for name in parts[1:]:
                try:
                    host = normalise_host(name)
                except InvalidHost:
                    continue
                if host in LOCAL_NAMES or is_ip_literal(host) or host in seen:
                    continue
                seen.add(host)
                target.append(host)
    return out


def baseline_read_hosts(path: Path) -> set[str]:
    """A plain set, the way a small script would do it (lower-case, no trailing dot)."""
    out: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2:
                out.add(parts[1].lower().rstrip("."))
    return out


def load_keywords(data: Path) -> list[str]:
    return (data / "keywords.txt").read_text().split()


def build_policy(data: Path, compiled, rules_text: str | None = None):
    from rules.matcher import CategoryPolicy, Policy
    from rules.model import Rule, RuleKind

    text = rules_text if rules_text is not None else (data / "rules.txt").read_text()
    person = parse_rules(text, "rules/gambling.txt")
    keywords = [Rule(RuleKind.KEYWORD, w, source=f"keywords.txt:{i}") for i, w in
                enumerate(load_keywords(data), 1)]  # fmt: skip
    return Policy(
        categories=[
            CategoryPolicy("adult", "block", rules=keywords, lists=[compiled]),
            CategoryPolicy("gambling", "warn", rules=person),
            CategoryPolicy("social", "log", rules=[Rule(RuleKind.DOMAIN, "social.example")]),
        ],
        allowlist=[Rule(RuleKind.DOMAIN, "allowed.example", source="allowlist.txt:1")],
        never_inspect=[Rule(RuleKind.DOMAIN, "bank.example")],
    )


def parse_rules(text: str, file: str):
    try:
        from rules.syntax import parse_rules_text
    except ImportError:
        parse_rules_text = None
    if parse_rules_text is not None:
        return parse_rules_text(text, file).rules
    from rules.model import Rule, RuleKind

    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        src = f"{file}:{n}"
        if line.startswith("keyword:"):
            out.append(Rule(RuleKind.KEYWORD, line[8:].strip(), source=src))
        elif line.startswith("@@"):
            out.append(Rule(RuleKind.DOMAIN, line[2:], exception=True, source=src))
        elif line.startswith("="):
            out.append(Rule(RuleKind.EXACT, line[1:], source=src))
        elif line.startswith("/"):
            out.append(Rule(RuleKind.REGEX, line[1:-1], source=src))
        elif "/" in line:
            out.append(Rule(RuleKind.PATH, line, source=src))
        else:
            out.append(Rule(RuleKind.DOMAIN, line, source=src))
    return out


def per_call_median_ns(fn, items) -> tuple[float, float]:
    """Median and mean of single calls, each timed alone (timer overhead included)."""
    clock = time.perf_counter_ns
    samples = []
    append = samples.append
    for item in items:
        t0 = clock()
        fn(item)
        append(clock() - t0)
    return statistics.median(samples), statistics.fmean(samples)


# ---------------------------------------------------------------- children


def child_import(data: Path, cache: Path) -> dict:
    from agent.policy.list_cache import save_compiled
    from rules.compiled_list import compile_list

    hosts = data / "hosts.txt"
    t0 = time.perf_counter()
    digest = source_hash(hosts, "hosts", False)
    entries, how = read_hosts(hosts)
    t1 = time.perf_counter()
    compiled = compile_list(entries, "lists/adult/bench-hosts", digest)
    t2 = time.perf_counter()
    save_compiled(compiled, cache)
    t3 = time.perf_counter()
    return {
        "total": t3 - t0,
        "parse": t1 - t0,
        "compile": t2 - t1,
        "save": t3 - t2,
        "how": how,
        "entries": len(compiled),
        "accepted": compiled.stats.accepted,
        "skipped": compiled.stats.skipped,
        "rejected": compiled.stats.rejected,
    }


def child_import_baseline(data: Path) -> dict:
    t0 = time.perf_counter()
    s = baseline_read_hosts(data / "hosts.txt")
    return {"total": time.perf_counter() - t0, "entries": len(s)}


def child_load(data: Path, cache: Path) -> dict:
    from rules.compiled_list import load_compiled

    digest = source_hash(data / "hosts.txt", "hosts", False)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        compiled = load_compiled(cache, digest, "lists/adult/bench-hosts")
        times.append(time.perf_counter() - t0)
        assert compiled is not None, "cache missing: run the import first"
    return {"median": statistics.median(times), "first": times[0]}


def child_load_baseline(data: Path) -> dict:
    t0 = time.perf_counter()
    s = set((data / "domains.txt").read_text().split())
    return {"median": time.perf_counter() - t0, "entries": len(s)}


def child_decide(data: Path, cache: Path) -> dict:
    """Cold `decide` latency, interleaved with the baseline so both see the same machine load."""
    from rules.compiled_list import load_compiled
    from rules.matcher import Matcher
    from rules.model import RuleKind

    digest = source_hash(data / "hosts.txt", "hosts", False)
    compiled = load_compiled(cache, digest, "lists/adult/bench-hosts")
    assert compiled is not None
    with_regex = build_policy(data, compiled)
    gambling = with_regex.categories[1]
    no_regex = replace(
        with_regex,
        categories=[
            with_regex.categories[0],
            replace(gambling, rules=[r for r in gambling.rules if r.kind is not RuleKind.REGEX]),
            *with_regex.categories[2:],
        ],
    )
    matcher = Matcher.compile(no_regex, cache_size=0)
    regex_matcher = Matcher.compile(with_regex, cache_size=0)
    baseline = make_baseline(data)
    queries = json.loads((data / "urls.json").read_text())
    urls, kinds = queries["urls"], queries["kinds"]
    decide = matcher.decide
    outcome: dict[str, int] = {}
    for url, kind in zip(urls, kinds, strict=True):  # warm the code paths and the mmapped pages
        d = decide(url)
        key = f"{kind}:{d.decision}"
        outcome[key] = outcome.get(key, 0) + 1
        baseline(url)
    runs, base_runs, regex_runs = [], [], []
    for _ in range(3):
        runs.append(per_call_median_ns(decide, urls))
        base_runs.append(per_call_median_ns(baseline, urls))
        regex_runs.append(per_call_median_ns(regex_matcher.decide, urls))
    hosts = [u.split("/", 3)[2] for u in urls]
    host_median = min(per_call_median_ns(matcher.check_host, hosts)[0] for _ in range(2))
    by_kind = {}
    for kind in ("hit_exact", "hit_sub", "miss"):
        subset = [u for u, k in zip(urls, kinds, strict=True) if k == kind]
        by_kind[kind] = min(per_call_median_ns(decide, subset)[0] for _ in range(2))
    overhead, _ = per_call_median_ns(lambda u: None, urls)
    return {
        "median_ns": min(r[0] for r in runs),
        "mean_ns": min(r[1] for r in runs),
        "runs_ns": [r[0] for r in runs],
        "baseline_median_ns": min(r[0] for r in base_runs),
        "baseline_runs_ns": [r[0] for r in base_runs],
        "regex_median_ns": min(r[0] for r in regex_runs),
        "check_host_median_ns": host_median,
        "by_kind": by_kind,
        "timer_overhead_ns": overhead,
        "outcomes": outcome,
        "n": len(urls),
        "load_average": os.getloadavg(),
    }


def make_baseline(data: Path):
    """A plain-Python `decide`: urlsplit, a `set` suffix walk, a `set` of keyword tokens."""
    import re
    from urllib.parse import urlsplit

    domains = set((data / "domains.txt").read_text().split())
    keywords = frozenset(load_keywords(data))
    words = re.compile(r"[^\W_]+")

    def decide(url: str) -> str:
        host = urlsplit(url).hostname or ""
        h = host
        while True:
            if h in domains:
                return "block"
            dot = h.find(".")
            if dot < 0:
                break
            h = h[dot + 1 :]
        if not keywords.isdisjoint(words.findall(url.lower())):
            return "block"
        return "allow"

    return decide


def child_memory(data: Path, cache: Path) -> dict:
    """RSS added by the loaded list + matcher after real lookups (mmapped pages touched)."""
    from rules.compiled_list import load_compiled
    from rules.matcher import Matcher

    digest = source_hash(data / "hosts.txt", "hosts", False)
    urls = json.loads((data / "urls.json").read_text())["urls"]
    keywords = load_keywords(data)
    before = rss_mb()
    compiled = load_compiled(cache, digest, "lists/adult/bench-hosts")
    assert compiled is not None
    matcher = Matcher.compile(build_policy(data, compiled), cache_size=0)
    for url in urls:
        matcher.decide(url)
    after = rss_mb()
    del keywords
    return {"rss_delta_mb": after - before, "trie_keys": len(compiled)}


def child_memory_baseline(data: Path) -> dict:
    before = rss_mb()
    domains = set((data / "domains.txt").read_text().split())
    keywords = frozenset(load_keywords(data))
    after = rss_mb()
    return {"rss_delta_mb": after - before, "entries": len(domains) + len(keywords)}


def child_reload(data: Path, cache: Path) -> dict:
    """A one-line edit of the person's rules file while the 1 M list is loaded."""
    from rules.compiled_list import load_compiled
    from rules.matcher import Matcher

    digest = source_hash(data / "hosts.txt", "hosts", False)
    compiled = load_compiled(cache, digest, "lists/adult/bench-hosts")
    assert compiled is not None
    rules_file = data / "rules-edit.txt"
    rules_file.write_text((data / "rules.txt").read_text())
    current = Matcher.compile(build_policy(data, compiled, rules_file.read_text()))
    times, with_load = [], []
    for i in range(5):
        with rules_file.open("a") as f:
            f.write(f"edited{i}.example\n")
        t0 = time.perf_counter()
        new = Matcher.compile(build_policy(data, compiled, rules_file.read_text()))
        times.append(time.perf_counter() - t0)
        assert new.fingerprint != current.fingerprint
        current = new
        t0 = time.perf_counter()
        again = load_compiled(cache, digest, "lists/adult/bench-hosts")
        assert again is not None
        Matcher.compile(build_policy(data, again, rules_file.read_text()))
        with_load.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "with_cache_load": statistics.median(with_load)}


def child_reload_baseline(data: Path) -> dict:
    t0 = time.perf_counter()
    domains = baseline_read_hosts(data / "hosts.txt")
    keywords = frozenset(load_keywords(data))
    parse_rules((data / "rules.txt").read_text(), "rules.txt")
    return {"median": time.perf_counter() - t0, "entries": len(domains) + len(keywords)}


CHILDREN = {
    "import": child_import,
    "load": child_load,
    "decide": child_decide,
    "memory": child_memory,
    "reload": child_reload,
}
BASELINES = {
    "import": child_import_baseline,
    "load": child_load_baseline,
    "memory": child_memory_baseline,
    "reload": child_reload_baseline,
}


def run_child(task: str, data: Path, cache: Path, baseline: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", task, "--data", str(data), "--cache", str(cache)]
    if baseline:
        cmd.append("--baseline")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 k domains, 20 k URLs")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()

    if args.child:
        table = BASELINES if args.baseline else CHILDREN
        fn = table[args.child]
        result = fn(args.data) if args.baseline else fn(args.data, args.cache)
        print(json.dumps(result))
        return

    n_domains, n_urls = (100_000, 20_000) if args.quick else (1_000_000, 200_000)
    data = args.data / ("quick" if args.quick else "full")
    cache = args.cache or data / "cache"
    t0 = time.perf_counter()
    generate(data, n_domains, 10_000, n_urls)
    print(f"data ready in {data} ({time.perf_counter() - t0:.1f} s)")
    for leftover in cache.glob("*") if cache.exists() else ():
        leftover.unlink()

    results = {}
    for task in ("import", "load", "decide", "memory", "reload"):
        ours = run_child(task, data, cache, False)
        base = run_child(task, data, cache, True) if task in BASELINES else {}
        results[task] = (ours, base)
        print(f"  {task}: {json.dumps(ours)}")
        if base:
            print(f"  {task} baseline: {json.dumps(base)}")

    imp, imp_b = results["import"]
    load, load_b = results["load"]
    dec, _ = results["decide"]
    mem, mem_b = results["memory"]
    rel, rel_b = results["reload"]
    rows = [
        (
            "median cold decide (µs)",
            dec["median_ns"] / 1000,
            dec["baseline_median_ns"] / 1000,
            "≤ 5",
        ),
        ("first import of hosts file (s)", imp["total"], imp_b["total"], "≤ 5"),
        ("compiled-cache load (s)", load["median"], load_b["median"], "≤ 0.2"),
        ("memory added (MB RSS)", mem["rss_delta_mb"], mem_b["rss_delta_mb"], "≤ 40"),
        ("reload after one-line edit (s)", rel["median"], rel_b["median"], "≤ 1"),
    ]
    print()
    version = sys.version.split()[0]
    print(f"{n_domains:,} domains, 10,000 keywords, {n_urls:,} URLs; Python {version}")
    print(f"import path: {imp['how']}")
    print("| measure | candor | set + walk baseline | ratio | target |")
    print("|---|---:|---:|---:|---|")
    for name, ours, base, target in rows:
        ratio = ours / base if base else float("nan")
        print(f"| {name} | {ours:.4g} | {base:.4g} | {ratio:.2f} | {target} |")
    print()
    print(f"decide with one regex rule too: {dec['regex_median_ns'] / 1000:.2f} µs median")
    print(f"decide runs (median µs): {[r / 1000 for r in dec['runs_ns']]}, baseline "
          f"{[r / 1000 for r in dec['baseline_runs_ns']]}")  # fmt: skip
    print(f"load average during decide: {dec['load_average']}")
    print(f"decide mean {dec['mean_ns'] / 1000:.2f} µs; per kind (median µs): "
          + ", ".join(f"{k} {v / 1000:.2f}" for k, v in dec["by_kind"].items()))  # fmt: skip
    print(f"check_host cold median {dec['check_host_median_ns'] / 1000:.2f} µs; "
          f"timer overhead {dec['timer_overhead_ns']:.0f} ns (included above)")  # fmt: skip
    print(f"import split: parse {imp['parse']:.2f} s, compile {imp['compile']:.2f} s, "
          f"save {imp['save']:.2f} s; entries {imp['entries']:,}")  # fmt: skip
    print(f"reload including a fresh cache load: {rel['with_cache_load']:.3f} s")
    print(f"outcomes: {dec['outcomes']}")


if __name__ == "__main__":
    main()
