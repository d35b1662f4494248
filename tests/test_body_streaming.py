"""Bodies stream through Candor instead of being held whole (issue 12, item 2).

The origin (tests/origins.py, `Origin.hold`) sends the first chunk of a 256 MB body and holds
the rest back until the client has that chunk; for an upload, the client holds back the rest
until the origin has the first chunk. A proxy that holds bodies whole never passes the first
chunk on, so each exchange below would stall until its generous timeout; streamed, it completes.
No timing is asserted.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mitmproxy.test import tflow, tutils

from agent.proxy.addons.body_streaming import (
    MAX_READ_BODY,
    BodyStreaming,
    announced_size,
    read_body,
)
from tests.origins import HELD_FIRST, HELD_SIZE, Hold, Origin
from tests.proxy_fixtures import RunningAgent, client_context

WAIT = 60.0
"""Generous: how long a client or the test waits for the other side's first chunk."""
CHUNK = b"y" * HELD_FIRST

# (scheme, host): plain HTTP on an allowed host, and HTTPS on a host Candor decrypts because a
# path rule names it (`inspected.test/private`), with the request itself allowed.
ROUTES = [("http", "allowed.test"), ("https", "inspected.test")]


@contextmanager
def connection(
    agent: RunningAgent, origin: Origin, scheme: str, host: str
) -> Iterator[tuple[http.client.HTTPConnection, str]]:
    """A connection through the agent to `host` on the origin, and the prefix of its targets:
    absolute-form for HTTP, a CONNECT tunnel trusting Candor's CA for HTTPS."""
    conn: http.client.HTTPConnection
    if scheme == "http":
        conn = http.client.HTTPConnection(agent.host, agent.port, timeout=WAIT)
        prefix = f"http://{host}:{origin.http_port}"
    else:
        context = client_context(agent.ca_cert)
        conn = http.client.HTTPSConnection(agent.host, agent.port, timeout=WAIT, context=context)
        conn.set_tunnel(host, origin.https_port)
        prefix = ""
    try:
        yield conn, prefix
    finally:
        conn.close()


def download(conn: http.client.HTTPConnection, target: str, hold: Hold) -> int:
    """GET a held body: the origin sends the rest only once this client has the first chunk."""
    try:
        conn.request("GET", target)
        try:
            response = conn.getresponse()
            first = response.read(HELD_FIRST)
        except TimeoutError:
            pytest.fail(f"no first chunk within {WAIT:.0f} s: the proxy held the body whole")
        assert response.status == 200
        assert len(first) == HELD_FIRST
        hold.released.set()
        total = len(first)
        while chunk := response.read(2**20):
            total += len(chunk)
        return total
    finally:
        hold.released.set()  # frees the origin's handler if the test failed


