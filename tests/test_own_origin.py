"""Issue 12, item 4: Candor's pages live on its own origin, `http://candor.invalid/`, where the
blocked site can neither read nor drive them. Each test does the attack through the real agent
(the shared one of proxy_fixtures.py: `warned.test` warns, `inspected.test/private` is blocked
on an otherwise allowed host, the partner is Sam). The same flow in a real browser, framing
included, is in tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from mitmproxy.test import tflow, tutils

from agent.config import Config
from agent.proxy.addons.own_origin import OwnOrigin
from agent.proxy.filter_settings import filter_settings
from agent.proxy.pages.origin import ORIGIN
from agent.proxy.pages.render import PageInfo, block_page, csp_source, source_words
from agent.proxy.pages.tokens import PageTokens
from agent.proxy.request_kind import vouched_navigation
from rules.model import Decision
from tests.conftest import require_tool
from tests.origins import Origin, OriginCert
from tests.proxy_fixtures import (
    NAVIGATION,
    TO_OWN_ORIGIN,
    RunningAgent,
    client_context,
    form_target,
    open_page,
    press,
)

PERSONAL = ("adult", "gambling", "sam", ".txt", "private", "candor.invalid", "t=")
"""What a response on the site's own origin must never carry: category, partner, rule, token."""


def browser(agent: RunningAgent, origin_cert: OriginCert) -> httpx.Client:
    """A client with its own cookie jar, trusting Candor's CA and the origin, like a browser."""
    verify = client_context(agent.ca_cert, origin_cert.cert)
    return httpx.Client(proxy=agent.proxy_url, verify=verify, timeout=10)


@pytest.fixture
def person(agent: RunningAgent, origin_cert: OriginCert) -> Iterator[httpx.Client]:
    with browser(agent, origin_cert) as c:
        yield c


def script(mode: str = "cors", dest: str = "empty", accept: str = "*/*") -> dict[str, str]:
    """What a script's request on the site sends (browsers set `Sec-Fetch-*`, scripts cannot)."""
    return {"Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest, "Sec-Fetch-Site": "same-origin",
            "Accept": accept}  # fmt: skip


def assert_bare(response: httpx.Response, verdict: str) -> None:
    """A refusal a script can read in full without learning anything personal."""
    assert response.status_code == 403
    assert response.content == b""
    assert response.headers["x-candor-decision"] == verdict
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
    for word in PERSONAL:
        assert word not in headers, word


def raw(agent: RunningAgent, target: str, host: str, method: str = "GET") -> tuple[int, bytes]:
    """A request through the proxy with a Host header of our choosing (as a rebinding page's)."""
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=10)
    conn.putrequest(method, target, skip_host=True)
    conn.putheader("Host", host)
    for name, value in TO_OWN_ORIGIN.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def rows(agent: RunningAgent, kind: str, host: str) -> list[dict[str, object]]:
    return [e for e in agent.events(kind) if e["host"] == host]


# --- 1. a script on the site ----------------------------------------------------------------


def test_a_script_on_the_site_gets_a_bare_refusal_with_nothing_personal(
    person: httpx.Client, origin: Origin, untouched_origin: Origin
) -> None:
    blocked = untouched_origin.https("inspected.test", "/private")  # a path block, allowed host
    assert_bare(person.get(blocked, headers=script()), "block")
    assert_bare(person.get(blocked, headers=script(accept="text/html")), "block")  # forged Accept
    assert_bare(person.get(blocked, headers=script("no-cors", "image", "image/*")), "block")
    assert_bare(person.get(blocked, headers=script("navigate", "iframe", "text/html")), "block")
    # Plain HTTP: browsers send no Sec-Fetch-*; a script's Accept alone is not a navigation.
    plain = untouched_origin.http("inspected.test", "/private")
    assert_bare(person.get(plain, headers={"Accept": "text/html"}), "block")
    warned = origin.https("script.warned.test", "/x")
    assert_bare(person.get(warned, headers=script()), "warn")
    # The old links on the site's origin are gone: just another request, decided as usual.
    old = origin.https("script.warned.test", "/.candor/continue?token=x")
    assert_bare(person.post(old, headers=script()), "warn")
    assert origin.log.requests_for("script.warned.test") == []
    assert untouched_origin.log.connections == []


