"""A real browser through `candor run`: Debian's Chromium, driven by Playwright.

The browser trusts Candor's CA through its own NSS database (no certificate errors are ignored)
and every name it asks for goes through the agent, which sends it to 127.0.0.1
(`--resolve '*:127.0.0.1'`), so no traffic leaves the machine, background requests included.
The block page's screenshot is kept in tests/artifacts/ to be looked at.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.origins import Origin, OriginCert
from tests.proxy_fixtures import RunningAgent

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser_home(
    tmp_path_factory: pytest.TempPathFactory, agent: RunningAgent, origin_cert: OriginCert
) -> Path:
    """A HOME whose NSS database trusts Candor's CA and the test origin's certificate."""
    certutil = require_tool("certutil")
    home = tmp_path_factory.mktemp("browser-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    subprocess.run([certutil, "-d", db, "-N", "--empty-password"], check=True)
    for name, cert in (("candor", agent.ca_cert), ("test-origin", origin_cert.cert)):
        subprocess.run(
            [certutil, "-d", db, "-A", "-t", "C,,", "-n", name, "-i", str(cert)], check=True
        )
    return home


@pytest.fixture(scope="module")
def page(browser_home: Path, agent: RunningAgent) -> Iterator[object]:
    chromium = require_tool("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the playwright package is not installed")
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(browser_home / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            proxy={"server": agent.proxy_url},
            env={**os.environ, "HOME": str(browser_home)},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_a_browser_sees_allowed_pages_and_the_block_page(
    page, origin: Origin, untouched_origin: Origin
) -> None:
    allowed = page.goto(origin.https("browser.test", "/page"))
    assert allowed is not None and allowed.status == 200
    assert "Hello from main" in page.text_content("h1")

    blocked = page.goto(untouched_origin.https("www.blocked.test", "/"))
    assert blocked is not None and blocked.status == 403
    assert blocked.headers["x-candor-decision"] == "block; category=adult"
    assert "on the list you chose to avoid" in page.text_content("h1")
    assert "Sam" in page.text_content("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "block-page.png"), full_page=True)
    assert untouched_origin.log.connections == []


def test_a_browser_can_continue_past_a_warning(page, origin: Origin) -> None:
    url = origin.https("browser.warned.test", "/page")
    warned = page.goto(url)
    assert warned is not None and warned.status == 403
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "warn-page.png"), full_page=True)
    page.click("text=Continue to browser.warned.test")
    page.wait_for_url(url)
    assert "Hello from main" in page.text_content("h1")


def test_a_script_on_the_site_reads_nothing_from_a_blocked_path(page, origin: Origin) -> None:
    """Issue 12, item 4: `inspected.test/private` is blocked on an otherwise allowed host; a
    script on that host fetching it gets a bare 403, with no category, rule or partner."""
    opened = page.goto(origin.https("inspected.test", "/page"))
    assert opened is not None and opened.status == 200
    status, body, headers = page.evaluate(
        """async () => {
            const r = await fetch("/private");
            return [r.status, await r.text(), [...r.headers].map(h => h.join(": ")).join("\\n")];
        }"""
    )
    assert (status, body) == (403, "")
    assert "x-candor-decision: block" in headers
    for word in ("adult", "Sam", "private", "candor.invalid"):
        assert word not in headers


def test_candors_pages_cannot_be_framed_or_driven_by_another_site(
    page, agent: RunningAgent, origin: Origin
) -> None:
    """Issue 12, item 4: a site that knows a warn page's address can neither show it in a frame
    nor continue for the person with its own form (the page's SameSite=Strict cookie stays
    home); the person's own click still works."""
    url = origin.https("framed.warned.test", "/page")
    page.goto(url)
    own_page = page.url
    assert own_page.startswith("http://candor.invalid/warn?t=")
    page.goto(origin.http("attacker.test", "/page"))  # plain HTTP: it may load http:// frames
    page.evaluate(
        """src => new Promise(done => {
            const frame = document.createElement("iframe");
            frame.onload = done;
            frame.src = src;
            document.body.append(frame);
        })""",
        own_page,
    )
    framed = [f for f in page.frames if f != page.main_frame]
    assert framed and all("A pause before" not in f.content() for f in framed)
    target = own_page.replace("/warn?", "/continue?")
    page.evaluate(
        """action => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = action;
            document.body.append(form);
            form.submit();
        }""",
        target,
    )
    page.wait_for_url(target)
    assert page.text_content("h1") == "Nothing was changed"
    page.goto(url)  # still warned: the person decides
    assert page.url.startswith("http://candor.invalid/warn?t=")
    page.click("text=Continue to framed.warned.test")
    page.wait_for_url(url)
    assert "Hello from main" in page.text_content("h1")
    event = agent.wait_for_event("warn_continue", lambda e: e["host"] == "framed.warned.test")
    assert event["category"] == "gambling"
    assert len([e for e in agent.events("warn_continue") if e["host"] == "framed.warned.test"]) == 1


