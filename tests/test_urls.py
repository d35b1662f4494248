"""URLs and host names off the network: taken apart the forgiving way, and the fast host path
never disagreeing with `normalise_host`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.hostnames import InvalidHost, normalise_host
from rules.urls import host_key, join_url, split_url

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