def test_a_navigation_is_sent_to_candors_origin_with_nothing_personal_on_the_way(
    person: httpx.Client, origin: Origin
) -> None:
    response = person.get(origin.https("nav.warned.test", "/x"), headers=NAVIGATION)
    assert response.status_code == 303
    assert response.content == b""
    assert re.fullmatch(rf"{ORIGIN}/warn\?t=[\w-]+", response.headers["location"])
    assert response.headers["x-candor-decision"] == "warn"
    assert response.headers["referrer-policy"] == "no-referrer"
    others = {k: v for k, v in response.headers.items() if k != "location"}
    assert not [w for w in PERSONAL if w in repr(others).lower()]


def test_navigations_are_told_from_a_pages_own_requests() -> None:
    def request(**headers: str) -> object:
        return tutils.treq(headers=[(k.encode(), v.encode()) for k, v in headers.items()])

    accept = "text/html,*/*"
    top = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
    assert vouched_navigation(request(**top)) is True
    assert vouched_navigation(request(**{**top, "sec-fetch-dest": "iframe"})) is None
    assert vouched_navigation(request(**{"sec-fetch-mode": "no-cors", "accept": accept})) is None
    assert vouched_navigation(request(accept=accept, **{"upgrade-insecure-requests": "1"})) is False
    assert vouched_navigation(request(accept=accept)) is None  # a no-cors fetch can send this


# --- 2. continuing or reporting without the page's cookie -------------------------------------


