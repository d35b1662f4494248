"""Candor's DNS listener on one address, UDP and TCP on the same port (`candor run --dns`).

Each query is read (`dns_wire`), decided by name (`dns_policy`), and either answered at once
(the block address, NXDOMAIN) or forwarded (`dns_forwarder`); forwarded `HTTPS`/`SVCB` answers
lose their ECH configurations on the way back. The UDP socket is read by the event loop
directly, as the forwarder's are: this runs for every lookup the computer makes.

Hostile input stays bounded: a datagram is read whole or not at all (4 KB: no query is longer),
a query that cannot be read as one plain question is refused, at most `MAX_TCP_CLIENTS` TCP
connections are served at once, and each is closed after `TCP_IDLE` seconds without a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from agent.proxy.dns_forwarder import UdpForwarder, ask_over_tcp
from agent.proxy.dns_policy import BLOCK_ADDRESS_V4, BLOCK_ADDRESS_V6, BLOCK_TTL, DnsPolicy, Verdict
from agent.proxy.dns_upstream import Address
from agent.proxy.dns_wire import (
    NXDOMAIN,
    SERVFAIL,
    Question,
    address_reply,
    alias_reply,
    has_service_records,
    query_for,
    rcode_reply,
    read_question,
    refusal,
    strip_ech,
)

MAX_QUERY = 4096
"""Bytes read per datagram; a longer one is cut off, then refused as unreadable."""
MAX_TCP_CLIENTS = 128
TCP_IDLE = 10.0
"""Seconds a TCP connection may wait between two queries (RFC 7766 suggests a few seconds)."""
BATCH = 64
"""Datagrams read per wake-up before giving other work a turn."""

Upstream = Callable[[], Address | None]


class DnsServer:
    """Answers DNS on one address over UDP and TCP until closed."""

    def __init__(
        self,
        policy: DnsPolicy,
        forwarder: UdpForwarder,
        upstream: Upstream,
        tcp_idle: float = TCP_IDLE,
    ) -> None:
        """`upstream`: where forwarded lookups go now (None when no resolver is known);
        `tcp_idle` is shortened by tests (Python API only)."""
        self._tcp_idle = tcp_idle
        self._policy = policy
        self._forwarder = forwarder
        self._upstream = upstream
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_clients = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, host: str, port: int) -> Address:
        """Listen on `host:port` (port 0: one free for both); the address bound. OSError if the
        address cannot be used."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.setblocking(False)
            udp.bind((host, port))
            bound = udp.getsockname()[1]
            self._tcp = await asyncio.start_server(
                self._serve_tcp, host, bound, family=family, reuse_address=True
            )
        except BaseException:
            udp.close()
            raise
        self._udp = udp
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(udp.fileno(), self._readable)
        return host, bound

    def close(self) -> None:
        """Stop listening; lookups under way are dropped."""
        if self._udp is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()

    # -- UDP ------------------------------------------------------------------------------------

    def _readable(self) -> None:
        sock = self._udp
        if sock is None:
            return
        for _ in range(BATCH):
            try:
                packet, client = sock.recvfrom(MAX_QUERY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            self._answer_datagram(sock, packet, client)

    def _answer_datagram(self, sock: socket.socket, packet: bytes, client: object) -> None:
        def send(reply: bytes) -> None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, client)

        question = read_question(packet)
        if question is None:
            if (reply := refusal(packet)) is not None:
                send(reply)
            return
        own, target = self._decide(packet, question)
        if own is not None:
            send(own)
        elif target is not None:
            self._spawn(self._alias(packet, question, target, send))
        else:
            self._forward(packet, question, send)

    def _forward(self, packet: bytes, question: Question, send: Callable[[bytes], None]) -> None:
        upstream = self._upstream()
        if upstream is None:
            send(rcode_reply(packet, question, SERVFAIL))
            return
        reply = strip_ech if has_service_records(question) else None

        def answered(data: bytes) -> None:
            send(reply(data) if reply is not None else data)

        if not self._forwarder.send(packet, question.section(packet), upstream, answered):
            send(rcode_reply(packet, question, SERVFAIL))

    # -- both -----------------------------------------------------------------------------------

    def _decide(self, packet: bytes, question: Question) -> tuple[bytes | None, str | None]:
        """Candor's own reply, or the SafeSearch target to alias to, or (None, None): forward."""
        answer = self._policy.decide(question.name)
        verdict = answer.verdict
        if verdict is Verdict.FORWARD:
            return None, None
        if verdict is Verdict.BLOCK_ADDRESS:
            reply = address_reply(packet, question, BLOCK_ADDRESS_V4, BLOCK_ADDRESS_V6, BLOCK_TTL)
            return reply, None
        if verdict is Verdict.NXDOMAIN:
            return rcode_reply(packet, question, NXDOMAIN), None
        return None, answer.target

    async def _alias(
        self, packet: bytes, question: Question, target: str, send: Callable[[bytes], None]
    ) -> None:
        send(await self._aliased(packet, question, target))

    async def _aliased(self, packet: bytes, question: Question, target: str) -> bytes:
        """A CNAME to `target` and the upstream's answer for it; SERVFAIL without one."""
        upstream = self._upstream()
        if upstream is not None:
            asked = query_for(target, question.type, question.id)
            target_question = read_question(asked)
            assert target_question is not None
            found = await self._forwarder.ask(asked, target_question.section(asked), upstream)
            reply = alias_reply(packet, target, found) if found is not None else None
            if reply is not None:
                return strip_ech(reply) if has_service_records(question) else reply
        return rcode_reply(packet, question, SERVFAIL)

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- TCP ------------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_clients >= MAX_TCP_CLIENTS:
            writer.close()
            return
        self._tcp_clients += 1
        try:
            while True:
                async with asyncio.timeout(self._tcp_idle):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    packet = await reader.readexactly(size)
                reply = await self._answer_stream(packet)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            self._tcp_clients -= 1
            writer.close()

    async def _answer_stream(self, packet: bytes) -> bytes | None:
        """The reply to one query that came over TCP (forwarded over TCP too)."""
        question = read_question(packet)
        if question is None:
            return refusal(packet)
        own, target = self._decide(packet, question)
        if own is not None:
            return own
        if target is not None:
            return await self._aliased(packet, question, target)
        upstream = self._upstream()
        found = await ask_over_tcp(packet, upstream) if upstream is not None else None
        if found is None:
            return rcode_reply(packet, question, SERVFAIL)
        return strip_ech(found) if has_service_records(question) else found
