"""Candor's nftables table on Linux (`table inet candor`): the one place its text is written.

Every user's outbound TCP 80 and 443 is redirected to Candor's transparent listener, except
Candor's own connections (by the sending user, `meta skuid`), loopback and the LAN ranges the
person lists; QUIC (UDP 443) and DNS-over-TLS (TCP and UDP 853) are refused, so browsers fall
back to TCP and resolvers to plain DNS; DNS (UDP and TCP 53) can be redirected to Candor's DNS
listener. The text is rendered exactly as `nft list table inet candor` prints it back, so the
self-check can compare what the kernel holds with what was installed, by content hash.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

TABLE = "candor"
FAMILY = "inet"
"""`inet`: one table for IPv4 and IPv6."""
CAPTURED_PORTS = (80, 443)
DNS_OVER_TLS_PORT = 853
NAT_PRIORITY = -100
"""The `nat` output hook's usual priority (nft calls it `dstnat` only for prerouting)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RulesetError(ValueError):
    """A parameter the table cannot be rendered from; the message names it."""


@dataclass(frozen=True, slots=True)
class Capture:
    """What the table needs to know: whose traffic is Candor's, and where to send the rest."""

    candor_uid: int
    """Connections of this user (Candor's own) are never redirected or refused."""
    transparent_port: int
    """Candor's transparent listener, on 127.0.0.1 and ::1 (where `redirect` sends)."""
    dns_port: int | None = None
    """Candor's DNS listener, if DNS is redirected to it."""
    lan: Sequence[str] = ()
    """Address ranges (CIDR) left alone, like the printer's or the NAS's network."""
    exempt_uids: Sequence[int] = ()
    """Other users left alone like Candor's, such as systemd-resolved's (`candor install
    --system`): a local stub resolver whose upstream lookups must not come back to it."""


def render(capture: Capture) -> str:
    """The table's text, for `nft -f`: deterministic, and as `nft list table` shows it."""
    _check(capture)
    lan = _collapsed(capture.lan)
    own = f"meta skuid {_set(sorted({capture.candor_uid, *capture.exempt_uids}))} return"
    loopback = ["ip daddr 127.0.0.0/8 return", "ip6 daddr ::1 return"]
    capture_rules = [own, *loopback]
    if capture.dns_port is not None:
        capture_rules.append(
            f"meta l4proto {{ tcp, udp }} th dport 53 redirect to :{capture.dns_port}"
        )
    capture_rules += _lan_rules(lan)
    capture_rules.append(
        f"tcp dport {_set(CAPTURED_PORTS)} redirect to :{capture.transparent_port}"
    )
    refuse_rules = [
        own,
        *loopback,
        "udp dport 443 reject",
        f"tcp dport {DNS_OVER_TLS_PORT} reject with tcp reset",
        f"udp dport {DNS_OVER_TLS_PORT} reject",
    ]
    chains = [
        _chain(
            "capture",
            f"type nat hook output priority {NAT_PRIORITY}; policy accept;",
            capture_rules,
        ),
        _chain("refuse", "type filter hook output priority filter; policy accept;", refuse_rules),
    ]
    return f"table {FAMILY} {TABLE} {{\n" + "\n".join(chains) + "}\n"


def redirect_ports(text: str) -> tuple[int | None, int | None]:
    """The ports a table's text sends captured connections and DNS lookups to (None where it
    sends none): what the agent checks against its own listeners."""
    transparent = dns = None
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[-3:-1] != ["redirect", "to"] or not words[-1][1:].isdigit():
            continue
        port = int(words[-1][1:])
        if "53" in words and "dport" in words:
            dns = port
        else:
            transparent = port
    return transparent, dns


def ruleset_hash(text: str) -> str:
    """The SHA-256 of a table's text: whether the table in the kernel is the one installed."""
    return hashlib.sha256(text.encode()).hexdigest()


def delete_command() -> str:
    """What takes the table out again, for `nft -f` (used by uninstall and by tests)."""
    return f"delete table {FAMILY} {TABLE}\n"


LIST_COMMAND = ("nft", "list", "table", FAMILY, TABLE)
"""Prints the table as the kernel holds it (the text `render` writes, when unchanged)."""
MONITOR_COMMAND = ("nft", "monitor")
"""Prints a line for every change to any table: the self-check's trigger (`nft monitor`)."""


def listed_table(timeout: float = 10.0) -> str | None:
    """The table as the kernel holds it now, or None when there is none; OSError when `nft`
    cannot be run or answers with another error (no permission, say)."""
    done = subprocess.run(LIST_COMMAND, capture_output=True, text=True, timeout=timeout)
    if done.returncode == 0:
        return done.stdout
    if "No such file or directory" in done.stderr:
        return None
    raise OSError(f"`{' '.join(LIST_COMMAND)}` failed: {done.stderr.strip()}")


def _check(capture: Capture) -> None:
    if not 0 <= capture.candor_uid < 2**32 - 1:
        raise RulesetError(f"Candor's user id must be a user id (found {capture.candor_uid})")
    for uid in capture.exempt_uids:
        if not 0 <= uid < 2**32 - 1:
            raise RulesetError(f"an exempt user id must be a user id (found {uid})")
    for name, port in (("transparent", capture.transparent_port), ("DNS", capture.dns_port)):
        if port is not None and not 0 < port < 65536:
            raise RulesetError(f"the {name} port must be between 1 and 65535 (found {port})")
    for text in capture.lan:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise RulesetError(
                f'a LAN range must look like "192.168.1.0/24" (found {text!r})'
            ) from None


def _lan_rules(lan: list[Network]) -> list[str]:
    rules = []
    for version, selector in ((4, "ip"), (6, "ip6")):
        ranges = [_element(net) for net in lan if net.version == version]
        if ranges:
            rules.append(f"{selector} daddr {_set(ranges)} return")
    return rules


def _set(items: Sequence[object]) -> str:
    """One item bare, more in braces: nft prints an anonymous set of one as its element."""
    if len(items) == 1:
        return str(items[0])
    return "{ " + ", ".join(map(str, items)) + " }"


def _chain(name: str, hook: str, rules: list[str]) -> str:
    body = "".join(f"\t\t{rule}\n" for rule in [hook, *rules])
    return f"\tchain {name} {{\n{body}\t}}\n"


def _collapsed(texts: Sequence[str]) -> list[Network]:
    """The ranges, overlaps merged (nft refuses overlapping intervals in one set), in order."""
    networks = [ipaddress.ip_network(text, strict=False) for text in texts]
    merged: list[Network] = []
    for version in (4, 6):
        merged += ipaddress.collapse_addresses(n for n in networks if n.version == version)
    return merged


def _element(net: Network) -> str:
    """A range as nft prints it: a single address without its prefix length."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)
