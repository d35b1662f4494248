"""Issue 12, item 9: a page cannot inflate the partner's report.

A page the person visits can pull in thousands of made-up blocked hosts as images. Candor tells
what the person opened apart from what a page pulled in (agent/proxy/request_kind.py), keeps the
journal small (the recorder groups a site's hosts) and the report short (reporter/sites.py), and
says plainly in the report which blocks came from pages the person opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from mitmproxy.test import tutils

from agent.journal import Journal
from agent.journal.events import EventBody
from agent.proxy.addons.recorder import (
    GROUP_WINDOW,
    HOSTS_PER_SITE,
    OTHER_SITES,
    REPEAT_WINDOW,
    SITES_PER_CATEGORY,
    Recorder,
)
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.request_kind import (
    NAVIGATION,
    SUBRESOURCE,
    UNKNOWN_ORIGIN,
    RequestOrigin,
    is_navigation,
    request_origin,
)
from reporter.build import build_report
from reporter.sites import HOSTS_LISTED
from rules.model import Decision
from rules.sites import registrable_domain
from tests.origins import Origin, OriginCert
from tests.proxy_fixtures import RunningAgent, client_context, start_agent, write_home
from tests.report_helpers import BUILD_AT, MONDAY, PERIOD, candor, make_home, next_report

BLOCK = Decision("block", "adult", "block", "example.test", "adult.txt:1")

CHROMIUM_IMAGE = {
    "accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "sec-fetch-site": "cross-site",
    "sec-fetch-mode": "no-cors",
    "sec-fetch-dest": "image",
}
"""What Chromium sends for an `<img>` on another site's page."""
CHROMIUM_NAVIGATION = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "sec-fetch-site": "none",
    "sec-fetch-mode": "navigate",
    "sec-fetch-user": "?1",
    "sec-fetch-dest": "document",
    "upgrade-insecure-requests": "1",
}
"""What Chromium sends when the person types an address."""


def request(headers: dict[str, str]) -> object:
    req = tutils.treq()
    for name, value in headers.items():
        req.headers[name] = value
    return req


# --- what the person opened, and what a page pulled in -----------------------------------------


