"""The DNS wire format as Candor's DNS reads and writes it: one owner for every byte.

Every lookup passes through here, so the common cases are read and written directly: the one
question of a standard query (its name, type and where it ends), a query's id, and Candor's own
short answers (the block address, NXDOMAIN), which repeat the question and add at most one
record. dnspython, a well-kept library, does the rest, which is rare: a SafeSearch CNAME chain,
and the ECH configurations stripped from `HTTPS`/`SVCB` answers.

A query Candor cannot read as one plain question (several questions, a compressed or non-ASCII
name, another opcode) is refused rather than forwarded: its name could not be decided, and
forwarding it would let a program dress a blocked name up to get past the decision.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct("!HHHHHH")
"""id, flags, and the counts of questions, answers, authority and additional records."""
_TYPE_CLASS = struct.Struct("!HH")
_RECORD = struct.Struct("!HHHIH")
"""A record after its name: pointer to the question's name, type, class, TTL, data length."""

HEADER_SIZE = 12
QR = 0x8000
OPCODE = 0x7800
RD = 0x0100
RA = 0x0080
TC = 0x0200
CLASS_IN = 1
TYPE_A = 1
TYPE_AAAA = 28
TYPE_SVCB = 64
TYPE_HTTPS = 65
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP = 0, 1, 2, 3, 4
MAX_NAME = 255
MAX_LABEL = 63
_NAME_POINTER = 0xC00C
"""A compression pointer to the question's name, which always starts right after the header."""


@dataclass(frozen=True, slots=True)
class Question:
    """The one question of a standard query: what Candor decides on."""

    id: int
    name: str
    """Lowercase ASCII, without the final dot ("" for the root)."""
    type: int
    end: int
    """Where the question ends in the packet: header and question are `packet[:end]`."""
    recursion: bool

    def section(self, packet: bytes) -> bytes:
        """The question as it was sent: a reply to a forwarded query must repeat it."""
        return packet[HEADER_SIZE : self.end]


def read_question(packet: bytes) -> Question | None:
    """The question of a standard query (not a reply, opcode QUERY, exactly one question with a
    plain ASCII name), or None."""
    if len(packet) < HEADER_SIZE + 5:
        return None
    qid, flags, questions = struct.unpack_from("!HHH", packet)
    if flags & (QR | OPCODE) or questions != 1:
        return None
    labels: list[bytes] = []
    pos = HEADER_SIZE
    while True:
        if pos >= len(packet):
            return None
        length = packet[pos]
        if length == 0:
            pos += 1
            break
        label = packet[pos + 1 : pos + 1 + length]
        if length > MAX_LABEL or len(label) < length or b"." in label:
            return None
        labels.append(label)
        pos += 1 + length
        if pos - HEADER_SIZE > MAX_NAME:
            return None
    if pos + 4 > len(packet):
        return None
    qtype = _TYPE_CLASS.unpack_from(packet, pos)[0]
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        return None
    return Question(qid, name, qtype, pos + 4, bool(flags & RD))


def refusal(packet: bytes) -> bytes | None:
    """The answer to a query Candor does not read (FORMERR, or NOTIMP for another opcode):
    the header only; None for a reply or a packet too short to hold a header."""
    if len(packet) < HEADER_SIZE:
        return None
    qid, flags = struct.unpack_from("!HH", packet)
    if flags & QR:
        return None
    rcode = NOTIMP if flags & OPCODE else FORMERR
    return HEADER.pack(qid, QR | (flags & (OPCODE | RD)) | RA | rcode, 0, 0, 0, 0)


def rcode_reply(packet: bytes, question: Question, rcode: int) -> bytes:
    """An answer with no records: NXDOMAIN, SERVFAIL, or NOERROR for "the name exists, but has
    no records of this type"."""
    flags = QR | (RD if question.recursion else 0) | RA | rcode
    return HEADER.pack(question.id, flags, 1, 0, 0, 0) + question.section(packet)


def address_reply(
    packet: bytes,
    question: Question,
    v4: ipaddress.IPv4Address,
    v6: ipaddress.IPv6Address,
    ttl: int,
) -> bytes:
    """The answer that sends a name to an address of Candor's: `v4` for A, `v6` for AAAA, no
    records (NOERROR) for any other type."""
    if question.type == TYPE_A:
        data = v4.packed
    elif question.type == TYPE_AAAA:
        data = v6.packed
    else:
        return rcode_reply(packet, question, NOERROR)
    flags = QR | (RD if question.recursion else 0) | RA | NOERROR
    record = _RECORD.pack(_NAME_POINTER, question.type, CLASS_IN, ttl, len(data)) + data
    return HEADER.pack(question.id, flags, 1, 1, 0, 0) + question.section(packet) + record