def test_a_browser_tells_pages_it_opened_from_images_a_page_pulled_in(
    page, agent: RunningAgent, untouched_origin: Origin
) -> None:
    """Issue 12, item 9: a page's blocked images are recorded as pulled in by that page (with
    Chromium's own Fetch Metadata and Referer), the person's own navigation as opened."""
    images = "".join(f'<img src="https://pic{i}.pulled.blocked.test/x.png">' for i in range(12))
    attack = "https://news.browser.test/attack"
    body = f"<html><body>{images}</body></html>"
    page.route(attack, lambda route: route.fulfill(status=200, content_type="text/html", body=body))
    try:
        page.goto(attack, wait_until="load")
    finally:
        page.unroute(attack)

    def pulled() -> list[dict]:
        return [e for e in agent.events("decision") if e["host"].endswith(".pulled.blocked.test")]

    deadline = time.monotonic() + 15
    while len(pulled()) < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 1 <= len(pulled()) <= 10  # at most ten hosts of a site one by one; the rest grouped
    assert {(e["request"], e.get("referrer")) for e in pulled()} == {
        ("subresource", "news.browser.test")
    }
    opened = page.goto(untouched_origin.https("opened.blocked.test", "/"))
    assert opened is not None and opened.status == 403
    event = agent.wait_for_event("decision", lambda e: e["host"] == "opened.blocked.test")
    assert event["request"] == "navigation" and "referrer" not in event


def test_take_me_back_returns_to_the_page_before(page, origin: Origin) -> None:
    before = origin.https("browser.test", "/page")
    page.goto(before)
    warned = page.goto(origin.https("back.warned.test", "/page"))
    assert warned is not None and warned.status == 403
    page.click("text=Take me back")
    page.wait_for_url(before)
    assert "Hello from main" in page.text_content("h1")


def test_take_me_back_in_a_new_tab_closes_it_or_leads_to_a_quiet_page(page, origin: Origin) -> None:
    """A warn page opened in a new tab has nothing to go back to: the button still works,
    closing the tab (browsers let a page close a tab with one page in its history) or, where
    the browser refuses, showing a quiet page that names no site."""
    page.goto(origin.https("browser.test", "/page"))
    with page.context.expect_page() as opened:
        page.evaluate(
            "url => window.open(url, '_blank', 'noopener')",
            origin.https("tab.warned.test", "/page"),
        )
    tab = opened.value
    try:
        tab.wait_for_load_state()
        assert tab.evaluate("history.length") == 1
        assert "A pause before" in tab.text_content("h1")
        with contextlib.suppress(Exception):  # the tab may close under the click
            tab.click("text=Take me back")
            tab.wait_for_timeout(1500)
        if not tab.is_closed():
            assert tab.url == "http://candor.invalid/away"
            assert "You stepped back" in tab.text_content("h1")
            assert "warned" not in tab.content()
    finally:
        if not tab.is_closed():
            tab.close()


def test_the_quiet_page_is_answered_without_a_token(page) -> None:
    shown = page.goto("http://candor.invalid/away")
    assert shown is not None and shown.status == 200
    assert "You stepped back" in page.text_content("h1")


def test_the_status_page_shows_the_state_and_explains_a_block(page) -> None:
    """Issue 17, item 4 (first part): `http://candor.invalid/` in a real browser, through the
    agent, at desktop and phone width; it only reads."""
    shown = page.goto("http://candor.invalid/")
    assert shown is not None and shown.status == 200
    assert page.text_content("h1") == "Candor"
    text = page.text_content("main")
    assert "Candor is running on" in text and "Rules" in text and "adult" in text
    assert "Run `candor install`" in text  # what `candor status` says is missing, here too
    assert "content-security-policy" in shown.headers and shown.headers["x-frame-options"] == "DENY"
    page.fill("input[name=url]", "https://www.blocked.test/page")
    page.click("text=Explain")
    page.wait_for_url("http://candor.invalid/why?url=*")
    assert "Blocked by the rule" in page.text_content("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
    page.set_viewport_size({"width": 412, "height": 900})
    try:
        page.goto("http://candor.invalid/")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 412
        page.screenshot(path=str(ARTIFACTS / "status-page-phone.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


def test_the_status_page_shows_the_journal_and_the_next_report(page) -> None:
    page.goto("http://candor.invalid/")
    page.click("text=Everything Candor recorded")
    page.wait_for_url("http://candor.invalid/journal")
    assert page.text_content("h1") == "What Candor recorded"
    assert "agent_start" in page.text_content("table")
    page.select_option("select[name=kind]", "agent_start")
    page.click("text=Show")
    page.wait_for_url("http://candor.invalid/journal?kind=agent_start")
    kinds = page.eval_on_selector_all("td:nth-child(3)", "cells => cells.map(c => c.textContent)")
    assert kinds and set(kinds) == {"agent_start"}
    page.goto("http://candor.invalid/")
    page.click("text=The next report, as your partner will see it")
    page.wait_for_url("http://candor.invalid/report")
    assert page.title().startswith("Candor weekly report")
    shown = page.goto("http://candor.invalid/report")
    assert shown is not None
    policy = shown.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-report-preview.png"), full_page=True)