def test_navigations_are_told_apart_from_what_a_page_pulls_in() -> None:
    """Sec-Fetch-Dest first (a frame is another page's choice), then Sec-Fetch-Mode and -User,
    then Accept; the Referer names the pulling page by its host only."""
    frame = {**CHROMIUM_NAVIGATION, "sec-fetch-dest": "iframe", "sec-fetch-user": "?0"}
    cases = {
        "typed address": (CHROMIUM_NAVIGATION, True),
        "image": (CHROMIUM_IMAGE, False),
        "frame on another page": (frame, False),
        "fetch": ({"sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}, False),
        "navigation, no dest": ({"sec-fetch-mode": "navigate"}, True),
        "clicked, nothing else": ({"sec-fetch-user": "?1"}, True),
        "old browser page": ({"accept": "text/html,*/*"}, True),
        "old browser image": ({"accept": "image/png,*/*"}, False),
        "no headers": ({"accept": "*/*"}, False),
    }
    for name, (headers, expected) in cases.items():
        assert is_navigation(request(headers)) is expected, name  # type: ignore[arg-type]

    pulled = request({**CHROMIUM_IMAGE, "referer": "https://News.Test/story?id=secret"})
    assert request_origin(pulled) == RequestOrigin(SUBRESOURCE, "news.test")  # type: ignore[arg-type]
    for referer in ("", "not a url", "file:///etc/passwd", "https://" + "a" * 10_000 + ".test/"):
        origin = request_origin(request({**CHROMIUM_IMAGE, "referer": referer}))  # type: ignore[arg-type]
        assert origin == RequestOrigin(SUBRESOURCE, None), referer
    # A program that says nothing (curl, an app) is not blamed on a page: unknown.
    assert request_origin(request({"accept": "*/*"})) == UNKNOWN_ORIGIN  # type: ignore[arg-type]
    old_browser = request({"accept": "image/png", "referer": "http://news.test/"})
    assert request_origin(old_browser) == RequestOrigin(SUBRESOURCE, "news.test")  # type: ignore[arg-type]
    opened = request({**CHROMIUM_NAVIGATION, "referer": "https://search.test/"})
    assert request_origin(opened) == RequestOrigin(NAVIGATION)  # type: ignore[arg-type]


def test_sites_are_registrable_domains() -> None:
    assert registrable_domain("img7.cdn.example.co.uk") == "example.co.uk"
    assert registrable_domain("a.b.example.test") == "example.test"
    assert registrable_domain("127.0.0.2") == "127.0.0.2"
    assert registrable_domain("co.uk") == "co.uk"
    assert registrable_domain("localhost") == "localhost"


# --- the journal stays small --------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recorder(sites_named: bool = True) -> tuple[Recorder, list[dict], Clock]:
    """A recorder at the "domains" level (`sites_named`), or at "summary"."""
    rows: list[dict] = []
    clock = Clock()

    def record(event: EventBody) -> None:
        rows.append(event.as_body())

    settings = FilterSettings(sites_named=sites_named)
    return Recorder(record, lambda: settings, clock=clock), rows, clock


def test_at_summary_the_journal_keeps_no_site_the_person_visited() -> None:
    """Minimal data: the page that pulled a blocked host in is an allowed site the person
    visited; at the "summary" level the journal says only that a page pulled it in."""
    rec, rows, _ = recorder(sites_named=False)
    rec.decided(BLOCK, "img.example.test", "/x.png", RequestOrigin(SUBRESOURCE, "news.test"))
    (row,) = rows
    assert row["request"] == SUBRESOURCE and "referrer" not in row
    assert "news.test" not in str(rows)


def test_ten_thousand_pulled_in_hosts_make_a_few_journal_rows() -> None:
    """The attack through the recorder's public API: 10,000 subdomains of one site and 500
    other sites, as images on news.test: a bounded number of rows, every host still counted."""
    rec, rows, clock = recorder()
    pulled = RequestOrigin(SUBRESOURCE, "news.test")
    for i in range(10_000):
        rec.decided(BLOCK, f"img{i}.example.test", "/x.png", pulled)
    for i in range(500):
        rec.decided(BLOCK, f"www.site{i}.test", "/x.png", pulled)
    rec.decided(BLOCK, "example.test", "/", RequestOrigin(NAVIGATION))
    rec.flush()
    assert len(rows) <= HOSTS_PER_SITE + SITES_PER_CATEGORY + 3
    one_by_one = [r for r in rows if "hosts" not in r]
    grouped = {r["host"]: r for r in rows if "hosts" in r}
    assert sum(r.get("hosts", 1) for r in rows) == 10_501  # nothing lost from the counts
    assert len([r for r in one_by_one if r["host"].endswith(".example.test")]) == HOSTS_PER_SITE
    assert grouped["example.test"]["hosts"] == 10_000 - HOSTS_PER_SITE
    assert grouped["example.test"]["referrer"] == "news.test"
    other = grouped[OTHER_SITES]
    assert other["hosts"] == other["sites"] == 500 - (SITES_PER_CATEGORY - 1)
    assert other["rule"] is None  # minimal data: many rules, none named
    (opened,) = [r for r in rows if r["request"] == NAVIGATION]
    assert opened["host"] == "example.test" and "referrer" not in opened
    assert {r["request"] for r in rows if r is not opened} == {SUBRESOURCE}

    # Pulled in again within the hour: nothing new. The person's own page: every time.
    before = len(rows)
    clock.now += REPEAT_WINDOW + 1
    for i in range(10_000):
        rec.decided(BLOCK, f"img{i}.example.test", "/x.png", pulled)
    rec.decided(BLOCK, "example.test", "/", RequestOrigin(NAVIGATION))
    rec.flush()
    assert [r["request"] for r in rows[before:]] == [NAVIGATION]
    # A new hour counts afresh.
    clock.now += GROUP_WINDOW
    rec.flush()
    rec.decided(BLOCK, "img0.example.test", "/x.png", pulled)
    assert rows[-1]["host"] == "img0.example.test"


def test_connection_refusals_are_recorded_as_unknown() -> None:
    """The connection gate cannot see a request: its refusals say `unknown`."""
    rec, rows, _ = recorder()
    rec.decided(BLOCK, "refused.example.test")
    assert rows == [
        {"decision": "block", "category": "adult", "action": "block", "rule": "example.test",
         "source": "adult.txt:1", "host": "refused.example.test", "request": "unknown"}
    ]  # fmt: skip


# --- the report stays small and says who chose the page ---------------------------------------


def test_the_report_groups_ten_thousand_hosts_and_says_what_was_opened(tmp_path: Path) -> None:
    """Ten thousand host rows (as a journal written before grouping holds them): the text stays
    a few KB, lists at most `HOSTS_LISTED` hosts, and names the rest by site."""
    home, config = make_home(tmp_path / "home", "domains")
    at = MONDAY + timedelta(days=1, hours=21)
    block = {"decision": "block", "category": "adult", "action": "block", "rule": None,
             "source": None}  # fmt: skip
    pulled = {**block, "request": "subresource", "referrer": "news.test"}
    rows = [("decision", {**pulled, "host": f"img{i}.example.test"}, at) for i in range(10_000)]
    rows += [
        ("decision", {**block, "host": "bad.test", "request": "navigation"}, at),
        ("decision", {**block, "host": "bad.test", "request": "navigation"}, at),
        ("decision", {**block, "host": "refused.test", "request": "unknown"}, at),
        ("decision", {**pulled, "host": "example.test", "hosts": 500}, at),
        ("decision", {**pulled, "host": OTHER_SITES, "hosts": 300, "sites": 250}, at),
    ]
    with Journal(home.journal_file) as journal:
        journal.append_many_raw(rows)
        built = build_report(
            home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
        )
    document, text = built.document, " ".join(built.text.split())
    assert len(built.text.encode()) < 20_000, len(built.text)
    assert len(built.html.encode()) < 60_000 and len(built.json_bytes) < 40_000
    assert document["summary"]["totals"]["block"] == 10_803
    assert document["summary"]["origins"] == {
        "opened": {"block": 2, "warn": 0, "log": 0},
        "pulled_in": {"block": 10_800, "warn": 0, "log": 0},
        "unknown": {"block": 1, "warn": 0, "log": 0},
    }
    assert len(document["domains"]) == HOSTS_LISTED
    assert document["domains"][0] == {
        "host": "bad.test", "category": "adult", "block": 2, "warn": 0, "log": 0,
        "times": None, "opened": 2, "pulled_in": 0,
    }  # fmt: skip
    # Listed: bad.test and 19 of the images; the rest by site, the largest first.
    (site, refused, other) = document["more_domains"]
    assert site["site"] == "example.test" and site["hosts"] == 10_000 - 19 + 500
    assert site["pulled_in_by"] == ["news.test"] and site["pulled_in"] == site["block"]
    assert refused["site"] == "refused.test" and refused["opened"] == refused["pulled_in"] == 0
    assert other["site"] is None and other["hosts"] == 300 and other["sites"] == 250
    assert "Pages the person opened: 2 blocked" in text
    assert "Pulled in by other pages, not opened: 10800 blocked" in text
    assert "Candor could not tell which: 1 blocked" in text
    assert "bad.test (adult): 2 blocked · 0 warned · 0 noted; opened by the person" in text
    assert "And 10,481 more hosts under example.test (adult)" in text
    assert "pulled in by a page on news.test, not opened" in text
    assert "And 300 more hosts on 250 other sites (adult)" in text
    assert "not as sites the person opened" in text
    assert "Pages the person opened: 2 blocked" in built.html
    assert "And 10,481 more hosts under example.test" in built.html


def test_reports_of_older_rows_read_as_before(tmp_path: Path) -> None:
    """Rows written before origins were recorded: no origin lines, no new JSON fields."""
    home, config = make_home(tmp_path / "home", "domains")
    block = {"decision": "block", "category": "adult", "action": "block", "host": "bad.test"}
    with Journal(home.journal_file) as journal:
        journal.append_raw("decision", block, ts=MONDAY + timedelta(days=1, hours=9))
        built = build_report(
            home, config, journal, PERIOD, seq=1, prev_report_hash=None, now=BUILD_AT
        )
    assert "Pages the person opened" not in built.text
    assert "bad.test (adult): 1 blocked · 0 warned · 0 noted\n" in built.text
    assert built.document["more_domains"] == []
    assert built.document["domains"][0]["opened"] == 0


# --- the attack through a real agent ----------------------------------------------------------

PULLED_IN = 2_000
"""Distinct blocked subdomains a third-party page pulls in (10,000 takes minutes here)."""


@pytest.fixture(scope="module")
def own_agent(
    tmp_path_factory: pytest.TempPathFactory, origin_cert: OriginCert
) -> Iterator[RunningAgent]:
    """An agent of this module's own, stopped by the test (its grouped rows are written then)."""
    home = tmp_path_factory.mktemp("inflation") / "home"
    write_home(home)
    (home / "config.toml").write_text(
        (home / "config.toml").read_text().replace('"detailed"', '"domains"')
    )
    running = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1",
        "--upstream-ca", str(origin_cert.cert),
    )  # fmt: skip
    yield running
    running.stop()


def test_a_third_party_page_cannot_fill_the_report_with_blocked_hosts(
    own_agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    """A page on a local HTTPS origin pulls in 2,000 distinct blocked subdomains as images, as
    Chromium sends them: the journal keeps a few rows, and the report stays small, groups them
    and says a page pulled them in; the person's own navigation is counted as opened."""
    verify = client_context(own_agent.ca_cert, origin_cert.cert)
    page = origin.https("news.allowed.test", "/page")
    with httpx.Client(proxy=own_agent.proxy_url, verify=verify, timeout=30) as browser:
        assert browser.get(page, headers=CHROMIUM_NAVIGATION).status_code == 200
        image = {**CHROMIUM_IMAGE, "referer": "https://news.allowed.test/"}
        sample = [origin.https(f"img{i}.blocked.test", "/x.png") for i in range(20)]
        bulk = [origin.http(f"img{i}.blocked.test", "/x.png") for i in range(20, PULLED_IN)]

        def fetch(url: str) -> int:
            return browser.get(url, headers=image).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(fetch, sample + bulk))
        assert set(codes) == {403}
        opened = origin.https("www.blocked.test", "/")
        shown = browser.get(opened, headers=CHROMIUM_NAVIGATION)  # sent to Candor's own page
        assert shown.status_code == 303
        assert shown.headers["location"].startswith("http://candor.invalid/blocked?t=")
    own_agent.wait_for_event("decision", lambda e: e["host"] == "www.blocked.test")
    assert own_agent.stop() == 0  # a clean stop writes the grouped rows

    decisions = own_agent.events("decision")
    assert len(decisions) <= HOSTS_PER_SITE + 5, len(decisions)
    pulled = [e for e in decisions if e.get("request") == SUBRESOURCE]
    assert sum(e.get("hosts", 1) for e in pulled) == PULLED_IN
    assert {e.get("referrer") for e in pulled} == {"news.allowed.test"}
    (navigation,) = [e for e in decisions if e.get("request") == NAVIGATION]
    assert navigation["host"] == "www.blocked.test"
    assert "news.allowed.test" not in {e["host"] for e in decisions}  # the allowed page itself

    status = json.loads(candor(own_agent.home, "status", "--json").stdout)
    today = {(d["category"], d["decision"]): d["count"] for d in status["today"]["decisions"]}
    assert today[("adult", "block")] == PULLED_IN + 1  # a grouped row counts its hosts

    document, text = next_report(own_agent.home)
    assert document["summary"]["origins"]["opened"]["block"] == 1
    assert document["summary"]["origins"]["pulled_in"]["block"] == PULLED_IN
    assert "Pages the person opened: 1 blocked" in text
    assert f"Pulled in by other pages, not opened: {PULLED_IN} blocked" in text
    assert "www.blocked.test (adult): 1 blocked · 0 warned · 0 noted; opened by the person" in text
    more = f"And {PULLED_IN - HOSTS_PER_SITE:,} more hosts under blocked.test (adult)"
    assert more in text
    assert "pulled in by a page on news.allowed.test, not opened" in text
    assert len(text.encode()) < 20_000