def with_id(packet: bytes, qid: int) -> bytes:
    """The same message under another id (a forwarded query, and its reply coming back)."""
    return qid.to_bytes(2, "big") + packet[2:]


def reply_id(packet: bytes) -> int | None:
    """The id of a reply, or None for anything that is not one."""
    if len(packet) < HEADER_SIZE or not packet[2] & 0x80:
        return None
    return int.from_bytes(packet[:2], "big")


def repeats_question(reply: bytes, section: bytes) -> bool:
    """Whether a reply carries the question it answers (in any letter case): one more thing an
    off-path forger must guess, besides the id and the port."""
    return reply[HEADER_SIZE : HEADER_SIZE + len(section)].lower() == section.lower()


def has_service_records(question: Question) -> bool:
    """Whether answers to this question may carry ECH configurations (`HTTPS`/`SVCB`)."""
    return question.type in (TYPE_HTTPS, TYPE_SVCB)


def strip_ech(reply: bytes) -> bytes:
    """The reply without ECH configurations in its `HTTPS`/`SVCB` answers, and without `h3`
    in their ALPN lists (Candor refuses QUIC), so a browser sends a ClientHello Candor can read;
    the reply unchanged when there is nothing to strip or it cannot be read."""
    import dns.exception
    import dns.message
    import dns.rdatatype

    try:
        message = dns.message.from_wire(reply)
    except (dns.exception.DNSException, ValueError):
        return reply
    changed = False
    for rrset in message.answer:
        if rrset.rdtype not in (dns.rdatatype.HTTPS, dns.rdatatype.SVCB):
            continue
        records = [_without_ech(rdata) for rdata in rrset]
        if any(new is not old for new, old in zip(records, rrset, strict=True)):
            changed = True
            rrset.clear()
            for rdata in records:
                rrset.add(rdata)
    if not changed:
        return reply
    try:
        return message.to_wire()
    except dns.exception.DNSException:
        return reply


def _without_ech(rdata: Any) -> Any:
    """A service record without `ech` (nor in `mandatory`) and without HTTP/3 in `alpn`."""
    from dns.rdtypes.svcbbase import ALPNParam, MandatoryParam, ParamKey

    params = dict(rdata.params)
    original = dict(params)
    params.pop(ParamKey.ECH, None)
    alpn = params.get(ParamKey.ALPN)
    if isinstance(alpn, ALPNParam):
        kept = tuple(a for a in alpn.ids if a != b"h3" and not a.startswith(b"h3-"))
        if kept != alpn.ids:
            if kept:
                params[ParamKey.ALPN] = ALPNParam(kept)
            else:
                del params[ParamKey.ALPN]
    mandatory = params.get(ParamKey.MANDATORY)
    if isinstance(mandatory, MandatoryParam):
        keys = tuple(k for k in mandatory.keys if k in params)
        if keys != mandatory.keys:
            if keys:
                params[ParamKey.MANDATORY] = MandatoryParam(keys)
            else:
                del params[ParamKey.MANDATORY]
    if params == original:
        return rdata
    return type(rdata)(rdata.rdclass, rdata.rdtype, rdata.priority, rdata.target, params)


def query_for(name: str, qtype: int, qid: int) -> bytes:
    """A recursive query for `name` (the strict name of a SafeSearch engine)."""
    import dns.message

    query = dns.message.make_query(name, qtype, want_dnssec=False)
    query.id = qid
    return query.to_wire()


def alias_reply(packet: bytes, target: str, upstream_reply: bytes) -> bytes | None:
    """The answer to a query whose name is an alias of `target`: a CNAME to it followed by the
    upstream's answer for `target` (its rcode; the CNAME only when that is NOERROR); None if
    either message cannot be read."""
    import dns.exception
    import dns.message
    import dns.rrset

    try:
        query = dns.message.from_wire(packet)
        found = dns.message.from_wire(upstream_reply)
        response = dns.message.make_response(query)
        response.set_rcode(found.rcode())
        if found.rcode() == NOERROR:
            ttl = min((rrset.ttl for rrset in found.answer), default=300)
            cname = dns.rrset.from_text(query.question[0].name, ttl, "IN", "CNAME", target + ".")
            response.answer = [cname, *found.answer]
        return response.to_wire()
    except (dns.exception.DNSException, ValueError, IndexError):
        return None


def server_failure(packet: bytes) -> bytes | None:
    """SERVFAIL for a query whose question is readable (the upstream is unknown or busy)."""
    question = read_question(packet)
    return rcode_reply(packet, question, SERVFAIL) if question is not None else None
