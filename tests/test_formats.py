"""Importing public lists: real files (tests/data/lists), and every way a list can be broken."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rules.lists.formats import (
    ListFormat,
    RulesFileError,
    detect_format,
    read_list,
    read_list_bytes,
    sniff_format,
)
from rules.model import ImportedEntries, Rule, RuleKind
from tests.conftest import REPO, SAMPLE_LISTS

HAGEZI = SAMPLE_LISTS / "hagezi_2022snapshot"
SINFONIETTA = SAMPLE_LISTS / "sinfonietta_hostfiles"
BLP = SAMPLE_LISTS / "blocklistproject"
UT1 = SAMPLE_LISTS / "ut1"

H, D, W, A, M, U, C = (
    ListFormat.HOSTS,
    ListFormat.DOMAINS,
    ListFormat.WILDCARD,
    ListFormat.ADBLOCK,
    ListFormat.DNSMASQ,
    ListFormat.UT1,
    ListFormat.CANDOR,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_text(tmp_path: Path, content: str | bytes, fmt: ListFormat, **kw: bool) -> ImportedEntries:
    return read_list(write(tmp_path, "list.txt", content), fmt, name="list.txt", **kw)


def hosts_of(entries: ImportedEntries) -> set[str]:
    return set(entries.domains) | set(entries.exact)


# The real lists, counts from tests/data/SOURCES.md.


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (BLP / "gambling.hosts.txt", H),
        (BLP / "gambling-nl.domains.txt", D),
        (BLP / "gambling-ags.adguard.txt", A),
        (HAGEZI / "adblock.fake.txt", A),
        (HAGEZI / "wildcard.fake.txt", W),
        (HAGEZI / "dnsmasq.fake.txt", M),
        (HAGEZI / "domains.fake.txt", D),
        (HAGEZI / "hosts.fake.txt", H),
        (HAGEZI / "adblock.light.first3000.txt", A),
        (SINFONIETTA / "pornography-hosts.txt", H),
        (SINFONIETTA / "social-hosts.txt", H),
        (UT1 / "adult.urls", U),
        (UT1 / "gambling.domains", D),
    ],
)
def test_formats_are_detected(path: Path, fmt: ListFormat) -> None:
    assert detect_format(path) == fmt


def test_blocklistproject_gambling_is_the_same_in_three_forms() -> None:
    forms = [
        read_list(BLP / "gambling.hosts.txt"),
        read_list(BLP / "gambling-nl.domains.txt"),
        read_list(BLP / "gambling-ags.adguard.txt"),
    ]
    for entries in forms:
        assert len(entries.domains) == 2510
        assert entries.rejected == []
        assert entries.skipped["comment"] == 12
    assert set(forms[0].domains) == set(forms[1].domains) == set(forms[2].domains)


def test_hagezi_fake_in_five_syntaxes() -> None:
    compact = [
        read_list(HAGEZI / f"{kind}.fake.txt") for kind in ("adblock", "wildcard", "dnsmasq")
    ]
    spelled = [read_list(HAGEZI / f"{kind}.fake.txt") for kind in ("domains", "hosts")]
    for entries in compact:
        assert len(entries.domains) == 7355
        assert entries.rejected == []
    for entries in spelled:
        assert len(entries.domains) == 14043
        assert entries.rejected == []
    assert len({frozenset(e.domains) for e in compact}) == 1
    assert len({frozenset(e.domains) for e in spelled}) == 1
    assert set(compact[0].domains) <= set(spelled[0].domains)
    assert sum("xn--" in d for d in compact[0].domains) == 4


def test_hagezi_light_glued_address_is_rejected_not_guessed() -> None:
    entries = read_list(HAGEZI / "adblock.light.first3000.txt", name="light.txt")
    [bad] = entries.rejected
    assert (bad.file, bad.line, bad.text) == ("light.txt", 11, "||0.0.0.0.beeglivesex.com^")
    assert "address (0.0.0.0) glued to a host name" in bad.reason
    assert "beeglivesex.com" not in entries.domains
    assert len(entries.domains) == 2989


def test_sinfonietta_porn_quirks() -> None:
    entries = read_list(SINFONIETTA / "pornography-hosts.txt")
    domains = set(entries.domains)
    # 61,186 lines, one of them with two names; 24 duplicates after lowercasing and dot removal.
    assert len(entries.domains) + len(entries.exact) == 61186 + 1 - 24
    assert entries.skipped == {"duplicate": 24}
    assert entries.rejected == []
    assert {"ehentai.to", "nhentai.to", "mysubs.cc"} <= domains
    assert "Ehentai.to" not in domains
    assert "www.guruofporn.com" in domains
    assert "xxxhindi.to" in domains
    assert "en" in entries.exact and "en" not in domains  # a lone TLD blocks that name only
    assert {"85.17.187.83", "51.89.232.63"} <= set(entries.exact)
    assert len(entries.exact) == 6  # 5 IP literals and "en"
    assert sum(d.startswith("xn--") or ".xn--" in d for d in domains) == 157
    assert "pornspare_com.imedia-stream.com" in domains
    assert "rahaporn.commanhwax.top" in domains  # run-together, but a valid name


def test_sinfonietta_social_typoed_address_and_sections() -> None:
    entries = read_list(SINFONIETTA / "social-hosts.txt")
    assert "p19-sign.tiktokcdn-us.com" in entries.domains  # listed under 127.0.0.7
    assert entries.skipped["comment"] == 24
    assert len(entries.domains) + len(entries.exact) == 3245


def test_exact_mode_keeps_hosts_file_meaning() -> None:
    entries = read_list(BLP / "gambling.hosts.txt", exact=True)
    assert (len(entries.domains), len(entries.exact)) == (0, 2510)
    adblock = read_list(BLP / "gambling-ags.adguard.txt", exact=True)
    assert len(adblock.domains) == 2510  # `||d^` says "and subdomains" itself


def test_ut1_urls() -> None:
    entries = read_list(UT1 / "adult.urls")
    assert entries.rejected == []
    assert not any("#" in p for p in entries.paths)
    assert "undressapp.ai/en" in entries.paths  # from undressapp.ai/en#gallery
    assert entries.skipped["duplicate"] == 1  # ... which duplicates undressapp.ai/en
    assert {"planhomo.com", "danskporn.dk"} <= set(entries.domains)  # `/#`: the whole site
    assert {"178.128.25.172/watch", "178.128.25.172/tag/playboy-penis"} <= set(entries.paths)
    assert sum(p != p.lower() for p in entries.paths) == 78  # path case is kept
    assert len(entries.paths) + len(entries.domains) + 1 == 1090


def test_ut1_gambling_keeps_addresses_exact_and_punycode() -> None:
    entries = read_list(UT1 / "gambling.domains")
    assert len(entries.exact) == 14
    assert "159.153.253.16" in entries.exact
    assert sum("xn--" in d for d in entries.domains) == 38
    assert len(entries.domains) + len(entries.exact) == 32247
    dating = read_list(UT1 / "dating.domains")
    assert dating.exact == ["18.198.224.161"]
    assert {"hard_sexe_amateur.jaz082.x-film.us", "xn--pacincia-xl-qbb.com"} <= set(dating.domains)


def test_bytes_and_file_readers_agree() -> None:
    for path in (SINFONIETTA / "social-hosts.txt", HAGEZI / "dnsmasq.fake.txt", UT1 / "adult.urls"):
        from_file = read_list(path, name=path.name)
        from_bytes = read_list_bytes(path.read_bytes(), name=path.name)
        assert from_file == from_bytes


# Hosts files.


def test_hosts_normalisation(tmp_path: Path) -> None:
    content = (
        "\ufeff# header\r\n"
        "127.0.0.1 localhost\r\n"
        "::1 localhost ip6-localhost\r\n"
        "fe80::1%lo0 localhost\r\n"
        "255.255.255.255 broadcasthost\r\n"
        "0.0.0.0 0.0.0.0\r\n"
        "0.0.0.0\tExample.COM.   www.example.com # inline\r\n"
        "0.0.0.0    bücher.de\r\n"
        "127.0.0.7 typo.example\r\n"
        "2001:db8::1 v6.example\r\n"
        "bare.example\r\n"
        "0.0.0.0 127.0.0.1 10.1.2.3\r\n"
        "0.0.0.0 example.com\r\n"
    )
    entries = read_text(tmp_path, content, H)
    assert entries.domains == [
        "example.com",
        "www.example.com",
        "xn--bcher-kva.de",
        "typo.example",
        "v6.example",
        "bare.example",
    ]
    assert entries.exact == ["10.1.2.3"]
    assert entries.skipped == {"comment": 1, "localhost": 7, "duplicate": 1}
    assert entries.rejected == []


def test_hosts_rejections_name_the_line(tmp_path: Path) -> None:
    content = (
        "0.0.0.0 good.example\n0.0.0.0\nnot an address line\n0.0.0.0 ok.example bad!x -x.com\n"
    )
    entries = read_text(tmp_path, content, H)
    assert entries.domains == ["good.example", "ok.example"]
    reasons = [(r.line, r.reason) for r in entries.rejected]
    assert reasons[0] == (2, "an address with no host name after it")
    assert reasons[1] == (3, "a hosts line starts with an IP address")
    assert reasons[2] == (4, "'bad!x': character not allowed in a host name: '!'")
    assert reasons[3] == (4, "'-x.com': a label starts or ends with '-'")


def test_hosts_single_name_rejection_is_plain(tmp_path: Path) -> None:
    [bad] = read_text(tmp_path, "0.0.0.0 a..b\n", H).rejected
    assert (bad.file, bad.line, bad.reason) == ("list.txt", 1, "empty label (two dots in a row)")


# Plain domains and wildcards.


def test_domains_and_wildcards(tmp_path: Path) -> None:
    content = "# c\n*.wild.example\nplain.example # note\n*\n0.0.0.0 hosts.example\nbad name\n"
    entries = read_text(tmp_path, content, D)
    assert entries.domains == ["wild.example", "plain.example"]
    assert [r.reason for r in entries.rejected] == [
        "a bare '*' would match every site",
        "a hosts-file line; import it as hosts",
        "character not allowed in a host name: ' '",
    ]
    exact = read_text(tmp_path, content, D, exact=True)
    assert (exact.domains, exact.exact) == (["wild.example"], ["plain.example"])
    wildcard = read_text(tmp_path, content, W, exact=True)
    assert wildcard.domains == ["wild.example", "plain.example"]


# Adblock.


def test_adblock_host_subset(tmp_path: Path) -> None:
    content = "\n".join(
        [
            "[Adblock Plus 2.0]",
            "! comment",
            "# also a comment",
            "||ads.example^",
            "||Ads.Example.^",
            "||imp.example^$important",
            "@@||good.example^",
            "@@||both.example^$important",
            "||path.example/some/Page",
            "||doc.example^$document",
            "||tp.example^$third-party",
            "||tp2.example^$3p,important",
            "||dom.example^$domain=a.com|~b.com",
            "example.com##.banner",
            "example.com#@#.banner",
            "##.generic",
            "example.org#?#div:has(a)",
            "example.org$$script[data-x]",
            "|https://pattern.example/ads",
            "/banner[0-9]+/",
            "||ads.*.example^",
            "-ad-banner.",
            "bare.example",
            "0.0.0.0 hosts-line.example",
            "||1.2.3.4^",
            "||bad_host-.com^",
            "||^",
            "||0.0.0.0^",
        ]
    )
    entries = read_text(tmp_path, content, A)
    assert entries.domains == ["ads.example", "doc.example", "bare.example", "hosts-line.example"]
    assert entries.important == ["imp.example"]
    assert entries.paths == ["path.example/some/Page"]
    assert entries.exact == ["1.2.3.4"]
    assert entries.exceptions == [
        Rule(RuleKind.DOMAIN, "good.example", exception=True),
        Rule(RuleKind.DOMAIN, "both.example", exception=True, important=True),
    ]
    assert entries.exceptions[0].source == "list.txt:7"
    assert entries.skipped == {
        "comment": 3,
        "duplicate": 1,
        "unsupported option $third-party": 1,
        "unsupported option $3p": 1,
        "unsupported option $domain": 1,
        "cosmetic rule": 5,
        "URL pattern rule": 4,
        "localhost": 1,
    }
    assert [(r.line, r.reason) for r in entries.rejected] == [
        (26, "malformed Adblock rule: a label starts or ends with '-'"),
        (27, "malformed Adblock rule: no host name after '||'"),
    ]


def test_adblock_badfilter_disables_the_same_rule_wherever_it_is(tmp_path: Path) -> None:
    content = "\n".join(
        [
            "||early.example^$badfilter",
            "||early.example^",
            "||late.example^",
            "||late.example^$badfilter",
            "||imp.example^$important",
            "||imp.example^$important,badfilter",
            "@@||ok.example^",
            "@@||ok.example^$badfilter",
            "||kept.example^",
            "||kept.example^$important,badfilter",
        ]
    )
    entries = read_text(tmp_path, content, A)
    assert entries.domains == ["kept.example"]
    assert entries.important == []
    assert entries.exceptions == []
    assert entries.skipped == {"$badfilter rule": 5, "disabled by $badfilter": 4}


# dnsmasq.


def test_dnsmasq(tmp_path: Path) -> None:
    content = "\n".join(
        [
            "# comment",
            "address=/nx.example/#",
            "address=/null.example/0.0.0.0",
            "address=/a.example/b.example/::",
            "local=/local.example/",
            "server=/server.example/",
            "server=/fwd.example/1.1.1.1",
            "server=/std.example/#",
            "address=/*.star.example/#",
            "address=/#/0.0.0.0",
            "address=//0.0.0.0",
            "bogus-nxdomain=1.2.3.4",
            "no-resolv",
            "address=nonsense",
            "address=/bad host/#",
        ]
    )
    entries = read_text(tmp_path, content, M)
    assert entries.domains == [
        "nx.example",
        "null.example",
        "a.example",
        "b.example",
        "local.example",
        "server.example",
        "star.example",
    ]
    assert entries.skipped == {
        "comment": 1,
        "server= line that forwards rather than blocks": 2,
        "other dnsmasq directive": 2,
    }
    assert [(r.line, r.reason) for r in entries.rejected] == [
        (10, "'#' as a domain would match every site"),
        (11, "empty domain between slashes"),
        (14, "malformed dnsmasq line"),
        (15, "character not allowed in a host name: ' '"),
    ]


# UT1.


def test_ut1_folder(tmp_path: Path) -> None:
    folder = tmp_path / "adult"
    folder.mkdir()
    write(folder, "domains.0", "zero.example\n")
    write(folder, "domains.1", "one.example\n1.2.3.4\n")
    write(folder, "domains", "main.example\n")
    write(folder, "urls", "site.example/Path#frag\nwhole.example/#\nbad host/x\n")
    write(folder, "expressions", "(^|[-.])(sex|xxx)s?([-.]|$)\n(a+)+$\n(broken\n")
    write(folder, "usage", "black\nadult\nporn\n")
    write(folder, "very_restrictive_expression", "(sex)\n")
    seen: list[int] = []
    entries = read_list(folder, name="adult", progress=seen.append)
    assert entries.domains == ["main.example", "zero.example", "one.example", "whole.example"]
    assert entries.exact == ["1.2.3.4"]
    assert entries.paths == ["site.example/Path"]
    assert entries.regexes == ["(^|[-.])(sex|xxx)s?([-.]|$)", "(a+)+$"]
    assert [(r.file, r.line, r.reason) for r in entries.rejected] == [
        ("adult/urls", 3, "character not allowed in a host name: ' '"),
        ("adult/expressions", 3, "regex does not compile: missing )"),
    ]
    sizes = sum(
        p.stat().st_size for p in folder.iterdir() if p.name.startswith(("dom", "ur", "ex"))
    )
    assert seen == sorted(seen) and seen[-1] == sizes


def test_ut1_single_files_by_name_and_content(tmp_path: Path) -> None:
    urls = write(tmp_path, "urls", "a.example/x\n")
    assert detect_format(urls) == U
    assert read_list(urls).paths == ["a.example/x"]
    unnamed = write(tmp_path, "list.txt", "a.example/x\nb.example/y\nc.example\n")
    assert detect_format(unnamed) == U
    assert read_list(unnamed, U).paths == ["a.example/x", "b.example/y"]
    assert read_list_bytes(b"a.example/x\n", U, name="x").paths == ["a.example/x"]
    assert read_list(unnamed, "ut1").paths == ["a.example/x", "b.example/y"]  # type: ignore[arg-type]
    domains = write(tmp_path, "domains.2", "d.example\n")
    assert detect_format(domains) == D


def test_ut1_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="no such file"):
        read_list(tmp_path / "missing-folder", U)
    with pytest.raises(RulesFileError, match="not a UT1 category folder"):
        read_list(tmp_path, U)


# Candor's own syntax as a list.


def test_candor_format(tmp_path: Path) -> None:
    content = "# mine\nexample.com\n=www.exact.example\nsite.example/path\n/re+gex/\n"
    content += "@@ok.example\nimp.example $important\nkeyword: casino\n=imp.example $important\n"
    content += "site.example/Case $match-case\n"
    path = write(tmp_path, "mine.txt", content)
    assert detect_format(path) == C
    entries = read_list(path, name="mine.txt")
    assert entries.domains == ["example.com"]
    assert entries.exact == ["www.exact.example"]
    assert entries.paths == ["site.example/path"]
    assert entries.regexes == ["re+gex"]
    assert entries.important == ["imp.example"]
    assert entries.exceptions == [Rule(RuleKind.DOMAIN, "ok.example", exception=True)]
    assert [(r.line, r.reason) for r in entries.rejected] == [
        (8, "keyword rules cannot come from a list; add them to your own rules"),
        (9, "$important works on domains only in a list"),
        (10, "$match-case works in your own rules only; a list's paths ignore case"),
    ]


# Detection.


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ("", D),
        ("# only comments\n", D),
        ("a.example\nb.example\n", D),
        ("127.0.0.1 localhost\n0.0.0.0 a.example\n", H),
        ("::1 localhost\n", H),
        ("! Title\n||a.example^\n", A),
        ("[Adblock Plus 2.0]\na.example\n", A),
        ("@@||a.example^\n", A),
        ("*.a.example\n*.b.example\n", W),
        ("address=/a.example/#\n", M),
        ("local=/a.example/\nserver=/b.example/\n", M),
        ("a.example\n=www.b.example\nkeyword: poker\n", C),
        ("||a.example^\n/regex/\n", C),
        ("! list\n||a.example^\n/regex/\n", A),
        ("##.ad-banner\n||a.example^\n/regex/\n", A),
        ("## My section\na.example\n=b.example\n", C),
        ("a.example/x\nb.example/y\n", U),
    ],
)
def test_sniff_format(content: str, fmt: ListFormat) -> None:
    assert sniff_format(content.encode()) == fmt


# Broken input.


def test_missing_and_folder_paths(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="no such file"):
        read_list(tmp_path / "missing.txt")
    with pytest.raises(RulesFileError, match="no such file"):
        read_list(tmp_path / "missing.txt", H)
    with pytest.raises(RulesFileError, match="it is a folder, not a file"):
        read_list(tmp_path, H)
    with pytest.raises(RulesFileError, match="it is a folder, not a file"):
        read_list(tmp_path, C)


def test_permission_denied(tmp_path: Path) -> None:
    """Tests run as root, which reads any file; dropping CAP_DAC_OVERRIDE makes chmod 000 bite."""
    path = write(tmp_path, "locked.txt", "0.0.0.0 a.example\n")
    path.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a chmod 000 file stays readable")
        drop = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}"]
    code = (
        "import sys; from pathlib import Path\n"
        "from rules.lists.formats import read_list\n"
        "from rules.syntax import RulesFileError, read_rules_file\n"
        "for read in (read_list, read_rules_file):\n"
        "    try:\n"
        "        read(Path(sys.argv[1]))\n"
        "    except RulesFileError as exc:\n"
        "        print(exc)\n"
    )
    result = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [f"cannot read {path}: permission denied"] * 2


def test_empty_file(tmp_path: Path) -> None:
    for fmt in ListFormat:
        if fmt is not U:
            entries = read_text(tmp_path, b"", fmt)
            assert entries.accepted == 0 and entries.rejected == [], fmt


def test_binary_file_is_refused_as_a_whole(tmp_path: Path) -> None:
    garbage = random.Random(7).randbytes(100_000)
    with pytest.raises(RulesFileError, match="binary data"):
        read_text(tmp_path, b"\x1f\x8b\x08\x00" + garbage, H)
    with pytest.raises(RulesFileError, match="binary data"):
        read_list_bytes("a.example\n".encode("utf-16"), D)


def test_garbage_text_is_rejected_line_by_line(tmp_path: Path) -> None:
    noise = bytes(b for b in random.Random(3).randbytes(50_000) if b not in (0, 10, 13))
    for fmt in (H, D, A, M):
        entries = read_text(tmp_path, noise + b"\n0.0.0.0 ok.example\nok.example\n", fmt)
        assert entries.rejected or sum(entries.skipped.values()), fmt
        assert all(len(r.text) <= 300 for r in entries.rejected)


def test_latin1_lines_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    content = "0.0.0.0 caf\xe9.example\n# r\xe9sum\xe9 in a comment\n0.0.0.0 ok.example\n"
    entries = read_text(tmp_path, content.encode("latin-1"), H)
    assert entries.domains == ["ok.example"]
    assert [(r.line, r.reason) for r in entries.rejected] == [(1, "not valid UTF-8 text")]
    assert entries.skipped["comment"] == 1


def test_megabyte_line_is_rejected_and_the_next_line_read(tmp_path: Path) -> None:
    content = b"0.0.0.0 first.example\n0.0.0.0 " + b"a" * 1_000_000 + b"\n0.0.0.0 after.example\n"
    for fmt in (H, D, A, M):
        entries = read_text(tmp_path, content, fmt)
        too_long = [r for r in entries.rejected if r.reason == "line is too long"]
        assert [r.line for r in too_long] == [2], fmt
        assert len(too_long[0].text) <= 300
    assert read_text(tmp_path, content, H).domains == ["first.example", "after.example"]


def test_line_without_any_newline_is_bounded(tmp_path: Path) -> None:
    entries = read_text(tmp_path, b"x" * 3_000_000, D)
    assert [(r.line, r.reason) for r in entries.rejected] == [(1, "line is too long")]


def test_line_numbers_across_blocks_and_line_ends(tmp_path: Path) -> None:
    lines = [f"0.0.0.0 host{i}.example" for i in range(20_000)]
    lines[15_000] = "0.0.0.0 bad..example"
    for newline in ("\n", "\r\n", "\r"):
        seen: list[int] = []
        path = write(tmp_path, "big.txt", newline.join(lines) + newline)
        entries = read_list(path, H, progress=seen.append)
        assert len(entries.domains) == 19_999, repr(newline)
        assert [r.line for r in entries.rejected] == [15_001], repr(newline)
        assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == path.stat().st_size


def test_invalid_and_pathological_regexes_in_expressions(tmp_path: Path) -> None:
    content = "(a+)+$\n[z-a]\n(?<=x)y\n" + "a" * 5000 + "\n"
    entries = read_list_bytes(content.encode(), U, name="expressions")
    assert entries.regexes == ["(a+)+$"]
    assert [r.reason for r in entries.rejected] == [
        "regex does not compile: invalid character class range: z-a",
        "regex does not compile: invalid perl operator: (?<=",
        "line is too long",
    ]