def test_a_form_without_the_pages_cookie_changes_nothing_and_records_nothing(
    person: httpx.Client,
    agent: RunningAgent,
    origin: Origin,
    origin_cert: OriginCert,
) -> None:
    host = "cookie.warned.test"
    url = origin.https(host, "/x")
    page = open_page(person, url)
    assert page.status_code == 403 and "A pause before" in page.text
    target = form_target(page, "continue")
    (name,) = [c.name for c in person.cookies.jar if c.name.startswith("candor-")]
    with browser(agent, origin_cert) as attacker:  # knows the token, not the cookie
        assert attacker.get(target, headers=TO_OWN_ORIGIN).status_code == 405
        refused = attacker.post(target, headers=TO_OWN_ORIGIN)
        assert refused.status_code == 403 and "Nothing was changed" in refused.text
        attacker.cookies.set(name, "a-guess", domain="candor.invalid")
        assert attacker.post(target, headers=TO_OWN_ORIGIN).status_code == 403
        assert attacker.post(form_target(page, "mistake"), headers=TO_OWN_ORIGIN).status_code == 403
    # The person's own browser, but not from Candor's page: a link (GET) or another site's form.
    assert person.get(target, headers=TO_OWN_ORIGIN).status_code == 405
    cross = person.post(target, headers={**TO_OWN_ORIGIN, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    # Still warned, the origin never asked, and the page's token is unspent:
    assert open_page(person, url).status_code == 403
    assert origin.log.requests_for(host) == []
    assert press(person, page, "continue").status_code == 303
    agent.wait_for_event("warn_continue", lambda e: e["host"] == host)
    assert len(rows(agent, "warn_continue", host)) == 1
    assert rows(agent, "unblock_request", host) == []


# --- 3. another name for Candor's origin ------------------------------------------------------


def test_candors_pages_answer_only_to_the_name_candor_invalid(
    person: httpx.Client, agent: RunningAgent, origin: Origin, untouched_origin: Origin
) -> None:
    page = person.get(origin.https("rebind.warned.test", "/x"), headers=NAVIGATION)
    location = page.headers["location"]
    path = location.removeprefix(ORIGIN)
    for host in ("rebind.test", "candor.invalid:80", f"127.0.0.1:{agent.port}"):
        status, body = raw(agent, location, host)
        assert (status, body) == (502, b""), host
    # A page's own name, dialled, with Candor's name in its Host header: not dialled, not served.
    status, body = raw(agent, untouched_origin.http("127.0.0.1", path), "candor.invalid")
    assert (status, body) == (502, b"")
    assert untouched_origin.log.connections == []
    # A script's probe (no navigation) is not served the page either.
    probe = person.get(location, headers={"Accept": "text/html"})
    assert (probe.status_code, probe.content) == (502, b"")
    # Candor's origin is plain HTTP: a tunnel to it is refused, nothing is dialled.
    with pytest.raises(httpx.ProxyError):
        person.get("https://candor.invalid/")
    # By its own name, the same page is shown.
    shown = person.get(location, headers=TO_OWN_ORIGIN)
    assert shown.status_code == 403 and "A pause before" in shown.text


# --- 4. what every page of Candor's carries -----------------------------------------------------


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_strict(response: httpx.Response) -> None:
    """The headers the issue asks of every answer from Candor's origin."""
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    directives = [d.partition(" ") for d in headers["content-security-policy"].split("; ")]
    policy = {name: value for name, _, value in directives}
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"].split(" ")[0] == "'self'"
    body = response.text
    if body:
        (style,) = re.findall(r"<style>(.*?)</style>", body, re.S)
        assert policy["style-src"] == sha256(style)
        for script in re.findall(r"<script>(.*?)</script>", body, re.S):
            assert policy["script-src"] == sha256(script)
        assert " src=" not in body and "<link" not in body and " style=" not in body
    cookie = headers.get("set-cookie")
    if cookie is not None:
        assert cookie.startswith("candor-")
        assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(cookie.split("; "))


def test_every_page_of_candors_has_the_strict_headers(
    person: httpx.Client, origin: Origin, untouched_origin: Origin
) -> None:
    blocked = open_page(person, untouched_origin.https("headers.blocked.test", "/"))
    warn_url = origin.https("headers.warned.test", "/x")
    warned = open_page(person, warn_url)
    mistaken = press(person, warned, "mistake")
    noted = person.get(mistaken.headers["location"], headers=TO_OWN_ORIGIN)
    answers = {
        "block": blocked,
        "warn": warned,
        "mistake": mistaken,
        "noted": noted,
        "continue": press(person, noted, "continue"),
        "expired": person.get(f"{ORIGIN}/warn?t=unknown", headers=TO_OWN_ORIGIN),
        "spent": press(person, warned, "continue"),
        "a link": person.get(form_target(blocked, "mistake"), headers=TO_OWN_ORIGIN),
        "front": person.get(f"{ORIGIN}/", headers=TO_OWN_ORIGIN),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        "block": 403, "warn": 403, "mistake": 303, "noted": 200, "continue": 303,
        "expired": 404, "spent": 403, "a link": 405, "front": 200,
    }  # fmt: skip
    for name, response in answers.items():
        assert response.url.host == "candor.invalid", name
        assert_strict(response)
    assert "set-cookie" in blocked.headers and "set-cookie" in warned.headers
    # The warn page's forms may go on to the warned site (after "continue"), nowhere else.
    form_action = warned.headers["content-security-policy"].split("form-action ")[1].split(";")[0]
    assert form_action == f"'self' https://headers.warned.test:{origin.https_port}"
    assert answers["continue"].headers["location"] == warn_url


def test_a_hostile_host_cannot_write_into_the_policy() -> None:
    assert csp_source("https://a.test:8443/x") == "https://a.test:8443"
    assert csp_source("https://[::1]:8443/x") == "https:"
    assert csp_source("https://a.test;script-src */x") == "https:"
    assert csp_source("http://a.test 'unsafe-inline'/") == "http:"


# --- 5. the whole flow --------------------------------------------------------------------------


def test_navigate_redirect_page_continue_and_back_with_one_warn_continue(
    person: httpx.Client, agent: RunningAgent, origin: Origin
) -> None:
    host = "flow.warned.test"
    url = origin.https(host, "/page?q=1")
    to_page = person.get(url, headers=NAVIGATION)
    assert to_page.status_code == 303
    page = person.get(to_page.headers["location"], headers=TO_OWN_ORIGIN)
    assert page.status_code == 403 and "A pause before flow.warned.test" in page.text
    assert page.headers["x-candor-decision"] == "warn; category=gambling"  # on Candor's origin
    assert "Sam" in page.text and "gambling.txt" in page.text
    back = press(person, page, "continue")
    assert back.status_code == 303 and back.headers["location"] == url
    assert "Max-Age=0" in back.headers["set-cookie"]  # the spent page's cookie is dropped
    arrived = person.get(back.headers["location"], headers=NAVIGATION)
    assert arrived.status_code == 200 and "Hello from main" in arrived.text
    event = agent.wait_for_event("warn_continue", lambda e: e["host"] == host)
    assert (event["category"], event["rule"]) == ("gambling", "warned.test")
    assert len(rows(agent, "warn_continue", host)) == 1


def test_the_block_page_names_where_a_rule_came_from_in_words() -> None:
    """ "From lists/adult/pornography-hosts" is jargon and breaks mid-word on a phone."""
    assert source_words("lists/adult/pornography-hosts") == "the public list 'pornography-hosts'"
    assert source_words("adult.txt:87") == "your own rules (rules/adult.txt, line 87)"
    assert source_words("name recogniser") == "the words in the site's name"
    assert source_words(None) == "Candor's built-in rules"


def test_the_block_page_offers_the_way_to_reach_the_partner_the_person_chose() -> None:
    """Issue 17: a one-tap `sms:`, `tel:` or `mailto:` link, chosen at `candor init`."""

    def page(contact: str | None) -> str:
        config = Config.model_validate(
            {"partner": {"name": "Sam", "email": "sam@example.org", "contact": contact}}
        )
        settings = filter_settings(config)
        decision = Decision("block", "adult", "block", "blocked.test", "adult.txt:1")
        info = PageInfo(
            "blocked.test", "https://blocked.test/", decision, "t", "Sam", settings.partner_link
        )
        return block_page(info)

    assert '<a class="button" href="sms:+447700900123">Text Sam</a>' in page("sms:+44 7700 900123")
    assert '<a class="button" href="tel:+15550100">Call Sam</a>' in page("tel:+1 555 0100")
    assert (
        '<a class="button" href="mailto:sam%40example.org?subject=Could%20we%20talk%3F">'
        "Write to Sam</a>" in page("email")
    )
    assert "Text Sam" not in page(None) and "reach out to <strong>Sam</strong>" in page(None)


def test_another_local_user_cannot_read_the_status_pages(agent: RunningAgent) -> None:
    """The status pages show the journal and the next report: any local program can reach the
    proxy, so they answer only the person (the kernel names the client's user), never another
    account on the same computer."""
    if os.geteuid() != 0:  # CI runs as root; becoming another user needs it
        pytest.skip("needs root to act as another user")
    curl, setpriv = require_tool("curl"), require_tool("setpriv")
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]

    def status(path: str, *prefix: str) -> str:
        headers = [arg for k, v in TO_OWN_ORIGIN.items() for arg in ("-H", f"{k}: {v}")]
        done = subprocess.run(
            [*prefix, curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
             agent.proxy_url, *headers, f"{ORIGIN}{path}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout

    for path in ("/", "/journal", "/report", "/why?url=https://a.test/"):
        assert status(path) == "200", path
        assert status(path, *nobody) == "404", path


def test_a_status_page_that_cannot_be_built_says_so_in_one_line() -> None:
    """A broken journal or a full disk fails the page, never the proxy or the tab."""

    def broken(path: str, query: dict[str, str]) -> str:
        raise OSError("database disk image is malformed")

    origin = OwnOrigin(PageTokens(), recorder=None, status_page=broken)  # type: ignore[arg-type]
    flow = tflow.tflow()
    flow.request = tutils.treq(
        host="candor.invalid", port=80, scheme=b"http", authority=b"", path=b"/",
        headers=[(b"host", b"candor.invalid"),
                 *((k.encode(), v.encode()) for k, v in TO_OWN_ORIGIN.items())],
    )  # fmt: skip
    pending = origin.requestheaders(flow)
    assert pending is not None
    asyncio.run(pending)  # type: ignore[arg-type]
    assert flow.response is not None and flow.response.status_code == 500
    text = flow.response.get_text() or ""
    assert "The status cannot be read just now" in text
    assert "database disk image is malformed" in text and "Traceback" not in text
