"""Which process owns a socket, read from Linux's /proc: the listener on Candor's advertised
port (is it this agent, or a forwarding shim?), the one on its DNS port, and the program behind
a client connection.

`/proc/net/tcp`, `tcp6`, `udp` and `udp6` give each socket's addresses, state and inode; the
`/proc/<pid>/fd/*` links (`socket:[inode]`) give its owner. Where /proc is missing (macOS,
Windows) or a process cannot be read, every answer is "unknown" (None or empty), never an error.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = 0x0A
"""The kernel's TCP_LISTEN state, as /proc/net/tcp writes it (hex)."""
UNCONNECTED = 0x07
"""A UDP socket that is bound and takes datagrams from anyone (TCP_CLOSE in /proc/net/udp)."""

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TcpSocket:
    """One line of /proc/net/tcp or tcp6: local and remote address, state, inode."""

    local: Address
    remote: Address
    state: int
    inode: int
    uid: int = -1
    """The user the socket belongs to (-1 where not read)."""


@dataclass(frozen=True, slots=True)
class Process:
    """A process found holding a socket: its id and its short name (`/proc/<pid>/comm`)."""

    pid: int
    program: str | None


def plain_ip(text: str) -> str:
    """An address in its canonical text, an IPv4-mapped IPv6 address as plain IPv4."""
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _hex_address(text: str) -> Address:
    """`0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6), in host byte order words."""
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    return plain_ip(str(ip)), int(port, 16)


def tcp_sockets(proc: Path = PROC, protocol: str = "tcp") -> Iterator[TcpSocket]:
    """Every TCP (or, with `protocol="udp"`, UDP) socket the kernel lists; nothing where
    /proc/net cannot be read. UDP lines have the same columns."""
    for name in (protocol, f"{protocol}6"):
        try:
            lines = (proc / "net" / name).read_text("ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                yield TcpSocket(
                    _hex_address(fields[1]),
                    _hex_address(fields[2]),
                    int(fields[3], 16),
                    int(fields[9]),
                    int(fields[7]),
                )
            except ValueError:
                continue


def serves(listener: str, wanted: Iterable[str]) -> bool:
    """True if a socket listening on `listener` accepts connections made to any of `wanted`."""
    if listener in ("0.0.0.0", "::"):
        family = 4 if listener == "0.0.0.0" else 6
        # A dual-stack `::` listener takes IPv4 too; "0.0.0.0" only IPv4.
        return any(family == 6 or ipaddress.ip_address(w).version == 4 for w in wanted)
    return listener in wanted


def listeners(
    addresses: Iterable[str], port: int, proc: Path = PROC, protocol: str = "tcp"
) -> set[int]:
    """Inodes of the sockets listening on `port` that a connection (or, for UDP, a datagram)
    to `addresses` would reach."""
    wanted = {plain_ip(a) for a in addresses}
    state = LISTEN if protocol == "tcp" else UNCONNECTED
    return {
        s.inode
        for s in tcp_sockets(proc, protocol)
        if s.state == state and s.local[1] == port and s.inode and serves(s.local[0], wanted)
    }


def connection_inode(
    local: Address, remote: Address | None = None, proc: Path = PROC
) -> int | None:
    """The inode of the open socket whose local end is `local` (and remote end `remote`).

    Without `remote` (a redirected connection's client dialled another address), the first
    connected socket at `local` is taken.
    """
    local = (plain_ip(local[0]), local[1])
    remote = (plain_ip(remote[0]), remote[1]) if remote is not None else None
    for s in tcp_sockets(proc):
        if s.local == local and s.state != LISTEN and s.inode and remote in (None, s.remote):
            return s.inode
    return None


def connection_uid(local: Address, remote: Address, proc: Path = PROC) -> int | None:
    """The user whose program holds the client end `local` of a connection to `remote`: the
    kernel's record, which no client can make up; None where /proc cannot tell. A redirected
    connection's client dialled another address, so its socket is found by `local` alone."""
    local = (plain_ip(local[0]), local[1])
    remote = (plain_ip(remote[0]), remote[1])
    found = [s for s in tcp_sockets(proc) if s.local == local and s.state != LISTEN and s.uid >= 0]
    exact = [s for s in found if s.remote == remote]
    return (exact or found)[0].uid if (exact or found) else None


def supported(proc: Path = PROC) -> bool:
    """True where /proc tells socket owners (Linux)."""
    return (proc / "net" / "tcp").is_file()


def holds(pid: int | str, inodes: set[int], proc: Path = PROC) -> set[int]:
    """Which of `inodes` the process `pid` has open (empty if it cannot be read)."""
    links = {f"socket:[{inode}]": inode for inode in inodes}
    found: set[int] = set()
    try:
        with os.scandir(proc / str(pid) / "fd") as entries:
            for entry in entries:
                try:
                    inode = links.get(os.readlink(entry.path))
                except OSError:
                    continue
                if inode is not None:
                    found.add(inode)
    except OSError:
        pass
    return found


def pids(proc: Path = PROC) -> list[int]:
    """Every process id /proc lists."""
    try:
        return [int(name) for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return []


def program(pid: int, proc: Path = PROC) -> str | None:
    """The process's short name, or None once it is gone or cannot be read."""
    try:
        return (proc / str(pid) / "comm").read_text("utf-8", errors="replace").strip() or None
    except OSError:
        return None


def owner(inode: int, candidates: Iterable[int] | None = None, proc: Path = PROC) -> Process | None:
    """The process holding socket `inode` (among `candidates`, else every process), if readable."""
    for pid in pids(proc) if candidates is None else candidates:
        if holds(pid, {inode}, proc):
            return Process(pid, program(pid, proc))
    return None


def connection_owner(
    local: Address, remote: Address | None = None, proc: Path = PROC
) -> Process | None:
    """The process holding the client end `local` of a connection (to `remote`), if readable."""
    inode = connection_inode(local, remote, proc)
    if inode is None and remote is not None:
        inode = connection_inode(local, None, proc)
    return owner(inode, None, proc) if inode is not None else None
