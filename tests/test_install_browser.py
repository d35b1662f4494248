"""Headless Chromium reads what the installer wrote: its NSS database and its managed policy."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path, PurePosixPath

import pytest

from agent.config import Home
from installers.executor import Executor
from installers.platforms import linux
from installers.target import Target
from tests import test_install_linux as linux_tests
from tests.conftest import candor, require_tool
from tests.proxy_fixtures import RunningAgent

pytestmark = pytest.mark.slow  # real tools and browsers: seconds, not milliseconds

root = linux_tests.root

POLICY_DIR = Path("/etc/chromium/policies/managed")


def launch(playwright, env: dict[str, str], **kwargs):
    return playwright.chromium.launch(
        executable_path=require_tool("chromium"), headless=True, env=env, **kwargs
    )


def test_chromium_trusts_candor_through_the_installed_nss_database(
    root: Path,
    tmp_path: Path,
    agent: RunningAgent,
) -> None:
    from playwright.sync_api import sync_playwright

    home_dir = tmp_path / "browser-home"
    (home_dir / "mitmproxy").mkdir(parents=True)
    for name in ("mitmproxy-ca.pem", "mitmproxy-ca-cert.pem"):  # the agent's CA, key and all
        shutil.copy(agent.home / "mitmproxy" / name, home_dir / "mitmproxy" / name)
    done = candor(home_dir, "install", "--root", str(root))
    assert done.returncode == 0, done.stderr
    user = root / "home" / "sam"
    assert (user / ".local/share/pki/nssdb/cert9.db").exists()  # written by the installer
    env = {**os.environ, "HOME": str(user), "XDG_DATA_HOME": str(user / ".local/share")}
    with sync_playwright() as p:
        browser = launch(p, env, proxy={"server": agent.proxy_url})
        try:
            page = browser.new_page()
            response = page.goto("https://blocked.test/")
            assert response is not None and response.status == 403
            assert response.headers["x-candor-decision"].startswith("block")
        finally:
            browser.close()


def test_chromium_reads_the_managed_policy(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if os.geteuid() != 0 and not os.access("/etc", os.W_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("this test writes /etc/chromium/policies/managed and needs root")
        pytest.skip("this test writes /etc/chromium/policies/managed and needs root")
    if (POLICY_DIR / "candor.json").exists():
        pytest.fail(f"{POLICY_DIR / 'candor.json'} exists already; not touching it")
    user = PurePosixPath(tmp_path)
    target = Target(
        home=Home.at(tmp_path / "candor"),
        root=PurePosixPath("/"),
        user_home=user,
        config_dir=user / ".config",
        data_dir=user / ".local/share",
        host="127.0.0.1",
        port=18081,
        program=("/usr/bin/true",),
        ca_pem=(Path(__file__).parent / "snapshots" / "install-ca-cert.pem").read_bytes(),
    )
    facts = linux.LinuxFacts(
        trust_store=None, gnome=False, kde=None, nss_dbs=(),
        chromium_policy_dirs=(("Chromium", PurePosixPath(POLICY_DIR)),), firefox=False,
    )  # fmt: skip
    plan = linux.build(target, facts)
    browsers = tuple(s for s in plan.steps if s.group == "browsers")
    plan = dataclasses.replace(plan, steps=browsers)
    executor = Executor(target.home)
    executor.install(plan)
    try:
        with sync_playwright() as p:
            browser = launch(p, dict(os.environ))
            try:
                page = browser.new_page()
                page.goto("chrome://policy")
                page.wait_for_selector("text=QuicAllowed", timeout=15000)
                # The page lives in shadow DOM; Playwright's text locators reach into it.
                shown = {
                    name: page.get_by_text(name, exact=True).count()
                    for name in ("QuicAllowed", "DnsOverHttpsMode", "ProxySettings")
                }
            finally:
                browser.close()
    finally:
        executor.uninstall()
    assert all(shown.values()), shown
    assert not (POLICY_DIR / "candor.json").exists()
