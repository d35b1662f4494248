"""The parts of Candor's own DNS server on their own: what it reads and refuses, which replies
the forwarder believes, and how much it holds (real sockets on loopback). A real agent under the
same hostile input is in test_dns.py."""

from __future__ import annotations

import asyncio
import socket

import dns.message
import dns.rcode
import dns.rdatatype

from agent.proxy.dns_forwarder import MAX_PENDING, TIMEOUT, UdpForwarder
from agent.proxy.dns_policy import FORWARD, Answer
from agent.proxy.dns_server import DnsServer
from agent.proxy.dns_wire import read_question, refusal, strip_ech
from tests.test_dns import ECH


def query(name: str = "allowed.test", kind: str = "A", qid: int = 4242) -> bytes:
    message = dns.message.make_query(name, kind)
    message.id = qid
    return message.to_wire()


# --- the wire, on its own ---------------------------------------------------------------------


def test_a_plain_query_is_read_in_lowercase() -> None:
    question = read_question(query("WWW.Blocked.TEST.", "AAAA"))
    assert question is not None
    assert (question.id, question.name, question.type) == (4242, "www.blocked.test", 28)


def test_a_name_it_cannot_read_plainly_is_not_decided() -> None:
    plain = query("blocked.test")
    # the same name as a compression pointer to itself, then a label holding a dot
    compressed = plain[:12] + b"\xc0\x0c" + plain[-4:]
    dotted = plain[:12] + b"\x0cblocked.test\x00" + plain[-4:]
    non_ascii = plain[:12] + b"\x07bl\xc3\xb6cke\x04test\x00" + plain[-4:]
    for packet in (compressed, dotted, non_ascii, plain[:14]):
        assert read_question(packet) is None
        reply = refusal(packet)
        assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR


def test_another_opcode_is_not_implemented_and_a_reply_is_never_answered() -> None:
    notify = bytearray(query())
    notify[2] |= 4 << 3  # opcode NOTIFY
    reply = refusal(bytes(notify))
    assert reply is not None and reply[3] & 0x0F == dns.rcode.NOTIMP
    answer = bytearray(query())
    answer[2] |= 0x80  # a reply sent to Candor: answering it would make a loop or a reflector
    assert refusal(bytes(answer)) is None and read_question(bytes(answer)) is None


def test_ech_and_h3_are_stripped_and_mandatory_follows() -> None:
    message = dns.message.make_response(dns.message.make_query("ech.test", "HTTPS"))
    rrset = message.find_rrset(
        message.answer, message.question[0].name, 1, dns.rdatatype.HTTPS, create=True
    )
    rrset.add(
        dns.rdata.from_text(
            "IN", "HTTPS", f'1 . mandatory=alpn,ech alpn="h3,h3-29,h2" ech="{ECH}"'
        ),
        300,
    )
    stripped = dns.message.from_wire(strip_ech(message.to_wire()))
    text = stripped.answer[0][0].to_text()
    assert "ech" not in text.replace("mandatory", "") and 'alpn="h2"' in text
    assert 'mandatory="alpn"' in text
    plain = dns.message.make_response(dns.message.make_query("allowed.test", "A")).to_wire()
    assert strip_ech(plain) is plain


# --- the forwarder, in process ----------------------------------------------------------------


def test_the_forwarder_holds_a_bounded_table_and_forgets_after_its_time_out() -> None:
    async def scenario() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        now = [0.0]
        forwarder = UdpForwarder(clock=lambda: now[0])
        packet = query()
        section = packet[12:]
        target = silent.getsockname()
        try:
            for _ in range(MAX_PENDING):
                assert forwarder.send(packet, section, target, lambda data: None)
            assert not forwarder.send(packet, section, target, lambda data: None)  # full
            now[0] += TIMEOUT + 0.1
            assert forwarder.send(packet, section, target, lambda data: None)  # swept
        finally:
            forwarder.close()
            silent.close()

    asyncio.run(scenario())


def test_the_forwarder_believes_only_the_resolver_it_asked() -> None:
    async def scenario() -> list[bytes]:
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        resolver.bind(("127.0.0.1", 0))
        resolver.setblocking(False)
        forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        forger.bind(("127.0.0.1", 0))
        got: list[bytes] = []
        forwarder = UdpForwarder()
        loop = asyncio.get_running_loop()
        packet = query("allowed.test", qid=99)
        try:
            assert forwarder.send(packet, packet[12:], resolver.getsockname(), got.append)
            sent, source = await loop.sock_recvfrom(resolver, 4096)
            assert sent[2:] == packet[2:]  # under an id of the forwarder's own
            answer = dns.message.make_response(dns.message.from_wire(sent))
            wrong_question = dns.message.make_response(
                dns.message.from_wire(query("other.test", qid=int.from_bytes(sent[:2], "big")))
            )
            forger.sendto(answer.to_wire(), source)  # right id, wrong sender
            resolver.sendto(wrong_question.to_wire(), source)  # right sender, wrong question
            await asyncio.sleep(0.2)
            assert got == []
            resolver.sendto(answer.to_wire(), source)
            for _ in range(50):
                if got:
                    break
                await asyncio.sleep(0.02)
            return got
        finally:
            forwarder.close()
            resolver.close()
            forger.close()

    [reply] = asyncio.run(scenario())
    assert reply[:2] == (99).to_bytes(2, "big")  # the asker's own id again


def test_a_tcp_client_that_sends_nothing_is_let_go() -> None:
    class ForwardAll:
        def decide(self, name: str) -> Answer:
            return FORWARD

    async def scenario() -> bytes:
        forwarder = UdpForwarder()
        server = DnsServer(ForwardAll(), forwarder, lambda: None, tcp_idle=0.3)  # type: ignore[arg-type]
        host, port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"\x00")  # half a length, then nothing
            async with asyncio.timeout(5):
                return await reader.read(10)  # b"": closed by Candor after its idle time
        finally:
            server.close()
            forwarder.close()

    assert asyncio.run(scenario()) == b""
