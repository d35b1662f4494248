"""The host and URL a connection or request names, read cheaply and the same way everywhere.

Every intercepted request needs its host (to decide) and often its URL (to match paths and
keywords, and for the page's "continue" link). mitmproxy's `pretty_host` and `pretty_url` parse
the same headers again on every call; these read them once and cache the normalisation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mitmproxy import http

from rules.hostnames import InvalidHost, normalise_host

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_CACHED_NAME = 300
"""A host name is at most 253 characters (a port or brackets add a few)."""


def host_name(text: str) -> str:
    """A host as the matcher wants it; text that is not a valid host is only lower-cased.

    Every spelling of one address is one host here (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`
    are `127.0.0.1`), so decisions, the gate and the journal all name the address the rules do.
    Only names of a plausible length are cached: a page may send megabyte Host headers.
    """
    if len(text) > MAX_CACHED_NAME:
        return _normalised(text)
    return _cached_host_name(text)


def _normalised(text: str) -> str:
    try:
        return normalise_host(text)
    except InvalidHost:
        return text.strip().lower().rstrip(".")


_cached_host_name = lru_cache(maxsize=4096)(_normalised)


def request_host(request: http.Request) -> str:
    """The host the request names: its Host header (or HTTP/2 authority), else the target.

    Like mitmproxy's `pretty_host`, without re-parsing the same header on every request. A
    Host header may disagree with where the request goes: `request_names` gives every name, and
    the request filter decides on all of them.
    """
    authority = request.host_header
    if authority:
        if len(authority) > MAX_CACHED_NAME:
            return _authority_host_uncached(authority)
        return _authority_host(authority)
    return host_name(request.host)


def request_names(flow: http.HTTPFlow) -> list[str]:
    """Every name a request carries, normalised, without duplicates: the Host header first,
    then the target it is sent to (the CONNECT target or the absolute URL's host), then the TLS
    server name.

    The server may route by any of them, so a rule for any one of them applies: a Host header
    naming an allowed site cannot carry a request past the rules for the site it goes to.
    """
    names = [request_host(flow.request)]
    for raw in (flow.request.host, flow.client_conn.sni):
        if raw:
            name = host_name(str(raw))
            if name not in names:
                names.append(name)
    return names


def _authority_host_uncached(authority: str) -> str:
    if authority.startswith("["):
        host = authority[1 : authority.find("]")] if "]" in authority else authority
    elif authority.count(":") == 1:
        host = authority.partition(":")[0]
    else:
        host = authority
    return host_name(host)


def request_url(request: http.Request, host: str, path: str | None = None) -> str:
    """The URL the person asked for, as the matcher and the pages want it.

    The path is kept as sent (the pages link back to it); `Matcher.decide` reads it in one
    spelling (`rules.urls.normalise_path`), so `/%73ecret` meets the rule `/secret`.
    """
    if request.first_line_format == "authority":
        return f"{request.scheme}://{host}/"
    scheme = request.scheme
    port = request.port
    if path is None:
        path = request.path if request.path != "*" else "/"
    if port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{_bracketed(host)}{path}"
    return f"{scheme}://{_bracketed(host)}:{port}{path}"


_authority_host = lru_cache(maxsize=4096)(_authority_host_uncached)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def connection_names(sni: str | None, address: tuple[str, int] | Any) -> list[str]:
    """The SNI and the CONNECT target, normalised, without duplicates (SNI first)."""
    names: list[str] = []
    for raw in (sni, address[0] if address else None):
        if raw:
            name = host_name(str(raw))
            if name not in names:
                names.append(name)
    return names
