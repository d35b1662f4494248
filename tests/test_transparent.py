"""Transparent capture (issue 13): `candor run --transparent` behind Candor's own nftables table,
in a network namespace of this module's own (tests/netns.py); nothing leaves it.

The origins sit on TEST-NET addresses of a dummy interface (loopback is left alone by the
capture), on the usual ports 80 and 443. Candor runs as root, the user the table exempts here.
Every client runs as an ordinary user (`nobody`) with no proxy settings at all, and the origins
log every connection, so "captured", "passed through" and "never reached" are seen, not assumed.
Candor's own origin, `http://candor.invalid/`, has no DNS here: curl is pointed at an address
the table redirects (`--connect-to`), as the DNS layer's answer will do on an installed system.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.proxy.pages.origin import ORIGIN
from installers.platforms.linux_nftables import Capture, render
from tests.conftest import candor, require_tool
from tests.netns import NetNamespace, netns  # noqa: F401  (the fixture)
from tests.origins import Origin, OriginCert, make_origin_cert
from tests.proxy_fixtures import TO_OWN_ORIGIN, RunningAgent, start_agent, write_home

PORT = 15443
"""The transparent listener: any port is free in a namespace of our own."""
ALLOWED, BLOCKED, BLOCKED_IP = "192.0.2.10", "192.0.2.20", "192.0.2.21"
ALLOWED6, BLOCKED6 = "2001:db8::10", "2001:db8::20"
PAGE_VIA = BLOCKED
"""Where curl is sent for `candor.invalid`: an address the table redirects to Candor."""


@dataclass
class Stage:
    """Everything in the namespace: the origins, the agent, the files clients trust."""

    netns: NetNamespace
    agent: RunningAgent
    origins: dict[str, Origin]
    origin_ca: Path
    candor_ca: Path
    table: str
    udp_443: socket.socket
    tcp_853: socket.socket


@pytest.fixture(scope="module")
def stage(netns: NetNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:  # noqa: F811
    require_tool("nft")
    require_tool("curl")
    cert = make_origin_cert(tmp_path_factory.mktemp("origin"), addresses=(ALLOWED, ALLOWED6))
    home = tmp_path_factory.mktemp("transparent") / "home"
    write_home(home)
    with (home / "rules" / "adult.txt").open("a") as rules:
        rules.write(f"{BLOCKED_IP}\n")
    with netns.entered():
        origins = _origins(cert)
        udp_443 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_443.bind((ALLOWED, 443))
        tcp_853 = socket.create_server((ALLOWED, 853))
    for sock in (udp_443, tcp_853):
        sock.setblocking(False)
    agent = start_agent(
        home,
        "--listen",
        "127.0.0.1:0",
        "--transparent",
        f"127.0.0.1:{PORT}",
        "--transparent",
        f"[::1]:{PORT}",
        "--upstream-ca",
        str(cert.cert),
        wrap=netns.command,
    )
    table = render(Capture(candor_uid=0, transparent_port=PORT))
    try:
        netns.load_nft(table)
        yield Stage(
            netns,
            agent,
            origins,
            netns.share(cert.cert, "origin.pem"),
            netns.share(agent.ca_cert, "candor-ca.pem"),
            table,
            udp_443,
            tcp_853,
        )
    finally:
        code = agent.stop()
        for origin in origins.values():
            origin.stop()
        udp_443.close()
        tcp_853.close()
    assert code == 0, "".join(agent.stderr_lines)


def _origins(cert: OriginCert) -> dict[str, Origin]:
    """An origin on each address, on ports 80 and 443 (made while inside the namespace)."""
    places = {
        "allowed": ALLOWED,
        "blocked": BLOCKED,
        "blocked-ip": BLOCKED_IP,
        "allowed6": ALLOWED6,
        "blocked6": BLOCKED6,
    }
    return {name: Origin(name, cert, host, (80, 443)).start() for name, host in places.items()}


def curl(stage: Stage, *args: str) -> subprocess.CompletedProcess[str]:
    """curl as an ordinary user with no proxy settings (and told to use none)."""
    return stage.netns.as_user("curl", "--noproxy", "*", "-sS", "--max-time", "20", *args)


def system_python() -> str:
    """The system's python3, which the ordinary user can run (this venv's may be out of reach)."""
    python = Path("/usr/bin/python3")
    if not python.exists():
        require_tool("/usr/bin/python3")  # fails under CI=true, skips elsewhere
    return str(python)


def assert_untouched(origin: Origin) -> None:
    assert origin.log.connections == [], f"{origin.name} was contacted"


def test_the_kernel_holds_the_table_exactly_as_rendered(stage: Stage) -> None:
    listed = stage.netns.run(require_tool("nft"), "list", "table", "inet", "candor")
    assert listed.stdout == stage.table  # what the self-check will compare, by content hash


def test_candor_announces_both_transparent_listeners(stage: Stage) -> None:
    assert stage.agent.transparent == [("127.0.0.1", PORT), ("::1", PORT)]


def test_an_allowed_https_origin_answers_with_its_own_certificate(stage: Stage) -> None:
    """Only the origin's certificate is trusted: Candor's would fail. A `log` host shows the
    connection went through Candor all the same (and is journaled as today)."""
    for host in ("allowed.test", "logged.test"):
        done = curl(
            stage,
            "--cacert",
            str(stage.origin_ca),
            "--resolve",
            f"{host}:443:{ALLOWED}",
            f"https://{host}/hello",
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert (answer["origin"], answer["host"]) == ("allowed", host)
    event = stage.agent.wait_for_event("decision", lambda e: e["host"] == "logged.test")
    assert event["decision"] == "log"


def test_no_sni_to_an_address_is_decided_by_the_address_rules(stage: Stage) -> None:
    """An IP literal carries no SNI: an address no rule names passes through (its own
    certificate verifies); an address a rule blocks is refused and journaled."""
    passed = curl(stage, "--cacert", str(stage.origin_ca), f"https://{ALLOWED}/bare")
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["origin"] == "allowed"
    refused = curl(stage, "--cacert", str(stage.origin_ca), f"https://{BLOCKED_IP}/bare")
    assert refused.returncode != 0
    event = stage.agent.wait_for_event("decision", lambda e: e["host"] == BLOCKED_IP)
    assert event["decision"] == "block"
    assert_untouched(stage.origins["blocked-ip"])


def _open_blocked(stage: Stage, url: str, address: str, *trust: str) -> str:
    """Open `url` (at `address`) the way a browser opens a plain-HTTP page, following Candor's
    redirect to its own origin; every response's headers and the last body, as text."""
    host, port = url.split("/")[2], "443" if url.startswith("https") else "80"
    via = f"[{address}]" if ":" in address else address
    done = curl(
        stage,
        *trust,
        "-i",
        "-L",
        "-b",
        "",
        *(part for name, value in TO_OWN_ORIGIN.items() for part in ("-H", f"{name}: {value}")),
        "--resolve",
        f"{host}:{port}:{via}",
        "--connect-to",
        f"candor.invalid:80:{PAGE_VIA}:80",
        url,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_blocked_http_host_gets_candors_page_and_its_origin_sees_nothing(stage: Stage) -> None:
    shown = _open_blocked(stage, "http://blocked.test/some/page", BLOCKED)
    assert f"location: {ORIGIN}/" in shown.lower()
    assert "x-candor-decision: block; category=adult" in shown.lower()
    assert "blocked.test" in shown and "your own rules (rules/adult.txt, line 1)" in shown
    event = stage.agent.wait_for_event("decision", lambda e: e.get("path") == "/some/page")
    assert (event["host"], event["decision"]) == ("blocked.test", "block")
    assert_untouched(stage.origins["blocked"])


def test_a_blocked_https_host_gets_the_page_where_candor_is_trusted(stage: Stage) -> None:
    shown = _open_blocked(
        stage, "https://blocked.test/tls", BLOCKED, "--cacert", str(stage.candor_ca)
    )
    assert "x-candor-decision: block; category=adult" in shown.lower()
    assert "I think this is a mistake" in shown
    assert_untouched(stage.origins["blocked"])


def test_a_blocked_https_host_is_refused_where_candor_is_not_trusted(stage: Stage) -> None:
    """An app that does not trust Candor's CA gets no page, only a refused connection; the
    journal has it, as it has the page a browser is shown."""
    done = curl(
        stage,
        "--cacert",
        str(stage.origin_ca),
        "--resolve",
        f"app.blocked.test:443:{BLOCKED}",
        "https://app.blocked.test/untrusted",
    )
    assert done.returncode == 60, done.stderr  # the certificate is not the site's: no page
    event = stage.agent.wait_for_event("decision", lambda e: e["host"] == "app.blocked.test")
    assert (event["decision"], event["category"]) == ("block", "adult")
    assert_untouched(stage.origins["blocked"])


def test_ipv6_is_captured_too(stage: Stage) -> None:
    allowed = curl(
        stage,
        "--cacert",
        str(stage.origin_ca),
        "--resolve",
        f"allowed.test:443:[{ALLOWED6}]",
        "https://allowed.test/six",
    )
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["origin"] == "allowed6"
    shown = _open_blocked(stage, "http://blocked.test/six", BLOCKED6)
    assert "x-candor-decision: block; category=adult" in shown.lower()
    assert_untouched(stage.origins["blocked6"])


SEND_UDP = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("{address}", 443))
try:
    s.send(b"quic initial?")
    s.recv(64)
    print("answered")
