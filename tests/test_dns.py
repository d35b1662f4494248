"""Candor's DNS layer (`candor run --dns`): a real agent answering real DNS over UDP and TCP, in
front of a loopback test resolver serving a small zone."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from agent.proxy.dns_policy import BLOCK_ADDRESS_V4, BLOCK_ADDRESS_V6, BLOCK_TTL
from agent.proxy.dns_upstream import SystemResolvers, parse_upstream
from agent.proxy.pages.origin import HOST as OWN_HOST
from rules.encrypted_dns import FIREFOX_CANARY, is_encrypted_dns_name
from tests.conftest import candor
from tests.dns_server import TTL, DnsServer
from tests.proxy_fixtures import RunningAgent, start_agent, write_home

ECH = (
    "AEn+DQBFKwAgACABWIHUGj4u+PIggYXcR5JF0gYk3dCRioBW8uJq9H4mKAAIAAEAAQABAANAEnB1YmxpYy50bHMt"
    "ZWNoLmRldgAA"
)
ZONE = {
    "allowed.test": ["A 192.0.2.10", "AAAA 2001:db8::10"],
    "warned.test": ["A 192.0.2.11"],
    "reloaded.test": ["A 192.0.2.12"],
    "blocked.test": ["A 192.0.2.66"],
    "ech.test": [f'HTTPS 1 . alpn="h3,h2" ech="{ECH}"', "A 192.0.2.13"],
    "forcesafesearch.google.com": ["A 192.0.2.20"],
    "strict.bing.com": ["A 192.0.2.21"],
    "safe.duckduckgo.com": ["A 192.0.2.22"],
    "restrict.youtube.com": ["A 192.0.2.23"],
    "family.cloudflare-dns.com": ["A 192.0.2.30"],
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[DnsServer]:
    server = DnsServer(ZONE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dns_agent(
    tmp_path_factory: pytest.TempPathFactory, upstream: DnsServer
) -> Iterator[RunningAgent]:
    home = tmp_path_factory.mktemp("candor-dns") / "home"
    write_home(home)
    running = start_agent(
        home, "--listen", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--dns-upstream", upstream.address
    )
    yield running
    assert running.stop() == 0, "".join(running.stderr_lines)


def ask(agent: RunningAgent, name: str, kind: str = "A", tcp: bool = False) -> dns.message.Message:
    host, port = agent.listeners["dns"]
    query = dns.message.make_query(name, kind)
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=5)
    return dns.query.udp(query, host, port=port, timeout=5)


def records(reply: dns.message.Message) -> list[tuple[str, str, str]]:
    """(owner, type, data) of each answer record, in order."""
    return [
        (rrset.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
        for rrset in reply.answer
        for rd in rrset
    ]


def dns_rows(agent: RunningAgent, host: str) -> list[dict[str, Any]]:
    return [e for e in agent.events("decision") if e["host"] == host and e.get("via") == "dns"]


def test_announces_the_dns_listener(dns_agent: RunningAgent) -> None:
    host, port = dns_agent.listeners["dns"]
    assert host == "127.0.0.1" and port > 0 and port != dns_agent.port


def test_blocked_name_gets_the_block_address_and_one_row(
    dns_agent: RunningAgent, upstream: DnsServer
) -> None:
    a = ask(dns_agent, "blocked.test", "A")
    aaaa = ask(dns_agent, "blocked.test", "AAAA")
    https = ask(dns_agent, "www.blocked.test", "HTTPS")
    assert records(a) == [("blocked.test", "A", str(BLOCK_ADDRESS_V4))]
    assert a.answer[0].ttl == BLOCK_TTL
    assert records(aaaa) == [("blocked.test", "AAAA", str(BLOCK_ADDRESS_V6))]
    assert https.rcode() == dns.rcode.NOERROR and records(https) == []
    row = dns_agent.wait_for_event("decision", lambda e: e["host"] == "blocked.test")
    assert row["via"] == "dns" and row["decision"] == "block" and row["category"] == "adult"
    time.sleep(1)  # the writer commits within half a second: no second row may follow
    assert len(dns_rows(dns_agent, "blocked.test")) == 1
    assert "blocked.test" not in upstream.names_asked()


def test_allowed_name_gets_the_upstream_answer_and_leaves_nothing(
    dns_agent: RunningAgent, upstream: DnsServer
) -> None:
    a = ask(dns_agent, "allowed.test", "A")
    aaaa = ask(dns_agent, "allowed.test", "AAAA")
    assert records(a) == [("allowed.test", "A", "192.0.2.10")] and a.answer[0].ttl == TTL
    assert records(aaaa) == [("allowed.test", "AAAA", "2001:db8::10")]
    missing = ask(dns_agent, "nowhere.test")
    assert missing.rcode() == dns.rcode.NXDOMAIN  # the upstream's own answer, passed on
    assert ("allowed.test", "A") in upstream.asked
    ask(dns_agent, "blocked.test")  # a row after these shows the writer has caught up
    time.sleep(1)
    hosts = {e["host"] for e in dns_agent.events("decision")}
    assert not hosts & {"allowed.test", "nowhere.test"}


def test_warned_host_resolves_normally(dns_agent: RunningAgent) -> None:
    assert records(ask(dns_agent, "warned.test")) == [("warned.test", "A", "192.0.2.11")]
    time.sleep(1)
    assert dns_rows(dns_agent, "warned.test") == []


@pytest.mark.parametrize(
    ("name", "target", "address"),
    [
        ("www.google.com", "forcesafesearch.google.com", "192.0.2.20"),
        ("google.de", "forcesafesearch.google.com", "192.0.2.20"),
        ("www.bing.com", "strict.bing.com", "192.0.2.21"),
        ("duckduckgo.com", "safe.duckduckgo.com", "192.0.2.22"),
        ("www.youtube.com", "restrict.youtube.com", "192.0.2.23"),
    ],
)
def test_safesearch_engines_get_the_cname_chain(
    dns_agent: RunningAgent, name: str, target: str, address: str
) -> None:
    reply = ask(dns_agent, name)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.question[0].name.to_text(omit_final_dot=True) == name
    assert records(reply) == [(name, "CNAME", target + "."), (target, "A", address)]


@pytest.mark.parametrize(
    "name", ["dns.google", "mozilla.cloudflare-dns.com", "dns.nextdns.io", FIREFOX_CANARY]
)
def test_encrypted_dns_names_get_nxdomain(
    dns_agent: RunningAgent, upstream: DnsServer, name: str
) -> None:
    for kind in ("A", "AAAA", "HTTPS"):
        assert ask(dns_agent, name, kind).rcode() == dns.rcode.NXDOMAIN
    assert name not in upstream.names_asked()


def test_family_filter_resolver_resolves(dns_agent: RunningAgent) -> None:
    reply = ask(dns_agent, "family.cloudflare-dns.com")
    assert records(reply) == [("family.cloudflare-dns.com", "A", "192.0.2.30")]


def test_ech_is_stripped_from_https_records(dns_agent: RunningAgent) -> None:
    reply = ask(dns_agent, "ech.test", "HTTPS")
    [(owner, kind, data)] = records(reply)
    assert (owner, kind) == ("ech.test", "HTTPS")
    assert "ech=" not in data and ECH not in data
    assert 'alpn="h2"' in data  # h3 is dropped too: Candor refuses QUIC


def test_tcp_lookups(dns_agent: RunningAgent) -> None:
    assert records(ask(dns_agent, "allowed.test", tcp=True)) == [
        ("allowed.test", "A", "192.0.2.10")
    ]
    assert records(ask(dns_agent, "blocked.test", tcp=True)) == [
        ("blocked.test", "A", str(BLOCK_ADDRESS_V4))
    ]
    assert ask(dns_agent, FIREFOX_CANARY, tcp=True).rcode() == dns.rcode.NXDOMAIN


def test_own_origin_gets_the_block_address(dns_agent: RunningAgent) -> None:
    assert records(ask(dns_agent, OWN_HOST)) == [(OWN_HOST, "A", str(BLOCK_ADDRESS_V4))]
    assert records(ask(dns_agent, OWN_HOST, "AAAA")) == [(OWN_HOST, "AAAA", str(BLOCK_ADDRESS_V6))]


def test_rules_edit_changes_the_next_answer(dns_agent: RunningAgent) -> None:
    assert records(ask(dns_agent, "reloaded.test")) == [("reloaded.test", "A", "192.0.2.12")]
    edited = dns_agent.home / "rules" / "edited.txt"
    edited.write_text(edited.read_text() + "reloaded.test\n")
    deadline = time.monotonic() + 15
    while records(ask(dns_agent, "reloaded.test")) != [
        ("reloaded.test", "A", str(BLOCK_ADDRESS_V4))
    ]:
        assert time.monotonic() < deadline, "the rules edit never reached the DNS answers"
        time.sleep(0.2)
    row = dns_agent.wait_for_event("decision", lambda e: e["host"] == "reloaded.test")
    assert row["via"] == "dns" and row["category"] == "edited"


# --- hostile and odd input ---------------------------------------------------------------------


def test_garbage_gets_formerr_or_silence_and_the_server_goes_on(dns_agent: RunningAgent) -> None:
    assert udp_exchange(dns_agent, b"\x00", timeout=0.5) is None  # not even a header
    reply = udp_exchange(dns_agent, b"\x12\x34" + b"\xff" * 40)  # QR set: a "reply"
    assert reply is None
    formerr = udp_exchange(dns_agent, struct.pack("!HHHHHH", 7, 0x0100, 2, 0, 0, 0) + b"\0" * 10)
    assert formerr is not None and formerr[:2] == b"\x00\x07" and formerr[3] & 0x0F == 1
    assert records(ask(dns_agent, "allowed.test")) == [("allowed.test", "A", "192.0.2.10")]


def test_a_disguised_blocked_name_is_refused_not_forwarded(
    dns_agent: RunningAgent,
    upstream: DnsServer,
) -> None:
    plain = query("blocked.test")
    compressed = plain[:12] + b"\x07blocked\xc0\x14" + b"\x04test\x00" + plain[-4:]
    reply = udp_exchange(dns_agent, compressed)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR
    assert "blocked.test" not in upstream.names_asked()


def query(name: str, kind: str = "A", qid: int = 4242) -> bytes:
    message = dns.message.make_query(name, kind)
    message.id = qid
    return message.to_wire()


def udp_exchange(agent: RunningAgent, packet: bytes, timeout: float = 2.0) -> bytes | None:
    host, port = agent.listeners["dns"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (host, port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


# --- the parts, on their own ------------------------------------------------------------------


def test_encrypted_dns_list_is_the_bypass_starters_section() -> None:
    assert is_encrypted_dns_name("dns.google")
    assert is_encrypted_dns_name("sub.dns.google")  # `dns.google` covers its subdomains
    assert is_encrypted_dns_name("cloudflare-dns.com")  # `=cloudflare-dns.com`: that host only
    assert not is_encrypted_dns_name("family.cloudflare-dns.com")
    assert not is_encrypted_dns_name("doh.cleanbrowsing.org")
    assert not is_encrypted_dns_name("nordvpn.com")  # the bypass list's next section


@pytest.mark.parametrize(
    ("spec", "address"),
    [
        ("192.0.2.1", ("192.0.2.1", 53)),
        ("192.0.2.1:5353", ("192.0.2.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ],
)
def test_parse_upstream(spec: str, address: tuple[str, int]) -> None:
    assert parse_upstream(spec) == address


@pytest.mark.parametrize("spec", ["resolver.example", "192.0.2.1:", "192.0.2.1:0", "[::1]x"])
def test_parse_upstream_refuses(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(spec)


def test_system_resolvers_skip_stubs_and_follow_changes(tmp_path: Path) -> None:
    conf, resolved = tmp_path / "resolv.conf", tmp_path / "resolved.conf"
    now = [0.0]
    resolvers = SystemResolvers((conf, resolved), clock=lambda: now[0])
    conf.write_text("# systemd-resolved\nnameserver 127.0.0.53\noptions edns0\n")
    resolved.write_text("nameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    assert resolvers.current() == ("192.0.2.53", 53)  # the stub's own upstreams
    conf.write_text("nameserver ::1\nnameserver 198.51.100.53\n")
    assert resolvers.current() == ("192.0.2.53", 53)  # looked at again only after a while
    now[0] += 5
    assert resolvers.current() == ("198.51.100.53", 53)  # the network changed
    conf.write_text("nameserver 127.0.0.53\n")
    resolved.unlink()
    now[0] += 5
    assert resolvers.current() is None


def test_dns_answers_on_ipv4_and_ipv6_at_once(tmp_path: Path, upstream: DnsServer) -> None:
    """The system table sends IPv6 lookups to [::1]: `--dns` is given once per family."""
    home = tmp_path / "home"
    write_home(home)
    agent = start_agent(
        home, "--listen", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--dns", "[::1]:0",
        "--dns-upstream", upstream.address,
    )  # fmt: skip
    try:
        assert sorted(host for host, _ in agent.dns) == ["127.0.0.1", "::1"]
        for host, port in agent.dns:
            reply = dns.query.udp(dns.message.make_query("blocked.test", "A"), host, port=port)
            assert records(reply) == [("blocked.test", "A", str(BLOCK_ADDRESS_V4))], host
    finally:
        assert agent.stop() == 0, "".join(agent.stderr_lines)


def test_bad_dns_flags_are_one_sentence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_home(home)
    for args, words in [
        (["--dns", "192.0.2.1:53"], "--dns must be an address on this computer only"),
        (["--dns", "127.0.0.1:0", "--dns-upstream", "resolver"], "--dns-upstream must be an IP"),
        (["--dns-upstream", "192.0.2.1"], "--dns-upstream needs --dns"),
        (["--dns", "127.0.0.1:5399", "--dns", "127.0.0.1:5399"], "each address may be given once"),
    ]:
        result = candor(home, "run", "--listen", "127.0.0.1:0", *args)
        assert result.returncode == 1
        assert words in result.stderr and "Traceback" not in result.stderr


def test_a_dns_port_in_use_is_one_sentence_and_nothing_is_announced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_home(home)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = candor(home, "run", "--listen", "127.0.0.1:0", "--dns", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"Candor cannot answer DNS on 127.0.0.1:{port}: address already in use." in result.stderr
    assert "listening on" not in result.stdout and "Traceback" not in result.stderr