def upload(conn: http.client.HTTPConnection, target: str, hold: Hold) -> http.client.HTTPResponse:
    """POST a held body: the rest goes only once the origin has the first chunk."""
    conn.putrequest("POST", target)
    conn.putheader("Content-Length", str(HELD_SIZE))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    conn.send(CHUNK)
    assert hold.arrived.wait(WAIT), (
        f"the origin had no first chunk within {WAIT:.0f} s: the proxy held the body whole"
    )
    for _ in range(HELD_SIZE // HELD_FIRST - 1):
        conn.send(CHUNK)
    return conn.getresponse()


@pytest.mark.parametrize(("scheme", "host"), ROUTES)
def test_a_download_streams_to_the_client(
    agent: RunningAgent, origin: Origin, scheme: str, host: str
) -> None:
    hold = origin.hold()
    with connection(agent, origin, scheme, host) as (conn, prefix):
        assert download(conn, f"{prefix}/held/{hold.key}", hold) == HELD_SIZE


@pytest.mark.parametrize(("scheme", "host"), ROUTES)
def test_an_upload_streams_to_the_origin(
    agent: RunningAgent, origin: Origin, scheme: str, host: str
) -> None:
    hold = origin.hold()
    with connection(agent, origin, scheme, host) as (conn, prefix):
        response = upload(conn, f"{prefix}/held/{hold.key}", hold)
        assert response.status == 200
        assert json.loads(response.read()) == {"received": HELD_SIZE}


# --- the bodies Candor reads ---------------------------------------------------------------


def test_a_duckduckgo_form_is_read_up_to_the_bound(agent: RunningAgent, origin: Origin) -> None:
    """The form's terms are still matched when the form is padded to just under the bound."""
    form = b"q=forbiddenword&pad=" + b"p" * (MAX_READ_BODY - 40)
    assert len(form) <= MAX_READ_BODY
    with connection(agent, origin, "https", "html.duckduckgo.com") as (conn, _):
        conn.request("POST", "/html/", form, {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        assert response.status == 403
        assert response.headers["x-candor-decision"] == "block"  # a bare refusal: not a navigation


def test_an_oversized_duckduckgo_form_streams_unread(agent: RunningAgent, origin: Origin) -> None:
    """A body over the bound is not held to look for a search: it goes on as it comes."""
    hold = origin.hold()
    with connection(agent, origin, "https", "html.duckduckgo.com") as (conn, _):
        response = upload(conn, f"/held/{hold.key}", hold)
        assert response.status == 200
        assert json.loads(response.read()) == {"received": HELD_SIZE}


@pytest.mark.parametrize(
    ("scheme", "host", "path"),
    [("http", "blocked.test", "/upload"), ("https", "inspected.test", "/private/upload")],
)
def test_a_request_candor_answers_still_gets_its_page(
    agent: RunningAgent, origin: Origin, untouched_origin: Origin, scheme: str, host: str, path: str
) -> None:
    """Streaming is never asked of a request Candor answers (mitmproxy would refuse it)."""
    target_origin = untouched_origin if host == "blocked.test" else origin
    before = len(origin.log.requests_for(host))
    with connection(agent, target_origin, scheme, host) as (conn, prefix):
        conn.request("POST", f"{prefix}{path}", b"a=1" * 1000, {"Content-Type": "text/plain"})
        response = conn.getresponse()
        assert response.status == 403
        assert response.headers["x-candor-decision"] == "block"  # a bare refusal
    assert untouched_origin.log.requests == []
    assert len(origin.log.requests_for(host)) == before


@pytest.mark.parametrize(
    ("scheme", "host", "path"),
    [("http", "huge.blocked.test", "/upload"), ("https", "inspected.test", "/private/huge")],
)
@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
def test_a_huge_post_to_a_blocked_address_is_cut_off_not_held(
    agent: RunningAgent,
    origin: Origin,
    untouched_origin: Origin,
    scheme: str,
    host: str,
    path: str,
    announced: bool,
) -> None:
    """A page sending a gigabyte to a blocked address: Candor answers such a request itself, so
    mitmproxy would read the whole body to drop it. The connection is closed instead, after the
    decision is journaled, long before the body could be held."""
    target_origin = untouched_origin if scheme == "http" else origin
    with connection(agent, target_origin, scheme, host) as (conn, prefix):
        conn.putrequest("POST", f"{prefix}{path}")
        if announced:
            conn.putheader("Content-Length", str(2**30))
        else:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        sent = 0
        with pytest.raises(OSError):  # reset or broken pipe: the agent closed the connection
            while sent < 2**30:
                chunk = CHUNK if announced else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
                conn.send(chunk)
                sent += len(CHUNK)
            conn.getresponse()  # never reached with a 1 GB body: at most a closed socket
    assert sent < 256 * HELD_FIRST  # cut off within a quarter of the gigabyte at most
    name = host if scheme == "http" else "inspected.test"
    agent.wait_for_event("decision", lambda e: e["host"] == name and e.get("path") == path)
    assert untouched_origin.log.requests == []


# --- the addon's decisions -----------------------------------------------------------------


def test_the_announced_size_of_a_body() -> None:
    def request(version: str, method: str, **headers: str) -> object:
        req = tutils.treq(method=method.encode(), http_version=version.encode())
        req.headers.clear()
        req.headers.update(headers)
        return req

    assert announced_size(request("HTTP/1.1", "POST", **{"content-length": "12"})) == 12
    assert announced_size(request("HTTP/1.1", "POST")) == 0
    assert announced_size(request("HTTP/1.1", "POST", **{"transfer-encoding": "chunked"})) is None
    assert announced_size(request("HTTP/1.1", "POST", **{"content-length": "-1"})) is None
    assert announced_size(request("HTTP/1.1", "POST", **{"content-length": "9" * 40})) is None
    assert announced_size(request("HTTP/1.1", "POST", **{"content-length": "²"})) is None
    assert announced_size(request("HTTP/2.0", "GET")) == 0
    assert announced_size(request("HTTP/2.0", "POST")) is None  # may come without saying


def posted(size: int, *, read: bool = False, answered: bool = False) -> tflow.HTTPFlow:
    """A POST of `size` bytes through the addon; `read` if an addon asked for its body."""
    flow = tflow.tflow()
    flow.request.method = "POST"
    flow.request.headers["content-length"] = str(size)
    if read:
        read_body(flow)
    if answered:
        flow.response = tutils.tresp()
    BodyStreaming().requestheaders(flow)
    return flow


def test_every_body_streams_unless_an_addon_reads_it() -> None:
    assert posted(100).request.stream is True
    assert posted(100, read=True).request.stream is False
    assert posted(MAX_READ_BODY, read=True).request.stream is False
    assert posted(MAX_READ_BODY + 1, read=True).request.stream is True  # too large to read
    assert posted(HELD_SIZE, answered=True).request.stream is False  # nothing goes upstream
    flow = posted(100)
    flow.response = tutils.tresp()
    BodyStreaming().responseheaders(flow)
    assert flow.response.stream is True
