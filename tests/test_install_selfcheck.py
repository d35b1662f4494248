"""The agent's self-check against a real install in a temporary root and the real shared agent.

The canary goes through the proxy the desktop settings name and trusts only the temp root's CA
bundle; undoing the wiring by hand is journaled once, not on every check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import Home
from agent.health.selfcheck import (
    CANARY_HEADER,
    SelfCheck,
    canary,
    last_result,
    status_lines,
)
from agent.journal.events import EventBody
from agent.proxy.addons.canary import CANARY_DOMAIN
from installers.checks import check_install
from tests import test_install_linux as linux_tests
from tests.conftest import candor
from tests.proxy_fixtures import SHARED_CANARY_SECRET, RunningAgent, start_agent

pytestmark = pytest.mark.slow  # real tools and browsers: seconds, not milliseconds

root = linux_tests.root
home = linux_tests.home

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def installed(root: Path, tmp_path: Path, agent: RunningAgent) -> Home:
    """Candor installed into `root`, pointing at the shared running agent and trusting its CA."""
    home = tmp_path / "installed-home"
    (home / "mitmproxy").mkdir(parents=True)
    for name in ("mitmproxy-ca.pem", "mitmproxy-ca-cert.pem"):  # the agent's CA, key and all
        shutil.copy(agent.home / "mitmproxy" / name, home / "mitmproxy" / name)
    (home / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{agent.port}"\n')
    done = candor(home, "install", "--root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    return Home.at(home)


def checker(home: Home) -> tuple[SelfCheck, Events]:
    events: Events = []

    def record(event: EventBody) -> None:
        events.append((event.kind, event.as_body()))

    return SelfCheck(home, record, check=lambda: check_install(home, canary=probe)), events


def probe(proxy: str, cafile: str | None) -> str | None:
    """The self-check's canary, asked for the shared agent's canary name."""
    return canary(proxy, cafile, url=f"https://{SHARED_CANARY_SECRET}.{CANARY_DOMAIN}/")


def test_canary_passes_through_the_installed_wiring(installed: Home, root: Path) -> None:
    check, events = checker(installed)
    assert check.check_now() == []
    assert events == []
    assert last_result(installed)["ok"] is True
    assert status_lines(installed)[0].startswith("Self-check passed")


def test_unsetting_the_proxy_is_journaled_exactly_once(installed: Home) -> None:
    check, events = checker(installed)
    assert check.check_now() == []
    subprocess.run(["gsettings", "set", "org.gnome.system.proxy", "mode", "none"], check=True)
    for _ in range(3):
        check.check_now()
    assert [kind for kind, _ in events] == ["bypass_suspected"]
    body = events[0][1]
    assert body["what"] == "proxy unset"
    assert any(p["what"] == "canary failed" for p in body["problems"])
    assert last_result(installed)["ok"] is False
    shown = "\n".join(status_lines(installed))
    assert "found a problem" in shown and "proxy unset" in shown and "candor install" in shown

    subprocess.run(["gsettings", "set", "org.gnome.system.proxy", "mode", "manual"], check=True)
    assert check.check_now() == []
    assert len(events) == 1


def test_removing_the_ca_from_the_store_is_journaled_exactly_once(
    installed: Home, root: Path
) -> None:
    check, events = checker(installed)
    assert check.check_now() == []
    (root / "usr/local/share/ca-certificates/candor.crt").unlink()
    argv = ["update-ca-certificates", "--fresh", *linux_tests.debian_dirs(root)]
    subprocess.run(argv, check=True, capture_output=True)
    check.check_now()
    check.check_now()
    assert [kind for kind, _ in events] == ["bypass_suspected"]
    whats = {p["what"] for p in events[0][1]["problems"]}
    assert whats == {"CA untrusted", "canary failed"}


def test_unlocking_firefoxs_proxy_is_journaled_once(installed: Home, root: Path) -> None:
    check, events = checker(installed)
    assert check.check_now() == []
    path = root / "etc/firefox/policies/policies.json"
    policies = json.loads(path.read_text())
    policies["policies"]["Proxy"]["Locked"] = False  # "No proxy" in Firefox's settings now works
    path.write_text(json.dumps(policies))
    check.check_now()
    check.check_now()
    assert [kind for kind, _ in events] == ["bypass_suspected"]
    (problem,) = events[0][1]["problems"]
    assert problem["what"] == "policy missing"
    assert (
        problem["detail"]
        == f"Proxy in {path} no longer locked: the browser's settings can change it"
    )


def test_canary_needs_candor_and_its_certificate(agent: RunningAgent, tmp_path: Path) -> None:
    assert agent.canary_url is not None
    assert canary(agent.proxy_url, str(agent.ca_cert), url=agent.canary_url) is None
    other = tmp_path / "other.pem"
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", other)
    refused = canary(agent.proxy_url, str(other), url=agent.canary_url) or ""
    assert "certificate" in refused.lower()
    assert CANARY_HEADER.startswith("X-Candor")


def test_a_long_quiet_stretch_is_noted_once_in_neutral_words(tmp_path: Path) -> None:
    last: list[float | None] = [None]
    events: Events = []
    check = SelfCheck(
        Home.at(tmp_path / "h"),
        lambda event: events.append((event.kind, event.as_body())),
        check=lambda: None,
        last_traffic=lambda: last[0],
        quiet_after=100.0,
    )
    start = check.awake_since
    assert check.check_quiet(start + 50) is False
    assert check.check_quiet(start + 150) is True
    assert check.check_quiet(start + 200) is False  # once per stretch
    last[0] = start + 210  # traffic again
    assert check.check_quiet(start + 220) is False
    assert check.check_quiet(start + 320) is True
    assert [e[1]["what"] for e in events] == ["no traffic while awake"] * 2
    assert "quiet time" in events[0][1]["detail"]


def test_the_running_agent_checks_itself_and_journals_a_change_once(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: `candor run` on an installed home answers its own canary through the desktop
    proxy, then notices the proxy being switched off, once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "e2e-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{port}"\n')
    done = candor(home, "install", "--root", str(root))
    assert done.returncode == 0, done.stderr
    running = start_agent(home, selfcheck_interval=0.5)
    try:
        deadline = time.monotonic() + 20
        while last_result(Home.at(home)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert last_result(Home.at(home))["ok"] is True, last_result(Home.at(home))
        subprocess.run(["gsettings", "set", "org.gnome.system.proxy", "mode", "none"], check=True)
        running.wait_for_event("bypass_suspected")
        time.sleep(2)  # several more checks: still one event
        events = running.events("bypass_suspected")
        assert [e["what"] for e in events] == ["proxy unset"]
    finally:
        assert running.stop() == 0


def test_the_install_check_has_nothing_to_check_without_a_record(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "h")
    assert check_install(home, canary=probe) is None
    home.state_dir.mkdir(parents=True)
    (home.state_dir / "install.json").write_text("{not json")
    with pytest.raises(ValueError, match="install record cannot be read"):
        check_install(home, canary=probe)


def test_the_loop_journals_what_the_handed_in_check_finds(tmp_path: Path) -> None:
    """The loop knows nothing of installs: it journals and saves whatever the check returns."""
    from installers.checks import Finding

    home = Home.at(tmp_path / "h")
    answers: list[Any] = [None]
    events: Events = []
    check = SelfCheck(
        home, lambda event: events.append((event.kind, event.as_body())), check=lambda: answers[0]
    )
    assert check.check_now() == [] and check.installed is False and last_result(home) is None
    found = [Finding("proxy unset", "no system proxy is set"), Finding("canary failed", "x")]
    answers[0] = found
    assert check.check_now() == found and check.check_now() == found
    assert check.installed is True
    assert events == [
        (
            "bypass_suspected",
            {
                "what": "proxy unset",
                "problems": [
                    {"what": "proxy unset", "detail": "no system proxy is set"},
                    {"what": "canary failed", "detail": "x"},
                ],
                "source": "self-check",
            },
        )
    ]
    assert last_result(home)["problems"][1] == {"what": "canary failed", "detail": "x"}

    def unreadable() -> None:
        raise ValueError("the install record cannot be read")

    broken = SelfCheck(
        home, lambda event: events.append((event.kind, event.as_body())), check=unreadable
    )
    assert broken.check_now() == [] and len(events) == 1
