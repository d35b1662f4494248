"""`candor run` end to end: a real agent process, real local origins, real clients.

One agent serves the whole module (see proxy_fixtures.py for its rules). Blocked URLs point at
`untouched_origin`, which must never see a connection: that is what proves a blocked host was
not contacted, rather than merely answered for.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mitmproxy import tls
from mitmproxy.proxy import context, server_hooks
from mitmproxy.test import taddons, tflow, tutils

from agent.config import Home, load_config
from agent.journal.events import EventBody
from agent.policy.rulebook import load_rules
from agent.proxy.addons import doh, safesearch
from agent.proxy.addons.connection_gate import ConnectionGate
from agent.proxy.addons.recorder import MAX_RECORDED_PATH, Recorder
from agent.proxy.addons.resolve import Resolve, ResolveSpecError, parse_override
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.names import host_name
from agent.proxy.pages.tokens import MAX_KEPT_RULE, MAX_KEPT_URL, MAX_TOKENS, PageTokens
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.model import Decision, Rule, RuleKind
from tests.conftest import require_tool
from tests.origins import FIXED_BYTES, Origin, OriginCert
from tests.proxy_fixtures import (
    TO_OWN_ORIGIN,
    RunningAgent,
    client_context,
    open_page,
    press,
    start_agent,
    write_home,
)
from tests.report_helpers import next_report


def client(agent: RunningAgent, *cafiles: Path) -> httpx.Client:
    return httpx.Client(proxy=agent.proxy_url, verify=client_context(*cafiles), timeout=10)


@pytest.fixture
def trusting(agent: RunningAgent, origin_cert: OriginCert) -> Iterator[httpx.Client]:
    """A client that trusts Candor's CA and the origin, like a set-up browser."""
    with client(agent, agent.ca_cert, origin_cert.cert) as c:
        yield c


def assert_untouched(untouched: Origin) -> None:
    assert untouched.log.connections == []
    assert untouched.log.requests == []


def start_agent_expecting_failure(home: Path) -> str:
    """Run `candor run` where it must refuse to start; its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--home", str(home), "run", "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert proc.returncode == 1
    return proc.stderr


# --- allowed -------------------------------------------------------------------------------


def test_allowed_http_returns_the_origins_bytes(trusting: httpx.Client, origin: Origin) -> None:
    response = trusting.get(origin.http("allowed.test", "/bytes"))
    assert response.status_code == 200
    assert response.content == FIXED_BYTES
    assert "x-candor-decision" not in response.headers


def test_allowed_https_passes_through_with_the_origins_own_certificate(
    agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    with client(agent, origin_cert.cert) as only_origin:
        response = only_origin.get(origin.https("allowed.test", "/bytes"))
    assert response.status_code == 200
    assert response.content == FIXED_BYTES
    with client(agent, agent.ca_cert) as only_candor, pytest.raises(httpx.ConnectError):
        only_candor.get(origin.https("allowed.test", "/bytes"))


def test_allowed_traffic_leaves_no_trace_in_the_journal(
    trusting: httpx.Client, agent: RunningAgent, origin: Origin, untouched_origin: Origin
) -> None:
    trusting.get(origin.http("quiet.test", "/secret-path"))
    trusting.get(origin.https("quiet.test", "/secret-path"))
    # Events are committed in order: once this later one is visible, so would the others be.
    trusting.get(untouched_origin.http("after-quiet.blocked.test", "/"))
    agent.wait_for_event("decision", lambda e: e["host"] == "after-quiet.blocked.test")
    recorded = json.dumps(agent.events())
    assert "quiet.test" not in recorded
    assert "secret-path" not in recorded


# --- block ---------------------------------------------------------------------------------


def test_blocked_http_shows_the_block_page_and_never_contacts_the_host(
    trusting: httpx.Client, agent: RunningAgent, untouched_origin: Origin
) -> None:
    response = open_page(trusting, untouched_origin.http("plain.blocked.test", "/some/page"))
    assert response.url.host == "candor.invalid"  # shown on Candor's own origin (issue 12, 4)
    assert response.status_code == 403
    assert response.headers["x-candor-decision"] == "block; category=adult"
    page = response.text
    assert (
        "blocked.test" in page
        and "your own rules (rules/adult.txt, line 1)" in page
        and "Sam" in page
    )
    assert "<script src" not in page and "<link" not in page
    event = agent.wait_for_event("decision", lambda e: e["host"] == "plain.blocked.test")
    assert event["decision"] == "block" and event["category"] == "adult"
    assert event["path"] == "/some/page"  # detail level "detailed" in this home
    assert_untouched(untouched_origin)


def test_a_percent_escaped_host_is_decided_and_recorded_by_its_real_name(
    agent: RunningAgent, untouched_origin: Origin
) -> None:
    """`%62locked.test` is `blocked.test` to a browser: the host rule decides it, and the journal
    holds the name the matcher decided on (mitmproxy itself refuses a `%` in a request line's
    or CONNECT's host, so the Host header is where such a name arrives)."""
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=10)
    target = f"http://127.0.0.1:{untouched_origin.http_port}/escaped"
    conn.putrequest("GET", target, skip_host=True)
    conn.putheader("Host", f"%62locked.test:{untouched_origin.http_port}")
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 403
    assert response.getheader("x-candor-decision") == "block"  # no category on the site's origin
    event = agent.wait_for_event("decision", lambda e: e.get("path") == "/escaped")
    assert (event["host"], event["rule"]) == ("blocked.test", "blocked.test")
    assert "%62" not in json.dumps(agent.events())
    assert_untouched(untouched_origin)


