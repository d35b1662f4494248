"""Is the program answering on the proxy address this Candor agent? A small forwarding proxy put
on Candor's advertised port (with Candor moved elsewhere) passes the canary, since it forwards it;
only the listening socket's owner tells them apart.

On Linux the owner comes from /proc (`agent.proxy.socket_owners`); elsewhere nothing can be told
and the check finds nothing, leaving the canary and the other checks.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from agent.proxy import socket_owners


def split_proxy(proxy: str) -> tuple[str, int] | None:
    """(host, port) of `http://host:port`, `host:port` or `[::1]:port`; None if it has no port."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or port is None:
        return None
    return parts.hostname, port


def addresses_of(host: str) -> set[str]:
    """The IP addresses a connection to `host` may use (`localhost`: 127.0.0.1 and ::1)."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set()
    return {socket_owners.plain_ip(str(info[4][0])) for info in found}


def listener_problem(proxy: str, pid: int | None = None, protocol: str = "tcp") -> str | None:
    """A sentence when a program other than process `pid` (this agent) listens on `proxy`
    (for `protocol="udp"`: takes the DNS lookups sent there).

    None when this agent is the only listener there, when nothing listens (the canary says so),
    or when the system cannot tell who listens.
    """
    where = split_proxy(proxy)
    if where is None:
        return None
    host, port = where
    inodes = socket_owners.listeners(addresses_of(host), port, protocol=protocol)
    others = inodes - socket_owners.holds(os.getpid() if pid is None else pid, inodes)
    if not others:
        return None
    found = next((p for i in sorted(others) if (p := socket_owners.owner(i)) is not None), None)
    who = "another program"
    if found is not None:
        who = f"another program ({found.program or 'unnamed'}, process {found.pid})"
    shown = f"[{host}]" if ":" in host else host
    sent = "web traffic is" if protocol == "tcp" else "lookups are"
    return f"{shown}:{port}, where {sent} sent to Candor, is answered by {who}"
