"""Compiled imported lists: label-boundary matching, exact entries, and a cache that survives
restarts and never trusts a damaged file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.policy.list_cache import save_compiled
from rules.compiled_list import (
    EXACT_SPECIFICITY,
    FORMAT_VERSION,
    CompiledList,
    cache_paths,
    compile_list,
    domain_specificity,
    load_compiled,
)
from rules.model import ImportedEntries, Rejection, Rule, RuleKind

NAME = "lists/adult/sample"


def sample_entries() -> ImportedEntries:
    return ImportedEntries(
        domains=["example.com", "deep.sub.example.org", "xn--bcher-kva.example", "co.uk"],
        exact=["www.exact.test", "solo.example.com"],
        paths=["videos.test/Watch/bad", "videos.test/tag/x#frag", "host.test/"],
        regexes=["casino[0-9]+", "(?<=bad)lookbehind"],
        exceptions=[Rule(RuleKind.DOMAIN, "ok.example.com", exception=True)],
        important=["must.example.com"],
        rejected=[Rejection("sample.txt", 3, "-bad-", "a label starts or ends with '-'")],
        skipped=Counter({"comment": 4, "duplicate": 2}),
    )


@pytest.fixture
def compiled() -> CompiledList:
    return compile_list(sample_entries(), NAME, "hash-1")


def answers(cl: CompiledList) -> list[object]:
    hosts = [
        "example.com",
        "www.example.com",
        "a.b.example.com",
        "notexample.com",
        "example.com.evil.net",
        "sub.example.org",
        "deep.sub.example.org",
        "x.deep.sub.example.org",
        "www.exact.test",
        "a.www.exact.test",
        "exact.test",
        "solo.example.com",
        "xn--bcher-kva.example",
        "bbc.co.uk",
    ]
    urls = [
        ("videos.test", "/Watch/bad/1"),
        ("www.videos.test", "/Watch/bad"),
        ("videos.test", "/watch/bad"),
        ("videos.test", "/tag/x?y"),
        ("other.test", "/Watch/bad"),
        ("host.test", "/anything"),
        ("x.test", "/play/casino77"),
    ]
    return [cl.match_host(h) for h in hosts] + [cl.match_url(h, p) for h, p in urls]


def test_domains_cover_their_subdomains_on_label_boundaries(compiled: CompiledList) -> None:
    assert compiled.match_host("example.com") == ("example.com", domain_specificity("example.com"))
    assert compiled.match_host("a.b.example.com") == ("example.com", 102)
    assert compiled.match_host("notexample.com") is None
    assert compiled.match_host("example.com.evil.net") is None
    assert compiled.match_host("sub.example.org") is None
    assert compiled.match_host("x.deep.sub.example.org") == ("deep.sub.example.org", 104)


def test_exact_entries_name_one_host_and_win(compiled: CompiledList) -> None:
    assert compiled.match_host("www.exact.test") == ("=www.exact.test", EXACT_SPECIFICITY)
    assert compiled.match_host("a.www.exact.test") is None
    assert compiled.match_host("exact.test") is None
    # Listed both under a domain entry and exactly: the exact entry is the more specific.
    assert compiled.match_host("solo.example.com") == ("=solo.example.com", EXACT_SPECIFICITY)


def test_most_specific_domain_is_reported() -> None:
    cl = compile_list(ImportedEntries(domains=["example.com", "a.example.com"]), NAME, "h")
    assert cl.match_host("x.a.example.com") == ("a.example.com", 103)
    assert cl.match_host("b.example.com") == ("example.com", 102)


def test_paths_are_prefixes_on_the_host_and_its_subdomains(compiled: CompiledList) -> None:
    assert compiled.match_url("videos.test", "/Watch/bad/1") == "videos.test/watch/bad"
    assert compiled.match_url("www.videos.test", "/Watch/bad") == "videos.test/watch/bad"
    # A list's paths ignore case (issue 12, item 15: many sites answer /WATCH as /watch).
    assert compiled.match_url("videos.test", "/watch/bad") == "videos.test/watch/bad"
    assert compiled.match_url("videos.test", "/%57atch//./bad") == "videos.test/watch/bad"
    assert compiled.match_url("videos.test", "/watch%2Fbad") is None  # %2F is not a slash
    assert compiled.match_url("videos.test", "/tag/x?y") == "videos.test/tag/x"  # no fragment
    assert compiled.match_url("other.test", "/Watch/bad") is None
    assert compiled.match_url("videos.test", "/watch/ba") is None
    assert compiled.names_paths_for("www.videos.test")
    assert not compiled.names_paths_for("videos.test.evil")


def test_regexes_are_searched_and_bad_ones_counted(compiled: CompiledList) -> None:
    assert compiled.regexes == ("casino[0-9]+",)
    assert compiled.match_url("x.test", "/play/CASINO77") == "/casino[0-9]+/"
    assert compiled.match_url("x.test", "/play/casino") is None
    assert compiled.stats.rejected == 2  # the parser's rejection + the pattern RE2 refuses


def test_side_entries_carry_the_list_as_source(compiled: CompiledList) -> None:
    assert compiled.exceptions == (Rule(RuleKind.DOMAIN, "ok.example.com", exception=True),)
    assert compiled.exceptions[0].source == NAME
    assert compiled.important == (Rule(RuleKind.DOMAIN, "must.example.com", important=True),)
    assert compiled.important[0].source == NAME


def test_stats(compiled: CompiledList) -> None:
    assert compiled.stats.accepted == sample_entries().accepted - 1
    assert compiled.stats.skipped == 6
    assert dict(compiled.stats.skipped_by_reason) == {"comment": 4, "duplicate": 2}
    assert len(compiled) == 6


def test_save_and_load_round_trip(tmp_path: Path, compiled: CompiledList) -> None:
    side = save_compiled(compiled, tmp_path)
    assert side.exists()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_compiled(tmp_path, "hash-1", NAME)
    assert loaded is not None
    assert answers(loaded) == answers(compiled)
    assert loaded.name == NAME
    assert loaded.stats == compiled.stats
    assert loaded.paths == compiled.paths
    assert loaded.regexes == compiled.regexes
    assert loaded.exceptions == compiled.exceptions
    assert loaded.exceptions[0].source == NAME
    assert loaded.important == compiled.important
    assert len(loaded) == len(compiled)


def test_load_misses_other_sources_and_names(tmp_path: Path, compiled: CompiledList) -> None:
    save_compiled(compiled, tmp_path)
    assert load_compiled(tmp_path, "hash-2", NAME) is None
    assert load_compiled(tmp_path, "hash-1", "lists/adult/other") is None
    assert load_compiled(tmp_path / "absent", "hash-1", NAME) is None


def test_empty_list_round_trips(tmp_path: Path) -> None:
    cl = compile_list(ImportedEntries(), NAME, "empty")
    save_compiled(cl, tmp_path)
    loaded = load_compiled(tmp_path, "empty", NAME)
    assert loaded is not None
    assert loaded.match_host("example.com") is None
    assert len(loaded) == 0


@pytest.mark.parametrize(
    ("which", "damage"),
    [
        ("trie", lambda data: b"garbage" * 100),
        ("trie", lambda data: data[: len(data) // 2]),
        ("trie", lambda data: data[:-9] + bytes(9)),
        ("trie", lambda data: b""),
        ("side", lambda data: data[:-5]),
        ("side", lambda data: b"\xff\xfe not json"),
        ("side", lambda data: b'{"format": 1}'),
        ("side", lambda data: data.replace(b'"format":1', b'"format":%d' % (FORMAT_VERSION + 1))),
        ("side", lambda data: data.replace(b'"exceptions":[[', b'"exceptions":[["nonsense",')),
    ],
)
def test_damaged_cache_loads_as_none(tmp_path: Path, compiled: CompiledList, which, damage) -> None:
    save_compiled(compiled, tmp_path)
    trie_file, side_file = cache_paths(tmp_path, "hash-1", NAME)
    target = trie_file if which == "trie" else side_file
    target.write_bytes(damage(target.read_bytes()))
    assert load_compiled(tmp_path, "hash-1", NAME) is None


def test_missing_trie_loads_as_none(tmp_path: Path, compiled: CompiledList) -> None:
    save_compiled(compiled, tmp_path)
    cache_paths(tmp_path, "hash-1", NAME)[0].unlink()
    assert load_compiled(tmp_path, "hash-1", NAME) is None


def test_saving_again_replaces_the_cache(tmp_path: Path, compiled: CompiledList) -> None:
    save_compiled(compiled, tmp_path)
    first = load_compiled(tmp_path, "hash-1", NAME)
    save_compiled(compiled, tmp_path)  # over a file that is memory-mapped right now
    second = load_compiled(tmp_path, "hash-1", NAME)
    assert first is not None and second is not None
    assert answers(first) == answers(second)
    assert len(list(tmp_path.iterdir())) == 2


_label = st.text(alphabet="abcxyz0-", min_size=1, max_size=4).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
_host = st.lists(_label, min_size=1, max_size=4).map(".".join)


@settings(max_examples=150)
@given(domains=st.lists(_host, min_size=1, max_size=6), hosts=st.lists(_host, max_size=10))
def test_property_label_boundary_suffix_matching(domains: list[str], hosts: list[str]) -> None:
    """A host matches iff it equals a listed domain or ends with "." + one of them."""
    cl = compile_list(ImportedEntries(domains=domains), NAME, "p")
    for host in [*hosts, *domains, *("x." + d for d in domains), *(d[1:] for d in domains)]:
        covering = [d for d in domains if host == d or host.endswith("." + d)]
        hit = cl.match_host(host)
        if not covering:
            assert hit is None
        else:
            longest = max(covering, key=len)
            assert hit == (longest, domain_specificity(longest))


@settings(max_examples=60)
@given(exact=st.lists(_host, min_size=1, max_size=6), hosts=st.lists(_host, max_size=10))
def test_property_exact_entries_match_only_themselves(exact: list[str], hosts: list[str]) -> None:
    cl = compile_list(ImportedEntries(exact=exact), NAME, "p")
    for host in [*hosts, *exact, *("x." + h for h in exact)]:
        assert (cl.match_host(host) is not None) is (host in exact)


def test_a_cache_written_before_paths_were_normalised_matches_every_spelling(
    tmp_path: Path,
) -> None:
    """An old cache (a held old version of a list may exist only there) holds paths as written:
    they are keyed when the list is loaded, so it matches like a fresh import."""
    cl = compile_list(ImportedEntries(paths=["spelled.test/secret"]), NAME, "hash-1")
    side = save_compiled(cl, tmp_path)
    doc = json.loads(side.read_text())
    doc["paths"] = {"spelled.test": ["/Sec%72et//x/./", "/secret/x/"]}  # as the old code kept them
    side.write_text(json.dumps(doc))
    loaded = load_compiled(tmp_path, "hash-1", NAME)
    assert loaded is not None
    assert loaded.paths["spelled.test"] == ("/secret/x/",)
    assert loaded.match_url("spelled.test", "/SECRET/x/1") == "spelled.test/secret/x/"
