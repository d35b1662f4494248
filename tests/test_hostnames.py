"""Host normalisation: the one spelling every rule and request must agree on."""

from __future__ import annotations

import ipaddress
import re
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.hostnames import (
    LOCAL_NAMES,
    InvalidHost,
    display_host,
    is_ip_literal,
    normalise_host,
    parent_domains,
)
from rules.lists.entries import EntrySink, fast_host

HOST_RE = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)

label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
ascii_host = (
    st.lists(label, min_size=1, max_size=5)
    .map(".".join)
    # a name whose last label is a number is an IPv4 spelling (or invalid), as in browsers
    .filter(lambda h: not re.fullmatch(r"\d+|0x[0-9a-f]*", h.rpartition(".")[2]))
)
host_ish = st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=40)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("  www.example.com\t", "www.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.de", "xn--bcher-kva.de"),
        ("☃.net", "xn--n3h.net"),
        ("pornspare_com.imedia-stream.com", "pornspare_com.imedia-stream.com"),
        ("85.17.187.83", "85.17.187.83"),
        ("[::1]", "::1"),
        ("FE80::1", "fe80::1"),
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty host name"),
        ("a b.com", "character not allowed"),
        ("-x.com", "starts or ends with '-'"),
        ("x..com", "empty label"),
        ("a" * 64 + ".com", "longer than 63"),
        (("a" * 60 + ".") * 5 + "com", "longer than 253"),
        ("999.1.1.1", "not a valid IP address"),
        ("example.com:8080", "contains ':'"),
    ],
)
def test_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidHost, match=re.escape(reason)):
        normalise_host(raw)


def _normalised_or_none(text: str) -> str | None:
    try:
        return normalise_host(text)
    except InvalidHost:
        return None


def test_normalise_host_raises_only_invalid_host() -> None:
    with pytest.raises(InvalidHost):
        normalise_host("\x80")


def test_percent_escapes_in_a_name_are_decoded_once_as_browsers_do() -> None:
    assert normalise_host("%70ornhub.com") == "pornhub.com"
    assert normalise_host("%50ORNHUB.com.") == "pornhub.com"
    assert normalise_host("a%2Eb.test") == "a.b.test"
    assert normalise_host("%e2%98%83.net") == "xn--n3h.net"
    with pytest.raises(InvalidHost, match="not UTF-8"):
        normalise_host("%ff.com")
    with pytest.raises(InvalidHost):
        normalise_host("%2570ornhub.com")  # decoded once: a '%' is left, not a host name
    assert normalise_host("fe80::1%lo0") == "fe80::1%lo0"  # an address's zone is not an escape


def test_normalise_host_turns_encoding_failures_into_invalid_host() -> None:
    with pytest.raises(InvalidHost, match="international"):
        normalise_host("\x80")


@settings(deadline=None)
@given(st.text(max_size=60))
@example("Example.COM.")
@example("ß.de")
@example("a\u3002b")
@example("fe80::1%LO0")
def test_normalise_is_idempotent(text: str) -> None:
    once = _normalised_or_none(text)
    if once is not None:
        assert normalise_host(once) == once


@settings(deadline=None)
@given(st.text(max_size=60))
def test_output_is_a_host_or_an_address(text: str) -> None:
    host = _normalised_or_none(text)
    if host is not None:
        assert HOST_RE.fullmatch(host) or is_ip_literal(host)
        assert host == host.strip().lower()
        assert not host.endswith(".")


@settings(deadline=None)
@given(ascii_host)
def test_case_and_trailing_dot_do_not_matter(host: str) -> None:
    expected = normalise_host(host)
    assert normalise_host(host.upper()) == expected
    assert normalise_host(host + ".") == expected
    assert normalise_host(host.title() + ".") == expected


@settings(deadline=None)
@given(host_ish)
@example("0.0.0.0.beeglivesex.com")
@example("1.2.3.4")
@example("localhost.localdomain")
@example("x.y1")
def test_fast_path_never_disagrees_with_normalise_host(name: str) -> None:
    """The import fast path may only accept what the full normaliser returns unchanged."""
    if fast_host(name) is not None:
        assert normalise_host(name) == name
        assert not is_ip_literal(name)
        assert name not in LOCAL_NAMES
        assert EntrySink("t").classify(name) == ("name", name)


def test_classify_sorts_names_addresses_and_junk() -> None:
    sink = EntrySink("t")
    assert sink.classify("Example.com.") == ("name", "example.com")
    assert sink.classify("85.17.187.83") == ("address", "85.17.187.83")
    for junk in ("0.0.0.0", "127.0.0.1", "::1", "fe80::1%lo0", "255.255.255.255", "localhost"):
        assert sink.classify(junk)[0] == "junk", junk
    with pytest.raises(InvalidHost, match="glued"):
        sink.classify("0.0.0.0.beeglivesex.com")
    with pytest.raises(InvalidHost, match="glued"):
        sink.classify("127.0.0.1.example.com")
    assert sink.classify("10.0.0.1.nip.io") == ("name", "10.0.0.1.nip.io")


def test_is_ip_literal() -> None:
    assert is_ip_literal("1.2.3.4")
    assert is_ip_literal("[2001:db8::1]")
    assert not is_ip_literal("1.2.3")
    assert not is_ip_literal("example.com")
    assert str(ipaddress.ip_address("::1")) == normalise_host("0:0::1")


def test_parent_domains_and_display() -> None:
    assert parent_domains("a.b.example.com") == [
        "a.b.example.com",
        "b.example.com",
        "example.com",
        "com",
    ]
    assert display_host("xn--bcher-kva.de") == "bücher.de"
    assert display_host("example.com") == "example.com"


# --- the IPv4 spellings browsers accept (WHATWG URL standard) -------------------------------

IP_SPELLINGS = [
    "2130706434",
    "0x7f000002",
    "0X7F000002",
    "127.2",
    "127.0.2",
    "0177.0.0.2",
    "127.000.000.002",
    "0x7f.0.0.0x2",
    "127.0.0.2.",
    "[::ffff:127.0.0.2]",
    "::ffff:7f00:2",
]


@pytest.mark.parametrize("spelling", IP_SPELLINGS)
def test_every_spelling_of_an_ipv4_address_is_one_address(spelling: str) -> None:
    assert normalise_host(spelling) == "127.0.0.2"


@pytest.mark.parametrize(
    "name", ["example.123", "1.2.3.4.5", "256.0.0.1", "4294967296", "a.0x1", "09.1.1.1", "1..2"]
)
def test_a_name_ending_in_a_number_is_an_address_or_invalid(name: str) -> None:
    with pytest.raises(InvalidHost, match="not a valid IP address"):
        normalise_host(name)


def test_names_that_only_look_numeric_stay_names() -> None:
    assert normalise_host("0x7f.example") == "0x7f.example"
    assert normalise_host("a.0x1g") == "a.0x1g"
    assert normalise_host("10.0.0.1.nip.io") == "10.0.0.1.nip.io"
    assert normalise_host("::ffff:0:1:2") == "::ffff:0:1:2"  # not IPv4-mapped: stays IPv6