def test_blocked_https_shows_the_block_page_and_never_contacts_the_host(
    trusting: httpx.Client, untouched_origin: Origin
) -> None:
    response = open_page(trusting, untouched_origin.https("blocked.test", "/"))
    assert response.status_code == 403
    assert response.headers["x-candor-decision"] == "block; category=adult"
    assert "I think this is a mistake" in response.text
    assert_untouched(untouched_origin)


def test_blocked_https_over_http2_with_curl(agent: RunningAgent, untouched_origin: Origin) -> None:
    curl = require_tool("curl")
    out = subprocess.run(
        [
            curl, "-sS", "--http2", "--proxy", agent.proxy_url, "--cacert", str(agent.ca_cert),
            "-D", "-", "-o", os.devnull, untouched_origin.https("exact-blocked.test", "/x"),
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "\nHTTP/2 403" in out.stdout  # after the proxy's "200 Connection established"
    assert "\nx-candor-decision: block\n" in out.stdout.lower()  # the verdict alone, no category
    assert_untouched(untouched_origin)


def test_mistake_link_records_an_unblock_request(
    trusting: httpx.Client, agent: RunningAgent, untouched_origin: Origin
) -> None:
    url = untouched_origin.https("mistake.blocked.test", "/")
    page = open_page(trusting, url)
    sent = press(trusting, page, "mistake")
    assert sent.status_code == 303
    noted = trusting.get(sent.headers["location"], headers=TO_OWN_ORIGIN)
    assert noted.status_code == 200
    assert "noted" in noted.text
    event = agent.wait_for_event("unblock_request", lambda e: e["host"] == "mistake.blocked.test")
    assert event["category"] == "adult"
    forged = trusting.post("http://candor.invalid/mistake?t=guessed", headers=TO_OWN_ORIGIN)
    assert forged.status_code == 403 and "Nothing was changed" in forged.text
    assert_untouched(untouched_origin)


def test_never_inspect_host_that_is_blocked_is_refused_at_connect(
    trusting: httpx.Client, agent: RunningAgent, untouched_origin: Origin
) -> None:
    with pytest.raises(httpx.ProxyError):
        trusting.get(untouched_origin.https("neverblocked.test", "/"))
    agent.wait_for_event("decision", lambda e: e["host"] == "neverblocked.test")
    assert_untouched(untouched_origin)


def test_never_inspect_host_is_not_decrypted(
    agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    with client(agent, origin_cert.cert) as only_origin:
        assert only_origin.get(origin.https("bank.test", "/")).status_code == 200


# --- warn and log --------------------------------------------------------------------------


def test_warn_then_continue(trusting: httpx.Client, agent: RunningAgent, origin: Origin) -> None:
    url = origin.https("warned.test", "/page")
    first = open_page(trusting, url)
    assert first.status_code == 403
    assert first.headers["x-candor-decision"] == "warn; category=gambling"
    assert origin.log.requests_for("warned.test") == []
    onward = press(trusting, first, "continue")
    assert onward.status_code == 303
    assert onward.headers["location"] == url
    assert open_page(trusting, url).status_code == 200
    assert len(origin.log.requests_for("warned.test")) == 1
    event = agent.wait_for_event("warn_continue", lambda e: e["host"] == "warned.test")
    assert event["category"] == "gambling"
    # the token was spent: pressing "continue" again changes nothing
    again = press(trusting, first, "continue")
    assert again.status_code == 403 and "Nothing was changed" in again.text


def test_log_lets_the_request_through_and_records_it(
    trusting: httpx.Client, agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    assert trusting.get(origin.http("logged.test", "/a")).status_code == 200
    with client(agent, origin_cert.cert) as only_origin:  # host-level log: not decrypted
        assert only_origin.get(origin.https("www.logged.test", "/b")).status_code == 200
    for host in ("logged.test", "www.logged.test"):
        event = agent.wait_for_event("decision", lambda e, h=host: e["host"] == h)
        assert event["decision"] == "log" and event["category"] == "watch"


# --- SafeSearch, search capture, DoH --------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "path", "param", "value"),
    [
        ("www.google.com", "/search?q=kittens&safe=off", "safe", "active"),
        ("www.bing.com", "/search?q=kittens", "adlt", "strict"),
        ("duckduckgo.com", "/?q=kittens&kp=-2", "kp", "1"),
    ],
)
def test_safesearch_is_enforced(
    trusting: httpx.Client, origin: Origin, host: str, path: str, param: str, value: str
) -> None:
    response = trusting.get(origin.https(host, path))
    assert response.status_code == 200
    assert response.json()["query"][param] == [value]
    assert response.json()["query"]["q"] == ["kittens"]


def test_youtube_restricted_mode_header(trusting: httpx.Client, origin: Origin) -> None:
    response = trusting.get(origin.https("www.youtube.com", "/results?search_query=cats"))
    assert response.json()["headers"]["youtube-restrict"] == "Strict"


def test_search_terms_are_matched_against_keywords(
    trusting: httpx.Client, agent: RunningAgent, origin: Origin
) -> None:
    before = len(origin.log.requests_for("www.bing.com"))
    response = trusting.get(origin.https("www.bing.com", "/search?q=some+forbiddenword+here"))
    assert response.status_code == 403
    assert response.headers["x-candor-decision"] == "block"  # a bare refusal: not a navigation
    suggestion = trusting.get(origin.https("duckduckgo.com", "/ac/?q=forbiddenword"))
    assert suggestion.status_code == 403
    form = trusting.post(origin.https("html.duckduckgo.com", "/html/"), data={"q": "forbiddenword"})
    assert form.status_code == 403  # the terms arrive in the body
    assert origin.log.requests_for("html.duckduckgo.com") == []
    assert len(origin.log.requests_for("www.bing.com")) == before
    terms = "some forbiddenword here"  # the "detailed" level keeps the terms
    event = agent.wait_for_event("search", lambda e: e["engine"] == "bing" and e["terms"] == terms)
    assert event["category"] == "adult"


def test_dns_over_https_is_blocked_on_an_intercepted_host(
    trusting: httpx.Client, agent: RunningAgent, origin: Origin
) -> None:
    by_path = trusting.get(origin.https("inspected.test", "/dns-query?dns=AAABAAABAAAAAAAA"))
    assert by_path.status_code == 403
    assert by_path.headers["x-candor-decision"] == "block"
    assert by_path.content == b""  # a resolver's client gets no page
    opened = open_page(trusting, origin.https("inspected.test", "/dns-query?dns=AAABAAABAAAAAAAA"))
    assert opened.headers["x-candor-decision"] == "block; category=bypass"  # on candor.invalid
    by_type = trusting.post(
        origin.https("www.google.com", "/resolve"),
        content=b"\x00\x00\x01\x00",
        headers={"content-type": "application/dns-message"},
    )
    assert by_type.status_code == 403
    reached = [r for r in origin.log.requests_for("inspected.test") if r.path == "/dns-query"]
    assert reached == []  # other tests browse inspected.test's pages on this origin
    event = agent.wait_for_event("bypass_suspected", lambda e: e["host"] == "inspected.test")
    assert event["what"] == "DoH"


# --- pinned clients ------------------------------------------------------------------------


def test_a_pinned_client_falls_back_to_passthrough(
    agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    url = origin.https("pinned.test", "/")
    with client(agent, origin_cert.cert) as pinned:
        # Intercepted for its path rule: Candor's certificate, refused. The first refusal marks
        # the host; the second, looked up while the connection is open, names the program.
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                pinned.get(url)
        event = agent.wait_for_event("pinned_passthrough", lambda e: e["host"] == "pinned.test")
        response = pinned.get(url)
    assert response.status_code == 200
    assert response.json()["host"].startswith("pinned.test")
    assert event["client"] == "127.0.0.1"
    if Path("/proc/net/tcp").exists():
        assert event["program"] == Path("/proc/self/comm").read_text().strip()


def curl_through(agent: RunningAgent, url: str, cafile: Path) -> subprocess.CompletedProcess:
    """`curl` through the agent, trusting only `cafile`: another program than this test's."""
    argv = ["curl", "-s", "-o", "-", "-w", "\\n%{http_code}", "--proxy", agent.proxy_url]
    return subprocess.run(
        [*argv, "--cacert", str(cafile), url], capture_output=True, text=True, timeout=30
    )


def test_one_program_refusing_the_certificate_leaves_the_rules_on_for_the_others(
    agent: RunningAgent, trusting: httpx.Client, origin: Origin, origin_cert: OriginCert
) -> None:
    """curl pins (trusts only the origin's certificate); this test's own client still gets the
    path rule and SafeSearch on the same hosts."""
    require_tool("curl")
    if not Path("/proc/net/tcp").exists():
        pytest.skip("programs are told apart through /proc (Linux)")
    search = origin.https("duckduckgo.com", "/?q=kittens&kp=-2")
    private = origin.https("twoclients.test", "/private")
    for url in (search, private):
        for _ in range(2):  # refused: Candor's certificate
            assert curl_through(agent, url, origin_cert.cert).returncode != 0
    for host in ("duckduckgo.com", "twoclients.test"):
        event = agent.wait_for_event("pinned_passthrough", lambda e, h=host: e["host"] == h)
        assert (event["client"], event["program"]) == ("127.0.0.1", "curl")
    # curl now passes through: its own query and the private path reach the origin untouched.
    done = curl_through(agent, search, origin_cert.cert)
    assert done.stdout.endswith("\n200"), done
    assert json.loads(done.stdout.rsplit("\n", 1)[0])["query"]["kp"] == ["-2"]
    assert curl_through(agent, private, origin_cert.cert).stdout.endswith("\n200")
    # The other program, on the same hosts: SafeSearch and the path rule still apply.
    assert trusting.get(search).json()["query"]["kp"] == ["1"]
    blocked = trusting.get(private)
    assert blocked.status_code == 403
    assert blocked.headers["x-candor-decision"] == "block"
    # The partner reads which program it was, and where.
    doc, text = next_report(agent.home)
    pinned = doc["integrity"]["pinned_passthroughs"]
    assert "curl" in pinned["programs"]
    assert {"duckduckgo.com", "twoclients.test"} <= set(pinned["hosts"])
    assert "An app refused Candor's certificate, so Candor let its connections through" in text
    assert "curl" in text.split("An app refused", 1)[1]


def test_a_blocked_host_stays_blocked_for_a_pinned_client(
    agent: RunningAgent, untouched_origin: Origin, origin_cert: OriginCert
) -> None:
    url = untouched_origin.https("pinning.blocked.test", "/")
    with client(agent, origin_cert.cert) as pinned:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                pinned.get(url)
    assert not [e for e in agent.events("pinned_passthrough") if "blocked" in e["host"]]
    assert_untouched(untouched_origin)


# --- the agent itself ----------------------------------------------------------------------


def test_editing_a_rules_file_changes_decisions_without_dropping_connections(
    agent: RunningAgent, origin: Origin
) -> None:
    keep_alive = http.client.HTTPConnection(agent.host, agent.port, timeout=10)
    keep_alive.request("GET", origin.http("still-open.test", "/1"))
    assert keep_alive.getresponse().read() and keep_alive.sock is not None
    socket_before = keep_alive.sock

    later = origin.http("later.test", "/")
    assert httpx.get(later, proxy=agent.proxy_url).status_code == 200
    rules = agent.home / "rules" / "edited.txt"
    rules.write_text(rules.read_text() + "later.test\n")
    deadline = time.monotonic() + 20
    while httpx.get(later, proxy=agent.proxy_url).status_code != 403:
        assert time.monotonic() < deadline, "the edit was not applied"
        time.sleep(0.1)

    keep_alive.request("GET", origin.http("still-open.test", "/2"))
    response = keep_alive.getresponse()
    assert response.status == 200 and response.read()
    assert keep_alive.sock is socket_before  # same connection, not a reconnect
    keep_alive.close()
    event = agent.wait_for_event("rules_changed", lambda e: not e["while_stopped"])
    assert event["changes"] == [
        {
            "category": "edited",
            "tightening": ["later.test"],
            "loosening": [],
            "appeared": False,
            "disappeared": False,
        }
    ]


def test_lowering_a_category_in_the_config_is_recorded_as_loosening(
    agent: RunningAgent, origin: Origin
) -> None:
    relaxed = origin.http("relaxed.test", "/")
    assert httpx.get(relaxed, proxy=agent.proxy_url).status_code == 403
    config = agent.home / "config.toml"
    config.write_text(config.read_text() + '\n[categories.relaxed]\naction = "log"\n')
    deadline = time.monotonic() + 20
    while httpx.get(relaxed, proxy=agent.proxy_url).status_code != 200:
        assert time.monotonic() < deadline, "the config change was not applied"
        time.sleep(0.1)
    event = agent.wait_for_event("config_changed")
    assert event["changes"] == [
        {"what": "categories.relaxed.action", "from": "block", "to": "log", "loosening": True}
    ]


def test_a_second_agent_on_the_same_home_refuses_to_start(agent: RunningAgent) -> None:
    assert "already running" in start_agent_expecting_failure(agent.home)


def test_the_ca_key_is_private(agent: RunningAgent) -> None:
    confdir = agent.home / "mitmproxy"
    assert confdir.stat().st_mode & 0o777 == 0o700
    assert (confdir / "mitmproxy-ca.pem").stat().st_mode & 0o777 == 0o600
    assert agent.ca_cert.exists()
    pid, address = (agent.home / "agent.pid").read_text().split()
    assert int(pid) == agent.process.pid
    assert address == f"{agent.host}:{agent.port}"


def test_ctrl_c_stops_the_agent_cleanly(tmp_path: Path) -> None:
    """SIGINT here; the shared agent's teardown checks SIGTERM the same way."""
    home = tmp_path / "home"
    write_home(home)
    running = start_agent(home, "--listen", "127.0.0.1:0")
    assert (home / "agent.pid").exists()
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=20) == 0, "".join(running.stderr_lines)
    assert not (home / "agent.pid").exists()
    assert running.events("agent_stop")[-1]["clean"] is True


# --- spellings (issue 12, item 15) ---------------------------------------------------------

SPELLING_RULES = "=127.0.0.1\nspelled.allowed.test/secret\n"
"""A path rule on an otherwise allowed host, and a rule for the address the origins listen on:
a spelling that slipped past either would reach the untouched origin."""


def raw_get(
    agent: RunningAgent, authority: str, path: str, host: str | None = None
) -> http.client.HTTPResponse:
    """A proxied GET sent byte for byte as written: no client tidies the spelling first.
    `host` is the Host header, when it should name another site than the request line."""
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=10)
    return get_as_written(conn, f"http://{authority}{path}", host or authority)


def get_as_written(
    conn: http.client.HTTPConnection, target: str, host: str
) -> http.client.HTTPResponse:
    """Send a GET for `target` with exactly this Host header; its answer, read whole."""
    conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_other_spellings_of_a_blocked_path_or_address_are_blocked(
    tmp_path: Path, origin: Origin, untouched_origin: Origin, origin_cert: OriginCert
) -> None:
    home = tmp_path / "home"
    write_home(home)
    (home / "rules" / "spellings.txt").write_text(SPELLING_RULES)
    running = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1",
        "--upstream-ca", str(origin_cert.cert),
    )  # fmt: skip
    try:
        # The host is allowed: other paths reach the origin, decrypted for the path rule.
        with client(running, running.ca_cert, origin_cert.cert) as browser:
            assert browser.get(origin.https("spelled.allowed.test", "/public")).status_code == 200
            for path in ("/SECRET", "/%73ecret"):
                response = browser.get(untouched_origin.https("spelled.allowed.test", path))
                assert response.status_code == 403, path
                assert response.headers["x-candor-decision"] == "block"
        port = untouched_origin.http_port
        for path in ("//secret", "/./secret", "/Secret/../%53ECRET"):
            assert raw_get(running, f"spelled.allowed.test:{port}", path).status == 403, path
        assert raw_get(running, f"spelled.allowed.test:{origin.http_port}", "/secre").status == 200
        addresses = [
            "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "127.000.000.001",
            "[::ffff:127.0.0.1]",
        ]  # fmt: skip
        for i, address in enumerate(addresses):
            response = raw_get(running, f"{address}:{port}", f"/ip-{i}")
            assert response.status == 403, address
            assert response.getheader("x-candor-decision") == "block"
        # The rule names an address, not what a name resolves to; another address is not it.
        assert raw_get(running, f"allowed.test:{origin.http_port}", "/by-name").status == 200
        other = raw_get(running, f"127.0.0.2:{port}", "/other-address")
        assert other.getheader("x-candor-decision") is None
        # The journal names the host the rules decided on; the path is kept as it was sent.
        event = running.wait_for_event("decision", lambda e: e.get("path") == "/%73ecret")
        assert (event["host"], event["rule"]) == (
            "spelled.allowed.test",
            "spelled.allowed.test/secret",
        )
        last = f"/ip-{len(addresses) - 1}"
        running.wait_for_event("decision", lambda e: e.get("path") == last)
        by_address = [e for e in running.events("decision") if e["path"].startswith("/ip-")]
        assert {(e["host"], e["rule"]) for e in by_address} == {("127.0.0.1", "=127.0.0.1")}
        assert len(by_address) == len(addresses)
    finally:
        assert running.stop() == 0, "".join(running.stderr_lines)
    assert_untouched(untouched_origin)


# --- the pieces, without a proxy -----------------------------------------------------------


def test_resolve_overrides_prefer_the_most_specific_pattern() -> None:
    resolve = Resolve(
        [parse_override(s) for s in ("*:10.0.0.1", "*.test:127.0.0.2", "a.b.test:127.0.0.3")]
    )
    assert resolve.lookup("a.b.test") == "127.0.0.3"
    assert resolve.lookup("c.b.test") == "127.0.0.2"
    assert resolve.lookup("test") == "10.0.0.1"
    assert parse_override("host.test:[::1]").address == "::1"
    for bad in ("nocolon", "*.test:not-an-ip", ":127.0.0.1"):
        with pytest.raises(ResolveSpecError):
            parse_override(bad)


def test_doh_is_recognised_by_protocol_not_by_host() -> None:
    assert doh.looks_like_doh(tutils.treq(path=b"/dns-query"))
    assert doh.looks_like_doh(tutils.treq(path=b"/x?dns=AAAB"))
    assert doh.looks_like_doh(
        tutils.treq(path=b"/resolve", headers=[(b"accept", b"application/dns-json")])
    )
    assert not doh.looks_like_doh(tutils.treq(path=b"/dns-queries/article?q=dns"))


def test_search_terms_come_only_from_search_paths() -> None:
    search = tutils.treq(host="www.google.com", path=b"/search?q=red+shoes")
    assert safesearch.search_of(search, "google") == safesearch.Search("google", "red shoes")
    link_out = tutils.treq(host="www.google.com", path=b"/url?q=https://example.com/")
    assert safesearch.search_of(link_out, "google") is None
    assert safesearch.engine_for("www.google.co.uk") == "google"
    assert safesearch.engine_for("mail.google.com") is None


@pytest.mark.parametrize(
    ("settings", "decrypted"),
    [
        ("", True),
        ("[safesearch]\nenabled = false\n", True),  # search capture still reads the terms
        ("[safesearch]\nenabled = false\n[search_capture]\nenabled = false\n", False),
    ],
)
def test_search_engines_are_decrypted_only_while_something_needs_it(
    tmp_path: Path, settings: str, decrypted: bool
) -> None:
    home = Home.at(tmp_path / "home")
    home.ensure()
    home.config_file.write_text(settings)
    loaded = load_rules(home, load_config(home), safesearch.hosts_to_inspect)
    assert loaded.matcher.check_host("www.google.com").intercept is decrypted
    assert loaded.matcher.check_host("www.youtube.com").intercept is decrypted


def test_warn_tokens_are_single_use_and_cookie_bound() -> None:
    now = [0.0]
    state = PageTokens(clock=lambda: now[0])
    token = state.issue("a.test", "gambling", "a.test", "g.txt:1", "warn", "https://a.test/")
    shown = state.shown(token)
    assert shown is not None
    other = state.shown(state.issue("a.test", "gambling", "a.test", "g.txt:1", "warn", "x"))
    assert other is not None and other.cookie != shown.cookie
    assert state.redeem(token, other.cookie) is None  # another page's cookie: nothing spent
    assert state.redeem(token, "") is None and state.report(token, "é") == (None, False)
    assert state.redeem(token, shown.cookie) is not None
    assert state.redeem(token, shown.cookie) is None
    state.allow("a.test")
    now[0] += 9 * 60
    assert state.allowed("a.test")
    now[0] += 2 * 60
    assert not state.allowed("a.test")


def test_a_burst_of_huge_urls_keeps_the_token_store_small() -> None:
    """Issue 12, item 1: 2,048 pages for 1 MB URLs (a hostile page's images) keep at most the
    pool's tokens, each with at most `MAX_KEPT_URL` characters, and never push out the tokens of
    pages the person opened."""
    state = PageTokens()
    own = state.issue("warned.test", "gambling", "warned.test", "g.txt:1", "warn",
                      "https://warned.test/a")  # fmt: skip
    huge = "https://blocked.test/" + "x" * 1_000_000
    for _ in range(2048):
        state.issue("blocked.test", "adult", "r" * 5000, "a.txt:1", "block", huge,
                    navigation=False)  # fmt: skip
    assert len(state) == MAX_TOKENS + 1  # the subresources' pool is full; the person's is not
    kept = state.shown(own)
    assert kept is not None and kept.url == "https://warned.test/a"
    mine = [state.issue("blocked.test", "adult", "r" * 5000, "a.txt:1", "block", huge)
            for _ in range(3)]  # fmt: skip
    shown = state.shown(mine[0])
    assert shown is not None
    assert shown.url == "https://blocked.test/"  # too long to keep: its site's front page
    assert len(shown.rule or "") == MAX_KEPT_RULE
    assert MAX_KEPT_URL * 2 * MAX_TOKENS < 10_000_000  # the bound: a few MB, whatever pages send


def test_tls_context_helper_trusts_nothing_else() -> None:
    context = client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.get_ca_certs() == []


def test_the_gate_decides_connections_on_sni_and_connect_target() -> None:
    """Hooks called directly: the ECH case and the upstream refusal are hard to reach end to end."""
    rules = [Rule(RuleKind.DOMAIN, "blocked.test", source="adult.txt:1")]
    matcher = Matcher.compile(Policy(categories=[CategoryPolicy("adult", "block", rules)]))
    recorded: list[tuple[str, dict]] = []
    recorder = Recorder(lambda event: recorded.append((event.kind, event.as_body())))
    addon = ConnectionGate(lambda: matcher, recorder)

    def hello(sni: str, target: str) -> tls.ClientHelloData:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=sni)
        with pytest.raises(ssl.SSLWantReadError):
            obj.do_handshake()
        client_conn, server_conn = tflow.tclient_conn(), tflow.tserver_conn()
        server_conn.address = (target, 443)
        ctx = context.Context(client_conn, tctx.options)
        ctx.server = server_conn
        return tls.ClientHelloData(ctx, tls.ClientHello(outgoing.read()[9:]))

    with taddons.context(addon) as tctx:
        passthrough = hello("ok.test", "ok.test")
        addon.tls_clienthello(passthrough)
        assert passthrough.ignore_connection
        outer_sni_innocent = hello("cover.example", "www.blocked.test")
        addon.tls_clienthello(outer_sni_innocent)
        assert not outer_sni_innocent.ignore_connection
        # The same question asked before any TLS layer exists (EarlyPassthrough).
        assert addon.passes_at_hello("ok.test", ("ok.test", 443))
        assert not addon.passes_at_hello("cover.example", ("www.blocked.test", 443))
        assert not addon.passes_at_hello("blocked.test", ("ok.test", 443))

        server = tflow.tserver_conn()
        server.address = ("blocked.test", 443)
        data = server_hooks.ServerConnectionHookData(server, tflow.tclient_conn())
        addon.server_connect(data)
        assert data.server.error
        server = tflow.tserver_conn()
        server.address = ("ok.test", 443)
        data = server_hooks.ServerConnectionHookData(server, tflow.tclient_conn())
        addon.server_connect(data)
        assert not data.server.error
    # Allowed hosts leave nothing; the upstream refusal is journaled (issue 12, item 3).
    assert [(kind, body["host"], body["decision"]) for kind, body in recorded] == [
        ("decision", "blocked.test", "block")
    ]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_resolve_keeps_one_upstream_connection_for_a_keep_alive_client(
    agent: RunningAgent, origin: Origin, scheme: str
) -> None:
    """`--resolve` acts as a resolver: 50 requests on one client connection reach the origin
    over one upstream connection (it used to open, and keep, one per request)."""
    host = "inspected.test" if scheme == "https" else "allowed.test"
    url = origin.https(host, "/keep-alive") if scheme == "https" else origin.http(host, "/k")
    before = len(origin.log.connections)
    with httpx.Client(proxy=agent.proxy_url, verify=client_context(agent.ca_cert)) as client:
        for _ in range(50):
            assert client.get(url).status_code == 200
    with origin.log.lock:
        opened = origin.log.connections[before:]
    assert len(opened) == 1, opened


