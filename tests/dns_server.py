"""A loopback DNS server with a small zone, over UDP and TCP on one port: the upstream resolver
Candor's DNS forwards to in tests (and in the DNS benchmark).

It answers from `records` (name -> list of "TYPE DATA" texts, dnspython's zone-file syntax),
NXDOMAIN for any other name, and remembers every name it was asked for.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Mapping

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 300
"""The TTL of every record this server gives (so a test can tell its answers from Candor's)."""


class DnsServer:
    """Serves `records` on 127.0.0.1, UDP and TCP, until stopped."""

    def __init__(self, records: Mapping[str, list[str]]) -> None:
        self.records = {name.lower().rstrip("."): list(rows) for name, rows in records.items()}
        self.asked: list[tuple[str, str]] = []
        """(name, type) of every question received, in order."""
        self._lock = threading.Lock()
        owner = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(owner.answer(data), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError, struct.error, dns.exception.DNSException):
                    while header := _read_exactly(self.request, 2):
                        (size,) = struct.unpack("!H", header)
                        reply = owner.answer(_read_exactly(self.request, size))
                        self.request.sendall(struct.pack("!H", len(reply)) + reply)

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tcp)
        self.tcp.daemon_threads = True
        self.port = self.tcp.server_address[1]
        self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), Udp)
        self.udp.daemon_threads = True

    def start(self) -> DnsServer:
        for server in (self.tcp, self.udp):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self.tcp, self.udp):
            server.shutdown()
            server.server_close()

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, as `--dns-upstream` takes it."""
        return f"127.0.0.1:{self.port}"

    def names_asked(self) -> set[str]:
        with self._lock:
            return {name for name, _ in self.asked}

    def answer(self, wire: bytes) -> bytes:
        """The reply to one query message."""
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.asked.append((name, kind))
        rows = self.records.get(name)
        if rows is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply.to_wire()
        data = [rest for row in rows for type_, _, rest in [row.partition(" ")] if type_ == kind]
        if data:
            reply.answer.append(
                dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, kind, data)
            )
        return reply.to_wire()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
