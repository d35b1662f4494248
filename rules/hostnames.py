"""One spelling per host name, so a rule and a request meet on the same string.

Lists and requests write the same host in many ways (`Example.COM.`, Unicode or punycode,
`%70ornhub.com`, stray tabs). Everything that compares hosts goes through `normalise_host` first.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

import idna

MAX_HOST_LENGTH = 253

LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)
"""Names that hosts files carry as header junk; never a block target."""

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_RE = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdef")


class InvalidHost(ValueError):
    """A string that cannot be a host name; the message says why in plain words."""


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address (brackets allowed), in the strict dotted or colon form.

    Run `normalise_host` first to also accept the other spellings browsers take (`2130706434`,
    `0x7f.1`, `0177.0.0.1`): it turns them into this form.
    """
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def normalise_host(text: str) -> str:
    """Return the canonical form of a host name: lower case, no trailing dot, punycode.

    `%xx` escapes in a name are decoded once, as browsers do (`%70ornhub.com` is `pornhub.com`).
    IP literals are returned in their canonical form too, read as browsers read them (the WHATWG
    URL standard): a name whose last label is a number is an IPv4 address (`2130706434`,
    `0x7f000001`, `127.1`, `0177.0.0.1` are all `127.0.0.1`) or invalid, and an IPv4-mapped IPv6
    address (`::ffff:127.0.0.1`) is its IPv4 address. Raises `InvalidHost` with a short reason for
    anything else that is not a host name.
    """
    host = text.strip()
    if "%" in host and ":" not in host:
        host = _percent_decoded(host)
    if not host:
        raise InvalidHost("empty host name")
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        host = _to_punycode(host)
    host = host.lower()
    if host.startswith("[") or ":" in host:
        if is_ip_literal(host):
            address = ipaddress.ip_address(host.strip("[]"))
            mapped = getattr(address, "ipv4_mapped", None)
            return str(mapped or address)
        raise InvalidHost("not a host name (contains ':')")
    if ends_in_number(host):
        return ipv4_address(host)
    if len(host) > MAX_HOST_LENGTH:
        raise InvalidHost(f"host name longer than {MAX_HOST_LENGTH} characters")
    if not _HOST_RE.fullmatch(host):
        raise InvalidHost(_why_bad(host))
    return host


def ends_in_number(host: str) -> bool:
    """True when a browser would read `host` as an IPv4 address: its last label is a number.

    The WHATWG URL standard's "ends in a number" check: all digits, or `0x` and hex digits.
    """
    last = host.rpartition(".")[2]
    if not last:
        return False
    if _DIGITS.issuperset(last):
        return True
    return last[:2] in ("0x", "0X") and _HEX_DIGITS.issuperset(last[2:].lower())


def ipv4_address(host: str) -> str:
    """The dotted-quad form of an IPv4 address in any spelling browsers accept.

    The WHATWG URL standard's IPv4 parser: one to four parts, each decimal, hex (`0x`) or octal
    (a leading `0`); the last part fills the bytes left (`127.1` is `127.0.0.1`, `2130706433`
    is too). Raises `InvalidHost` for a name that ends in a number but is no such address.
    """
    parts = host.split(".")
    if len(parts) > 4:
        raise InvalidHost("not a valid IP address (more than four parts)")
    numbers = [_ipv4_number(part) for part in parts]
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        raise InvalidHost("not a valid IP address (a part is too large)")
    value = last
    for i, n in enumerate(numbers):
        value += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def _ipv4_number(part: str) -> int:
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        if radix == 10:
            raise InvalidHost("not a valid IP address (an empty part)")
        return 0
    if len(part) > 12 or not part.isascii() or not part.isalnum():
        raise InvalidHost("not a valid IP address")
    try:
        return int(part, radix)
    except ValueError:
        raise InvalidHost("not a valid IP address") from None


def _percent_decoded(host: str) -> str:
    """The name with its `%xx` escapes decoded as UTF-8 (WHATWG URL host parsing)."""
    try:
        return unquote(host, errors="strict")
    except UnicodeDecodeError:
        raise InvalidHost("a %-escape that is not UTF-8") from None


def _to_punycode(host: str) -> str:
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        pass
    try:
        # IDNA 2003 accepts some names (symbols, emoji) that IDNA 2008 refuses but browsers use.
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        raise InvalidHost(f"not a valid international name ({reason})") from None


def _why_bad(host: str) -> str:
    if ".." in host or host.startswith("."):
        return "empty label (two dots in a row)"
    for label in host.split("."):
        if len(label) > 63:
            return "a label is longer than 63 characters"
        if label.startswith("-") or label.endswith("-"):
            return "a label starts or ends with '-'"
    bad = sorted({c for c in host if not (c.isalnum() or c in "-_.")})
    if bad:
        return "character not allowed in a host name: " + " ".join(repr(c) for c in bad[:5])
    return "not a valid host name"


def parent_domains(host: str) -> list[str]:
    """The host and each parent down to the last label: `a.b.c` -> [`a.b.c`, `b.c`, `c`]."""
    out = [host]
    i = host.find(".")
    while i != -1:
        host = host[i + 1 :]
        out.append(host)
        i = host.find(".")
    return out


def display_host(host: str) -> str:
    """The Unicode form of a punycode host, for people; the host itself if it cannot convert."""
    if "xn--" not in host:
        return host
    try:
        return idna.decode(host)
    except (idna.IDNAError, UnicodeError):
        return host