def curl_probe(agent: RunningAgent, url: str) -> tuple[int, str]:
    """What a page's probe of `url` through the agent learns: curl's exit code and the answer's
    status codes (the CONNECT's and the request's), trusting any certificate."""
    argv = ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code} %{http_connect}"]
    done = subprocess.run(
        [*argv, "--proxy", agent.proxy_url, url], capture_output=True, text=True, timeout=30
    )
    return done.returncode, done.stdout


def test_a_web_page_cannot_tell_that_candor_is_there(agent: RunningAgent) -> None:
    """The canary answers only this agent's secret name: a page probing the canary's known names
    gets what any unknown host gets (issue 12, item 13). The agent's own self-check still finds
    its canary: see test_install_linux's reinstall test (`ok` is True)."""
    require_tool("curl")
    for scheme in ("https", "http"):
        unknown = curl_probe(agent, f"{scheme}://nothing-here.invalid/")
        assert unknown[1].split()[0] != "200"
        for name in ("canary.candor.invalid", "0123abcd.canary.candor.invalid"):
            assert curl_probe(agent, f"{scheme}://{name}/") == unknown, name


def test_megabyte_host_names_and_paths_are_not_kept() -> None:
    """Issue 12, item 1 and 9: names of implausible length are not cached, and the journal keeps
    at most `MAX_RECORDED_PATH` characters of a path."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(64):
            host_name(f"{i}" + "a" * 1_000_000)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 5_000_000, kept
    recorded: list[EventBody] = []
    recorder = Recorder(recorded.append, lambda: FilterSettings(detailed=True))
    decision = Decision("block", "adult", "block", "blocked.test", "adult.txt:1")
    recorder.decided(decision, "blocked.test", "/" + "p" * 1_000_000 + "?q=1")
    (event,) = recorded
    assert len(event.as_body()["path"]) == MAX_RECORDED_PATH


# --- a Host header naming another site (issue 12, item 3) ----------------------------------


def tunnelled_get(
    agent: RunningAgent, target: str, port: int, host: str, path: str
) -> http.client.HTTPResponse:
    """A GET inside a CONNECT tunnel to `target` whose Host header names `host` instead."""
    conn = http.client.HTTPSConnection(
        agent.host, agent.port, timeout=10, context=client_context(agent.ca_cert)
    )
    conn.set_tunnel(target, port)
    return get_as_written(conn, path, host)


def test_a_host_header_naming_an_allowed_site_does_not_carry_a_request_past_the_rules(
    agent: RunningAgent, untouched_origin: Origin
) -> None:
    """The server may route by the target or the Host header: the rules of both apply, the
    stricter wins, and every refusal is journaled, over HTTP and HTTPS."""
    port, tls_port = untouched_origin.http_port, untouched_origin.https_port
    warned = raw_get(agent, f"hostheader.warned.test:{port}", "/", host=f"allowed.test:{port}")
    assert (warned.getheader("x-candor-decision") or "").startswith("warn")
    blocked = raw_get(agent, f"hostname.blocked.test:{port}", "/", host="allowed.test")
    assert blocked.status == 403
    assert blocked.getheader("x-candor-decision") == "block"  # a bare refusal
    # Inside a tunnel: a path rule on the CONNECT target, a Host header naming another site.
    private = tunnelled_get(agent, "inspected.test", tls_port, "allowed.test", "/private")
    assert private.status == 403
    assert private.getheader("x-candor-decision") == "block"
    # The stricter name wins the other way round too: a blocked Host header, an allowed target.
    reverse = raw_get(agent, f"allowed.test:{port}", "/", host="reverse.blocked.test")
    assert reverse.status == 403
    assert_untouched(untouched_origin)
    refused = ("hostheader.warned.test", "hostname.blocked.test", "inspected.test")
    for host in (*refused, "reverse.blocked.test"):
        agent.wait_for_event("decision", lambda e, host=host: e["host"] == host)
