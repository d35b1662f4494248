"""URLs and host names as they come off the network, taken apart for matching.

Every request passes through here, so the common cases take plain string methods and one regex;
only the unusual ones pay for `normalise_host`.
"""

from __future__ import annotations

import re

from rules.hostnames import InvalidHost, normalise_host

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_FAST_HOST = re.compile(r"(?:[a-z0-9_][a-z0-9_.-]*)?[a-z_]")
_AUTHORITY_END = re.compile(r"[/?#\\]")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")


def host_key(raw: str) -> str | None:
    """`normalise_host`, with a fast path for the common already-clean name; None if invalid."""
    host = raw.lower()
    if (
        raw.isascii()
        and len(host) <= 63
        and _FAST_HOST.fullmatch(host)
        and ".." not in host
        and ".-" not in host
        and "-." not in host
        and "0x" not in host  # `a.0x7f` ends in a (hex) number: an IPv4 spelling, or invalid
    ):
        return host
    try:
        return normalise_host(raw)
    except InvalidHost:
        # A bad host name from the network must never break a request.
        return None


def split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme, host, port, path and query) of a URL; the scheme defaults to https.

    Forgiving on purpose: `candor rules test example.com/path` has no scheme, and the proxy
    hands over well-formed URLs anyway. The fragment never reaches a server, so it is dropped.
    The path keeps its case; scheme and host are lower-cased. Written with plain string
    methods because it runs on every request.
    """
    if url.startswith("https://"):
        scheme, start = "https", 8
    elif url.startswith("http://"):
        scheme, start = "http", 7
    else:
        url = url.strip()
        sep = url.find("://")
        if sep > 0 and _SCHEME.fullmatch(url, 0, sep):
            scheme, start = url[:sep].lower(), sep + 3
        else:
            scheme, start = "https", 2 if url.startswith("//") else 0
    slash = url.find("/", start)
    authority = url[start:] if slash < 0 else url[start:slash]
    if "?" in authority or "#" in authority or "\\" in authority:
        end = _AUTHORITY_END.search(url, start)
        assert end is not None
        slash = end.start()
        authority = url[start:slash]
    if slash < 0:
        path = "/"
    else:
        path = url[slash:]
        if "#" in path:
            path = path[: path.find("#")]
        if not path.startswith("/"):
            path = "/" + path
    if "@" in authority:
        authority = authority[authority.rfind("@") + 1 :]
    port = ""
    if ":" in authority:
        if authority.startswith("["):
            close = authority.find("]")
            if close > 0:
                authority, port = authority[: close + 1], authority[close + 2 :]
        elif authority.count(":") == 1:
            authority, _, port = authority.partition(":")
    return scheme, authority.lower(), port, path


def join_url(scheme: str, host: str, port: str, path: str) -> str:
    """The URL regex rules search: `split_url`'s parts again, the port only when not the default."""
    if port and _DEFAULT_PORTS.get(scheme) != port:
        return f"{scheme}://{host}:{port}{path}"
    return f"{scheme}://{host}{path}"
