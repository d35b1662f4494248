"""URLs and host names as they come off the network, taken apart for matching.

Every request passes through here, so the common cases take plain string methods and one regex;
only the unusual ones pay for `normalise_host` or the slow half of `normalise_path`.
"""

from __future__ import annotations

import re
import string
from urllib.parse import quote_from_bytes

from rules.hostnames import InvalidHost, normalise_host

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_FAST_HOST = re.compile(r"(?:[a-z0-9_][a-z0-9_.-]*)?[a-z_]")
_AUTHORITY_END = re.compile(r"[/?#\\]")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPED: dict[str, str] = {
    f"{a}{b}": (c if (c := chr(int(a + b, 16))) in _UNRESERVED else f"%{a}{b}".upper())
    for a in string.hexdigits
    for b in string.hexdigits
}
"""The two hex digits after a `%` -> what the escape is written as: the character if unreserved,
else the escape with upper-case digits. Looked up per escape: 2-3 times faster than a regex."""
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SLASHES = re.compile(r"//+")


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


def normalise_path(path: str) -> str:
    """One spelling per path and query, so `/%73ecret`, `//secret` and `/./secret` are `/secret`.

    Servers read these spellings as one path, so a path rule must too. RFC 3986 section 6.2.2:
    `%xx` escapes of unreserved characters (letters, digits, `-._~`) are decoded, once; the others
    (`%2F` among them) stay encoded, with upper-case hex digits; non-ASCII characters are
    percent-encoded as UTF-8, as browsers send them. In the path (not the query) repeated
    slashes become one and `.` and `..` segments are removed. The case is kept: see `fold_path`.
    `path` starts with `/`. Runs on every request, so the usual clean path costs four scans.
    """
    if "%" not in path and "//" not in path and "/." not in path and path.isascii():
        return path
    if not path.isascii():
        path = _NON_ASCII.sub(_utf8_escapes, path)
    if "%" in path:
        path = _escapes_normalised(path)
    path, mark, query = path.partition("?")
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "/." in path:
        path = _without_dot_segments(path)
    return path + mark + query


def fold_path(path: str) -> str:
    """The form a case-insensitive path rule and a request path are compared in (ASCII lower case).

    Path rules ignore case unless marked `$match-case`: many sites answer `/SECRET` as `/secret`.
    `%xx` escapes keep their upper-case hex digits, as `normalise_path` writes them.
    """
    folded = path.lower()
    if "%" not in folded:
        return folded
    first, *rest = folded.split("%")
    return first + "".join(
        f"%{part[:2].upper()}{part[2:]}" if part[:2] in _ESCAPED else f"%{part}" for part in rest
    )


def path_key(path: str, match_case: bool = False) -> str:
    """A rule's path prefix as the matcher compares it: normalised, and folded unless
    `match_case`. Idempotent, so a stored key can be read back and keyed again."""
    path = normalise_path(path)
    return path if match_case else fold_path(path)


def _utf8_escapes(match: re.Match[str]) -> str:
    return quote_from_bytes(match.group().encode("utf-8", "surrogateescape"), safe="")


def _escapes_normalised(path: str) -> str:
    first, *rest = path.split("%")
    out = [first]
    for part in rest:
        written = _ESCAPED.get(part[:2])
        if written is None:
            out.append("%" + part)  # a lone `%`: not an escape, kept as it is
        else:
            out.append(written + part[2:])
    return "".join(out)


def _without_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 on a path without empty segments: `.` goes, `..` drops the one
    before (never above the root), and a last `.` or `..` leaves the trailing slash."""
    segments = path.split("/")
    out: list[str] = []
    last = len(segments) - 1
    for i, segment in enumerate(segments[1:], 1):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
            continue
        if i == last:
            out.append("")
    return "/" + "/".join(out)