except (ConnectionRefusedError, PermissionError):
    print("refused")
except TimeoutError:
    print("sent")
"""

CONNECT_TCP = """
import socket
try:
    socket.create_connection(("{address}", 853), timeout=5).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
"""


def test_quic_and_dns_over_tls_are_refused_and_never_arrive(stage: Stage) -> None:
    """An ordinary user's UDP 443 datagram and TCP 853 connection are refused in the kernel:
    the listeners there see nothing. Candor's own user (root here) still reaches them, so it is
    the table that refuses, not a missing listener."""
    python = system_python()
    for script, sock in ((SEND_UDP, stage.udp_443), (CONNECT_TCP, stage.tcp_853)):
        done = stage.netns.as_user(python, "-c", script.format(address=ALLOWED))
        assert done.stdout.strip() == "refused", done.stderr
        with pytest.raises(BlockingIOError):
            sock.recvfrom(64) if sock.type == socket.SOCK_DGRAM else sock.accept()
    udp = stage.netns.run(python, "-c", SEND_UDP.format(address=ALLOWED))
    assert udp.stdout.strip() == "sent"
    assert stage.udp_443.recvfrom(64)[0] == b"quic initial?"
    tcp = stage.netns.run(python, "-c", CONNECT_TCP.format(address=ALLOWED))
    assert tcp.stdout.strip() == "connected"
    stage.tcp_853.accept()[0].close()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("--transparent", "192.0.2.1:8081"),
            "candor: --transparent must be an address on this computer only",
        ),
        (
            ("--transparent", "127.0.0.1:8081", "--transparent", "127.0.0.1:8081"),
            "candor: --transparent: each address may be given once.",
        ),
    ],
)
def test_a_transparent_address_elsewhere_or_twice_is_refused_in_one_sentence(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    home = tmp_path / "home"
    write_home(home)
    done = candor(home, "run", "--listen", "127.0.0.1:0", *args, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith(said), done.stderr
    assert "Traceback" not in done.stderr
