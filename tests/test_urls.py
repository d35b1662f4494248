"""URLs and host names off the network: taken apart the forgiving way, and the fast host path
never disagreeing with `normalise_host`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.hostnames import InvalidHost, normalise_host
from rules.urls import fold_path, host_key, join_url, normalise_path, path_key, split_url

_label = st.text(alphabet="abyz09-_", min_size=1, max_size=5)
_host = st.lists(_label, min_size=1, max_size=4).map(".".join)


def test_split_url() -> None:
    assert split_url("https://Ex.COM:8443/P/a?Q=1#frag") == ("https", "ex.com", "8443", "/P/a?Q=1")
    assert split_url("ex.com") == ("https", "ex.com", "", "/")
    assert split_url("ex.com?q") == ("https", "ex.com", "", "/?q")
    assert split_url("http://[::1]:80/x") == ("http", "[::1]", "80", "/x")
    assert split_url("http://u@h.test/") == ("http", "h.test", "", "/")


def test_join_url_names_the_port_only_when_it_is_not_the_default() -> None:
    assert join_url("https", "ex.com", "443", "/p") == "https://ex.com/p"
    assert join_url("https", "ex.com", "8443", "/p") == "https://ex.com:8443/p"
    assert join_url("http", "ex.com", "", "/") == "http://ex.com/"
    assert join_url("ftp", "ex.com", "21", "/") == "ftp://ex.com:21/"


@settings(max_examples=500)
@given(st.text(alphabet="aAzZ09-_.:[]é \t", max_size=20) | _host)
def test_property_fast_host_path_agrees_with_normalise_host(text: str) -> None:
    try:
        expected: str | None = normalise_host(text)
    except (InvalidHost, AttributeError):  # AttributeError: see host_key
        expected = None
    assert host_key(text) == expected


# --- path spellings (issue 12, item 15) ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("//secret", "/secret"),
        ("/%73ecret", "/secret"),
        ("/./secret", "/secret"),
        ("/a/../secret", "/secret"),
        ("/../secret", "/secret"),  # never above the root
        ("/%2e/secret", "/secret"),  # an escaped dot is a dot segment too
        ("/%2E%2e/secret", "/secret"),
        ("///a//b/./c/", "/a/b/c/"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/%7e%41", "/~A"),  # unreserved escapes decoded, case kept
        ("/a%2fb", "/a%2Fb"),  # a reserved escape stays encoded, in upper case
        ("/%25%37%33", "/%2573"),  # decoded once only
        ("/café", "/caf%C3%A9"),  # non-ASCII as a browser sends it
        ("/x/..?q=a/../b//c", "/?q=a/../b//c"),  # the query is not a path
        ("/s%65cret?x=%41", "/secret?x=A"),
        ("/.well-known/x", "/.well-known/x"),
    ],
)
def test_normalise_path(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


def test_a_clean_path_takes_the_fast_path_unchanged() -> None:
    path = "/watch?v=Abc-123_x.y~z"
    assert normalise_path(path) is path


def test_case_folding_keeps_escapes_upper_case() -> None:
    assert fold_path("/SECRET/Caf%C3%A9") == "/secret/caf%C3%A9"
    assert path_key("/%53ECRET") == "/secret"
    assert path_key("/%53ECRET", match_case=True) == "/SECRET"


def test_a_slash_and_an_escaped_slash_stay_distinct() -> None:
    assert path_key("/a%2Fsecret") != path_key("/a/secret")
    assert not path_key("/a%2Fsecret").startswith("/a/secret")


_path_text = st.text(alphabet="aZ09/.%2eEfF?~-_é", max_size=24).map(lambda p: "/" + p)


@settings(max_examples=500)
@given(_path_text, st.booleans())
def test_property_path_key_is_idempotent(path: str, match_case: bool) -> None:
    """A stored key read back (a list's cache, a rule's text) keys to itself."""
    key = path_key(path, match_case)
    assert path_key(key, match_case) == key
    assert key.startswith("/")
    assert "//" not in key.partition("?")[0]
