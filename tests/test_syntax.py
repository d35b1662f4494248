"""The person's own rule files: every form in DESIGN.md, every way a line can be wrong."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.model import Rule, RuleKind
from rules.syntax import (
    RulesFileError,
    RuleSyntaxError,
    format_rule,
    parse_rule,
    parse_rules_text,
    read_rules_file,
    regex_error,
)

D, E, P, R, K = RuleKind.DOMAIN, RuleKind.EXACT, RuleKind.PATH, RuleKind.REGEX, RuleKind.KEYWORD


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("example.com", Rule(D, "example.com")),
        ("  Example.COM.  ", Rule(D, "example.com")),
        ("=www.example.com", Rule(E, "www.example.com")),
        ("example.com/path", Rule(P, "example.com/path")),
        ("example.com/Watch/ABC?v=1", Rule(P, "example.com/watch/abc?v=1")),  # paths ignore case
        ("example.com/page#section", Rule(P, "example.com/page")),
        ("example.com/", Rule(D, "example.com")),
        ("example.com/#", Rule(D, "example.com")),
        ("||example.com^", Rule(D, "example.com")),
        ("||example.com", Rule(D, "example.com")),
        ("||example.com^|", Rule(D, "example.com")),
        ("||example.com/ads", Rule(P, "example.com/ads")),
        ("||example.com^$important", Rule(D, "example.com", important=True)),
        ("@@||example.com^", Rule(D, "example.com", exception=True)),
        ("@@example.com", Rule(D, "example.com", exception=True)),
        ("@@=www.example.com", Rule(E, "www.example.com", exception=True)),
        ("example.com $important", Rule(D, "example.com", important=True)),
        ("@@example.com $important", Rule(D, "example.com", exception=True, important=True)),
        ("/porn[0-9]+/", Rule(R, "porn[0-9]+")),
        ("/a/b#c/", Rule(R, "a/b#c")),
        ("@@/safe/", Rule(R, "safe", exception=True)),
        ("keyword: Sex", Rule(K, "sex")),
        ("KEYWORD:casino", Rule(K, "casino")),
        ("keyword: порно", Rule(K, "порно")),
        ("https://www.Example.com/some/Page?x=1#top", Rule(P, "www.example.com/some/page?x=1")),
        ("http://user:pw@example.com:8080/", Rule(D, "example.com")),
        ("https://example.com", Rule(D, "example.com")),
        ("example.com?q=1", Rule(P, "example.com/?q=1")),
        ("*.example.com", Rule(D, "example.com")),
        ("bücher.de", Rule(D, "xn--bcher-kva.de")),
        ("bücher.de/Straße", Rule(P, "xn--bcher-kva.de/stra%C3%9Fe")),  # as a browser sends it
        ("85.17.187.83", Rule(E, "85.17.187.83")),
        ("178.128.25.172/watch", Rule(P, "178.128.25.172/watch")),
        ("example.com # a comment", Rule(D, "example.com")),
        ("example.com\t#tab comment", Rule(D, "example.com")),
        ("/x/ # comment after a regex", Rule(R, "x")),
    ],
)
def test_forms(line: str, expected: Rule) -> None:
    rule = parse_rule(line)
    assert rule == expected
    assert (rule.kind, rule.value, rule.exception, rule.important) == (
        expected.kind,
        expected.value,
        expected.exception,
        expected.important,
    )


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "   # indented", "! adblock comment"])
def test_blank_and_comment_lines(line: str) -> None:
    assert parse_rule(line) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x" * 5000, "line is too long"),
        ("exam\ufffdple.com", "not valid UTF-8 text"),
        ("/a(b/", "regex does not compile: missing )"),
        ("/(?<=x)y/", "regex does not compile: invalid perl operator: (?<="),
        ("/abc", "a regex starts and ends with '/'"),
        ("//", "empty regex"),
        ("keyword: free-sex", "one word of letters and digits; found '-'"),
        ("keyword: two words", "found ' '"),
        ("keyword:", "needs a word"),
        ("example.com $third-party", "the option $third-party is not supported"),
        ("||example.com^$domain=a.com", "the option $domain is not supported"),
        ("||*.example.com^", "wildcards"),
        ("||ex*ample.com^", "wildcards"),
        ("||^", "no host name after '||'"),
        ("example.com##.banner", "element-hiding"),
        ("example.com#@#.banner", "element-hiding"),
        ("=www.example.com/path", "host only"),
        ("=", "empty host name"),
        ("@@", "empty rule"),
        ("exa mple.com", "character not allowed in a host name: ' '"),
        ("-bad.example.com", "starts or ends with '-'"),
        ("example.com/a b", "cannot contain spaces"),
        ("http://", "empty host name"),
        ("x..com", "empty label"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(line)
    assert reason in str(info.value)


def test_comment_needs_whitespace_before_hash_in_a_regex() -> None:
    """Documented rule: ` #` starts a comment even inside a regex; `\\x20#` keeps it."""
    with pytest.raises(RuleSyntaxError, match="starts and ends"):
        parse_rule("/a #b/")
    assert parse_rule(r"/a\x20#b/") == Rule(R, r"a\x20#b")


def test_pathological_regex_is_accepted_and_runs_in_linear_time() -> None:
    rule = parse_rule("/(a+)+$/")
    assert rule == Rule(R, "(a+)+$")
    # A backtracking engine takes exponential time to fail here; RE2 finishes in linear time.
    assert re2.search(rule.value, "a" * 100_000 + "!") is None
    assert re2.search(rule.value, "a" * 100_000) is not None


def test_regex_error_is_none_for_good_patterns() -> None:
    assert regex_error(r"(^|[-\?+=/_])(sex|xxx)s?([-\.\?+=/_]|$)") is None
    assert regex_error("a**") == "bad repetition operator: **"


def test_source_and_format_rule() -> None:
    rule = parse_rule("  ||Example.com^$important  ", source="adult.txt:3")
    assert rule is not None
    assert rule.source == "adult.txt:3"
    assert format_rule(rule) == "example.com $important"
    assert parse_rule(format_rule(rule)) == rule


# Round trip: the canonical text of any parsed rule parses back to the same rule.

_label = st.from_regex(r"[a-z0-9](?:[a-z0-9_-]{0,8}[a-z0-9])?", fullmatch=True)
_name = st.lists(_label, min_size=1, max_size=4).map(".".join).filter(lambda h: h[-1].isalpha())
_ip = (
    st.ip_addresses()
    .filter(lambda a: a.version == 4 or a.ipv4_mapped is None)  # those are IPv4 (item 15)
    .map(str)
)
_path = st.text(alphabet=string.ascii_letters + string.digits + "/-_.~%?=&+:@$!", min_size=1).map(
    lambda p: "/" + p
)
_regex = st.text(alphabet=string.ascii_letters + string.digits + "/.*+?()[]|^$\\-# ", min_size=1)
_regex = _regex.filter(lambda p: regex_error(p) is None and " #" not in p)
_word = st.text(alphabet=string.ascii_lowercase + string.digits + "éøßж", min_size=1, max_size=12)
_rules = st.one_of(
    st.builds(Rule, st.just(D), _name),
    st.builds(Rule, st.just(E), st.one_of(_name, _ip)),
    st.builds(Rule, st.just(P), st.builds(lambda h, p: h + p, st.one_of(_name, _ip), _path)),
    st.builds(Rule, st.just(R), _regex),
    st.builds(Rule, st.just(K), _word),
)


@settings(deadline=None)
@given(_rules, st.booleans(), st.booleans())
def test_round_trip(rule: Rule, exception: bool, important: bool) -> None:
    parsed = parse_rule(Rule(rule.kind, rule.value, exception, important).text)
    assert parsed is not None
    assert parse_rule(parsed.text) == parsed
    if rule.kind is not P:  # a path is normalised (`test_path_spellings_are_one_rule`)
        assert parsed == Rule(rule.kind, rule.value, exception, important)


# Whole files.


def test_parse_rules_text_keeps_going_and_counts() -> None:
    text = "\ufeff# my rules\r\nexample.com\r\n\r\nbad rule here\r\nEXAMPLE.com.\r\n"
    text += "keyword: sex\n=a.b"
    parsed = parse_rules_text(text, "adult.txt")
    assert [r.text for r in parsed.rules] == ["example.com", "keyword: sex", "=a.b"]
    assert [r.source for r in parsed.rules] == ["adult.txt:2", "adult.txt:6", "adult.txt:7"]
    assert parsed.skipped == {"comment": 1, "duplicate": 1}
    [bad] = parsed.rejected
    assert (bad.file, bad.line, bad.text) == ("adult.txt", 4, "bad rule here")
    assert "character not allowed" in bad.reason
    assert str(bad).startswith("adult.txt:4: ")


def test_moving_a_line_keeps_identity() -> None:
    a = parse_rules_text("a.com\nb.com\n", "f").rules
    b = parse_rules_text("b.com\n# moved\na.com\n", "f").rules
    assert set(a) == set(b)


def test_read_rules_file_handles_encodings_and_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "adult.txt"
    path.write_bytes(b"\xef\xbb\xbfexample.com\rcaf\xe9.com\r\n=www.b\xc3\xbccher.de\n")
    parsed = read_rules_file(path, "adult.txt")
    assert [r.text for r in parsed.rules] == ["example.com", "=www.xn--bcher-kva.de"]
    [bad] = parsed.rejected
    assert (bad.line, bad.reason) == (2, "not valid UTF-8 text")


def test_read_rules_file_survives_garbage_and_huge_lines(tmp_path: Path) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(bytes(range(256)) * 4 + b"\n" + b"a" * 1_000_000 + b"\nok.example\n")
    parsed = read_rules_file(path)
    assert [r.text for r in parsed.rules] == ["ok.example"]
    assert any(r.reason == "line is too long" for r in parsed.rejected)
    assert all(len(r.text) <= 300 for r in parsed.rejected)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    parsed = read_rules_file(path)
    assert (parsed.rules, parsed.rejected, sum(parsed.skipped.values())) == ([], [], 0)


def test_unreadable_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match=r"cannot read .*missing\.txt: no such file"):
        read_rules_file(tmp_path / "missing.txt")
    with pytest.raises(RulesFileError, match="it is a folder, not a file"):
        read_rules_file(tmp_path)
    with pytest.raises(RulesFileError, match=r"cannot read mine\.txt"):
        read_rules_file(tmp_path / "nope", display_name="mine.txt")
    assert issubclass(RulesFileError, OSError)


# Path spellings (issue 12, item 15): one rule however it is written.


@pytest.mark.parametrize(
    "line",
    [
        "example.com/secret",
        "example.com/SECRET",
        "example.com//secret",
        "example.com/%73ecret",
        "example.com/./secret",
        "https://EXAMPLE.com/a/../Secret#top",
        "||example.com/Secret^",
    ],
)
def test_path_spellings_are_one_rule(line: str) -> None:
    assert parse_rule(line) == Rule(P, "example.com/secret")


def test_match_case_keeps_the_case_of_one_path_rule() -> None:
    rule = parse_rule("example.com//%53ecret $match-case")
    assert rule == Rule(P, "example.com/Secret", match_case=True)
    assert rule.text == "example.com/Secret $match-case"
    assert rule != parse_rule("example.com/Secret")
    both = parse_rule("||example.com/Secret$important,match-case")
    assert both is not None and both.text == "example.com/Secret $important,match-case"
    assert parse_rule(both.text) == both


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("example.com $match-case", "path rules only"),
        ("keyword: casino $match-case", "path rules only"),
        ("/Casino[0-9]/ $match-case", "(?-i)"),
        ("example.com/x $third-party", "only $important and $match-case"),
    ],
)
def test_match_case_is_refused_where_it_means_nothing(line: str, reason: str) -> None:
    with pytest.raises(RuleSyntaxError, match=re.escape(reason)):
        parse_rule(line)


def test_a_path_that_normalises_to_the_root_is_the_whole_site() -> None:
    assert parse_rule("example.com/./") == Rule(D, "example.com")
    assert parse_rule("example.com/a/..") == Rule(D, "example.com")


@pytest.mark.parametrize(
    "line", ["2130706434", "=0x7f000002", "127.2", "0177.0.0.2", "[::ffff:127.0.0.2]"]
)
def test_address_spellings_are_one_exact_rule(line: str) -> None:
    assert parse_rule(line) == Rule(E, "127.0.0.2")
