"""The invitation and a report at phone width (issue 15): opened in real headless Chromium at
412 CSS pixels (a common Android phone), nothing may run off the screen sideways.

A screenshot alone cannot tell: Chromium clips it to the window, so a page wider than the window
still gives a 412-pixel picture. The check is the page's own layout instead, read through
Playwright (the DevTools protocol, which the pages' no-script rule does not govern): the
document is no wider than the window, and no element's box ends past its right edge. The
screenshots are kept in tests/artifacts/ to be looked at.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from agent.journal import Journal
from reporter import consent
from reporter.build import build_report
from tests.conftest import require_tool
from tests.report_helpers import BUILD_AT, MONDAY, PERIOD, heartbeats, make_home
from tests.test_partner_words import report, words

ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = 412
"""CSS pixels across: a common Android phone (Pixel 7, Galaxy S-series) held upright."""
LONG_HOST = "an-unusually-long-subdomain-with-no-dots-to-break-at.cdn.tracking-network.example"

OVERFLOW = """() => {
  const edge = document.documentElement.clientWidth;
  const over = [];
  for (const e of document.body.querySelectorAll('*')) {
    const box = e.getBoundingClientRect();
    const text = e.textContent.slice(0, 80);
    if (box.width && box.right > edge + 0.5) {
      over.push(`${e.tagName} ends at ${Math.round(box.right)}: ${text}`);
    } else if (e.clientWidth && e.scrollWidth > e.clientWidth + 1) {
      over.push(`${e.tagName} holds ${e.scrollWidth}px in ${e.clientWidth}px: ${text}`);
    }
  }
  return {width: document.documentElement.scrollWidth, edge, over: over.slice(0, 10)};
}"""
"""What runs past the right edge: the page's width, the window's, and the elements that end
past it or hold more than their width (text cut off or spilling out)."""
TOO_WIDE = (
    '<!doctype html><html><head><meta name="viewport" content="width=device-width,'
    'initial-scale=1"></head><body><div style="overflow:hidden">'
    + "unbreakable" * 30
    + "</div></body></html>"
)
"""A page that does not fit: the check must see it (so a pass means something)."""


def busy_report_html(root: Path) -> str:
    """A detailed report with everything long a phone must wrap: long host names, search
    terms, a gap, a loosened setting, help searches and the signing key."""
    home, config = make_home(root, "detailed")
    block = {"decision": "block", "category": "adult", "action": "block",
             "request": "navigation"}  # fmt: skip
    with Journal(home.journal_file) as journal:
        consent.record(journal, "given", name="Alex", email="alex@example.org",
                       level="detailed", person="Robin")  # fmt: skip
        start = PERIOD.start - timedelta(minutes=5)
        mono, boot = heartbeats(journal, start, 3000, mono=1000, boot=1000)
        heartbeats(journal, start + timedelta(minutes=3100), 7000,
                   mono=mono + 101 * 60, boot=boot + 101 * 60)  # fmt: skip
        events = [
            ("decision", {**block, "host": LONG_HOST}, MONDAY + timedelta(days=1, hours=23)),
            ("decision", {**block, "host": "x" * 60 + ".example"}, MONDAY + timedelta(hours=2)),
            ("search", {"engine": "google", "category": "adult", "decision": "block",
                        "terms": "a-search-typed-as-one-very-long-word-without-any-spaces-in-it"},
             MONDAY + timedelta(days=2, hours=22)),
            ("search", {"engine": "google", "help": True, "terms": "help"},
             MONDAY + timedelta(days=3, hours=9)),
            ("config_changed", {"changes": [{"what": "allowlist", "from": None, "to": LONG_HOST,
                                             "loosening": True, "pending_until": None}]},
             MONDAY + timedelta(days=4, hours=9)),
        ]  # fmt: skip
        journal.append_many_raw(events)
        built = build_report(home, config, journal, PERIOD, seq=1, prev_report_hash=None,
                             now=BUILD_AT)  # fmt: skip
    return built.html


def test_the_invitation_and_reports_fit_a_phone(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the playwright package is not installed")
        pytest.skip("the playwright package is not installed")
    _, config = make_home(tmp_path / "words")
    pages = {
        "invitation": words(config).html,
        "report": report(tmp_path / "plain", "Robin").html,
        "report-detailed": busy_report_html(tmp_path / "busy"),
        "too-wide": TOO_WIDE,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            phone = browser.new_context(
                viewport={"width": PHONE, "height": 900}, is_mobile=True, has_touch=True,
                device_scale_factor=1, java_script_enabled=False, offline=True,
            )  # fmt: skip
            page = phone.new_page()
            for name, markup in pages.items():
                file = tmp_path / f"{name}.html"
                file.write_text(markup, "utf-8")
                page.goto(file.as_uri())
                found[name] = page.evaluate(OVERFLOW)
                if name != "too-wide":
                    shot = ARTIFACTS / f"phone-{name}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert found.pop("too-wide")["over"], "the check sees a page that does not fit"
    for name, layout in found.items():
        assert layout["edge"] == PHONE, f"{name}: the page is laid out for the phone's width"
        assert layout["width"] <= PHONE and not layout["over"], f"{name}: {layout}"
