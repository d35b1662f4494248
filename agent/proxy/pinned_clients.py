"""Which client refused Candor's certificate for which host, so only that client passes through.

A client is its address and, where the system can tell (Linux: /proc), its program: one app that
pins its certificates must not turn off path rules and SafeSearch on that host for the browser
next to it. A client's socket is gone by the time its refusal arrives, so on Linux the first
refusal from an address only marks the host; the next connection to it from that address has
its program looked up while it is open, and a refusal then pins that program. Without /proc, the
address alone is the client. Connections to hosts nobody refused are never looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agent.proxy import socket_owners
from agent.proxy.socket_owners import plain_ip

ClientKey = tuple[str, str | None]
"""(address, program): the program is None when it could not be told."""

Lookup = Callable[[Any, Any], str | None]
"""(client's address, the address it reached) -> the client's program, if the system can tell."""

_MAX_HOSTS = 1024


def program_of(peername: Any, sockname: Any) -> str | None:
    """The program holding the client end `peername` of a connection to `sockname`."""
    if not peername:
        return None
    remote = (sockname[0], sockname[1]) if sockname else None
    found = socket_owners.connection_owner((peername[0], peername[1]), remote)
    return found.program if found else None


def address_of(peername: Any) -> str:
    """The client's address without its port (IPv4-mapped IPv6 as IPv4)."""
    return plain_ip(str(peername[0])) if peername else ""


class PinnedClients:
    """Refusals per host: clients pinned to pass through, and addresses that refused once."""

    def __init__(self, lookup: Lookup = program_of, *, can_tell: bool | None = None) -> None:
        self._lookup = lookup
        self.can_tell = socket_owners.supported() if can_tell is None else can_tell
        """Whether this system tells a connection's program (else the address is the client)."""
        self.pinned: dict[str, set[ClientKey]] = {}
        self._refused_once: dict[str, set[str]] = {}
        self._programs: dict[str, str | None] = {}
        """Client connection id -> its program, looked up at its ClientHello."""

    def concerns(self, names: Iterable[str]) -> bool:
        """True if a client refused any of these hosts: the caller must look up the client."""
        return any(n in self.pinned or n in self._refused_once for n in names)

    def needs_lookup(self, names: Iterable[str], address: str) -> bool:
        """True if deciding this client's connection to `names` needs its program."""
        if not self.can_tell:
            return False
        for name in names:
            if address in self._refused_once.get(name, ()):
                return True
            if any(a == address for a, _ in self.pinned.get(name, ())):
                return True
        return False

    def look_up(self, client_id: str, peername: Any, sockname: Any) -> str | None:
        """Find and remember the program behind this connection (blocking: run off the loop)."""
        program = self._lookup(peername, sockname)
        self._programs[client_id] = program
        return program

    def passes(self, names: Iterable[str], client_id: str, address: str) -> bool:
        """True if this client refused Candor's certificate for one of `names` before."""
        key = (address, self._programs.get(client_id))
        return any(key in self.pinned.get(name, ()) for name in names)

    def refused(self, name: str, client_id: str, address: str) -> ClientKey | None:
        """A client refused Candor's certificate for `name`: the key it is pinned under now,
        or None (already pinned, or a first refusal whose program is not known yet)."""
        if client_id in self._programs or not self.can_tell:
            key = (address, self._programs.get(client_id))
        else:
            self._refused_once.setdefault(name, set()).add(address)
            self._trim(self._refused_once)
            return None
        keys = self.pinned.setdefault(name, set())
        if key in keys:
            return None
        keys.add(key)
        self._trim(self.pinned)
        return key

    def forget(self, client_id: str) -> None:
        """The connection closed: drop what was looked up for it."""
        self._programs.pop(client_id, None)

    @staticmethod
    def _trim(table: dict[str, Any]) -> None:
        while len(table) > _MAX_HOSTS:
            table.pop(next(iter(table)))
