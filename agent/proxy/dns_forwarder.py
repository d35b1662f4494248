"""How Candor's DNS asks the upstream resolver what it does not answer itself.

Over UDP, each query leaves under a fresh random id from one of a few sockets on random ports,
and a reply is accepted only from the resolver it was sent to, under that id, on that socket,
repeating the question: an off-path forger must guess all four. Candor keeps no cache, so a
forged reply could only ever mislead the one lookup it answered. At most `MAX_PENDING` queries
wait at once, each for `TIMEOUT` seconds, so a flood of lookups holds bounded memory; a query
that finds the table full is answered SERVFAIL at once, and one whose reply never comes is
forgotten (the program asks again, as it does of any resolver).

Over TCP (a program's TCP lookup, usually after a truncated UDP answer) each query gets a
connection of its own to the resolver, with the same time limit.

Sockets are plain non-blocking ones read by the event loop directly: this runs for every
lookup a computer makes, and asyncio's datagram transports cost more than the lookup itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.proxy.dns_upstream import Address
from agent.proxy.dns_wire import repeats_question, reply_id, with_id

TIMEOUT = 5.0
"""Seconds a forwarded query waits for the upstream's reply."""
MAX_PENDING = 4096
"""Queries waiting for the upstream at once; more are answered SERVFAIL."""
SOCKETS = 4
"""Upstream sockets per address family, each on its own random port."""
MAX_REPLY = 65535
BATCH = 64
"""Datagrams read per wake-up before giving other work a turn."""
SWEEP_AT_MOST_EVERY = 0.1
"""Seconds between two sweeps of a full table for queries that timed out."""

Reply = Callable[[bytes], None]


@dataclass(slots=True)
class _Waiting:
    deadline: float
    upstream: Address
    question: bytes
    original_id: int
    reply: Reply


class UdpForwarder:
    """Sends queries to the upstream resolver and hands each reply to whoever asked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sockets: dict[int, list[socket.socket]] = {}
        self._waiting: dict[tuple[int, int], _Waiting] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._swept_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None

    def send(self, packet: bytes, question: bytes, upstream: Address, reply: Reply) -> bool:
        """Forward `packet` (whose question section is `question`); `reply` gets the upstream's
        answer under the packet's own id. False if it could not leave (the table is full, or
        the socket refused it): the caller answers SERVFAIL."""
        if len(self._waiting) >= MAX_PENDING:
            if self._clock() - self._swept_at >= SWEEP_AT_MOST_EVERY:
                self._sweep()  # not on every query of a flood: a sweep walks the whole table
            if len(self._waiting) >= MAX_PENDING:
                return False
        try:
            sockets = self._sockets_for(upstream)
        except OSError:
            return False
        index = secrets.randbelow(len(sockets))
        sock = sockets[index]
        key = (sock.fileno(), secrets.randbits(16))
        while key in self._waiting:
            key = (key[0], secrets.randbits(16))
        original = int.from_bytes(packet[:2], "big")
        try:
            sock.sendto(with_id(packet, key[1]), upstream)
        except OSError:
            return False
        self._waiting[key] = _Waiting(self._clock() + TIMEOUT, upstream, question, original, reply)
        return True

    async def ask(self, packet: bytes, question: bytes, upstream: Address) -> bytes | None:
        """The upstream's reply to `packet`, or None if none came in time."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def answered(data: bytes) -> None:
            if not future.done():
                future.set_result(data)

        if not self.send(packet, question, upstream, answered):
            return None
        try:
            return await asyncio.wait_for(future, TIMEOUT)
        except TimeoutError:
            return None

    def close(self) -> None:
        """Stop reading and close every upstream socket; queries still waiting are dropped."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for sockets in self._sockets.values():
            for sock in sockets:
                if self._loop is not None:
                    self._loop.remove_reader(sock.fileno())
                sock.close()
        self._sockets.clear()
        self._waiting.clear()

    def _sockets_for(self, upstream: Address) -> list[socket.socket]:
        family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
        sockets = self._sockets.get(family)
        if sockets is None:
            loop = self._loop = asyncio.get_running_loop()
            sockets = []
            try:
                for _ in range(SOCKETS):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    sockets.append(sock)
                    sock.setblocking(False)
                    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                    loop.add_reader(sock.fileno(), self._readable, sock)
            except OSError:
                for sock in sockets:
                    with contextlib.suppress(ValueError, OSError):
                        loop.remove_reader(sock.fileno())
                    sock.close()
                raise
            self._sockets[family] = sockets
            if self._sweeper is None:
                self._sweeper = loop.call_later(1.0, self._sweep_now_and_then)
        return sockets

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(BATCH):
            try:
                data, peer = sock.recvfrom(MAX_REPLY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error from an earlier send: nothing to read
                continue
            qid = reply_id(data)
            if qid is None:
                continue
            key = (sock.fileno(), qid)
            waiting = self._waiting.get(key)
            if (
                waiting is None
                or not _same_address(peer, waiting.upstream)
                or not repeats_question(data, waiting.question)
            ):
                continue
            del self._waiting[key]
            waiting.reply(with_id(data, waiting.original_id))

    def _sweep(self) -> None:
        now = self._swept_at = self._clock()
        expired = [key for key, waiting in self._waiting.items() if waiting.deadline <= now]
        for key in expired:
            del self._waiting[key]

    def _sweep_now_and_then(self) -> None:
        self._sweep()
        if self._loop is not None:
            self._sweeper = self._loop.call_later(1.0, self._sweep_now_and_then)


def _same_address(peer: tuple[str, int] | tuple[str, int, int, int], upstream: Address) -> bool:
    """Whether a datagram came from the resolver (a scope id on either side ignored)."""
    return peer[1] == upstream[1] and peer[0].partition("%")[0] == upstream[0].partition("%")[0]


async def ask_over_tcp(packet: bytes, upstream: Address) -> bytes | None:
    """The upstream's reply to `packet` over a TCP connection of its own, or None if it could not
    be reached or did not answer in time."""
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(upstream[0], upstream[1])
            try:
                writer.write(len(packet).to_bytes(2, "big") + packet)
                await writer.drain()
                size = int.from_bytes(await reader.readexactly(2), "big")
                return await reader.readexactly(size)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
