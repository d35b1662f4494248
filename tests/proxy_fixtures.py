"""Fixtures for end-to-end proxy tests: local origins and one real `candor run` per session.

The agent runs as a person would start it (a subprocess of the real CLI) on a temp home with a
small rule set covering every action, `--resolve '*:127.0.0.1'` so no test traffic leaves the
machine, and `--upstream-ca` so it trusts the self-signed origins.
"""

from __future__ import annotations

import html
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.proxy.addons.canary import CANARY_DOMAIN
from agent.proxy.pages.origin import ORIGIN
from tests import harness
from tests.origins import Origin, OriginCert, make_origin_cert

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"^candor listening on (\S+):(\d+)$")
ANNOUNCED = re.compile(r"^candor (transparent|dns) on (\S+):(\d+)$")
"""Another listener's start-up line (`candor dns on HOST:PORT`), printed after LISTENING."""

# One rules file per behaviour, so a test that edits one cannot disturb the others.
RULES: dict[str, str] = {
    "adult": (
        "blocked.test\n"
        "=exact-blocked.test\n"
        "inspected.test/private\n"
        "pinned.test/private\n"
        "twoclients.test/private\n"
        "neverblocked.test\n"
        "keyword: forbiddenword\n"
    ),
    "gambling": "warned.test\n",
    "watch": "logged.test\n",
    "edited": "# hosts are added here while the agent runs\n",
    "relaxed": "relaxed.test\n",
}
CONFIG = """\
detail_level = "detailed"
never_inspect = ["neverblocked.test", "bank.test"]

[categories.gambling]
action = "warn"

[categories.watch]
action = "log"

[partner]
name = "Sam"
"""


SHARED_CANARY_SECRET = "shared-test-agent"
"""The canary name of the shared test agent, so the self-check tests can ask for it."""


@dataclass
class RunningAgent:
    """A live `candor run`: where it listens, its home, its output so far."""

    process: subprocess.Popen[str]
    home: Path
    host: str
    port: int
    stderr_lines: list[str] = field(default_factory=list)
    stdout_lines: list[str] = field(default_factory=list)
    """Everything it printed, as it comes (the reader keeps filling it)."""
    canary_url: str | None = None
    """The agent's canary, when the test named it (`start_agent(canary_secret=...)`)."""
    transparent: list[tuple[str, int]] = field(default_factory=list)
    """Its transparent listeners (`--transparent`), as announced."""
    listeners: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Other listeners by what their line says (`dns`): (host, port)."""
    dns: list[tuple[str, int]] = field(default_factory=list)
    """Every DNS listener (`--dns`, which may be given for IPv4 and IPv6), as announced."""

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.home / "mitmproxy" / "mitmproxy-ca-cert.pem"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Journal events so far (the agent commits within about half a second)."""
        from agent.journal import Journal

        with Journal(self.home / "journal.sqlite") as journal:
            return [
                {"kind": e.kind, **e.body} for e in journal.events(kinds=[kind] if kind else None)
            ]

    def wait_for_event(
        self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda e: True, timeout=15.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events(kind) if where(e)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} event matched within {timeout}s")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def write_home(home: Path) -> None:
    (home / "rules").mkdir(parents=True, exist_ok=True)
    for category, text in RULES.items():
        (home / "rules" / f"{category}.txt").write_text(text)
    (home / "config.toml").write_text(CONFIG)


def start_agent(
    home: Path,
    *extra: str,
    timeout: float = 60.0,
    selfcheck_interval: float | None = None,
    env: Mapping[str, str] | None = None,
    anchor_interval: float | None = None,
    canary_secret: str | None = None,
    first_request_seconds: float | None = None,
    hold_build_until: Path | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> RunningAgent:
    """Start `candor run` and wait for its `candor listening on` line (and a `candor transparent
    on` line for each `--transparent`). With a simulated clock,
    shorter intervals, a known canary name or a held build (`hold_build_until`: the rules on
    disk are built once that file exists), the real agent runs through the test harness.
    `env` is added to its environment (libfaketime's variables, to fake its wall clock);
    `wrap` runs the command line through another (`SmallDisk.command`: on a small disk)."""
    args = ("--home", str(home), "run", *extra)
    injected: dict[str, float | str] = {
        name: value
        for name, value in (
            ("selfcheck_interval", selfcheck_interval),
            ("anchor_interval", anchor_interval),
            ("canary_secret", canary_secret),
            ("first_request_seconds", first_request_seconds),
            ("hold_build_until", str(hold_build_until) if hold_build_until else None),
        )
        if value is not None
    }
    if injected or harness.simulated():
        argv = harness.child_command(*args, **injected)
    else:
        argv = [sys.executable, "-m", "agent.cli", *args]
    if wrap is not None:
        argv = wrap(argv)
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    stderr_lines: list[str] = []
    threading.Thread(target=lambda: stderr_lines.extend(process.stderr or ()), daemon=True).start()
    found: list[re.Match[str]] = []
    transparent: list[tuple[str, int]] = []
    expected = extra.count("--transparent")
    listeners: dict[str, tuple[str, int]] = {}
    dns: list[tuple[str, int]] = []
    stdout_lines: list[str] = []

    def read_stdout() -> None:
        for line in process.stdout or ():
            stdout_lines.append(line)
            if not found and (match := LISTENING.match(line.strip())):
                found.append(match)
            elif match := ANNOUNCED.match(line.strip()):
                address = (match[2].strip("[]"), int(match[3]))
                if match[1] == "transparent":
                    transparent.append(address)
                else:
                    listeners[match[1]] = address
                    dns.append(address)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not found or len(transparent) < expected or len(dns) < extra.count("--dns"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            time.sleep(0.2)
            raise AssertionError(
                "candor run did not announce its address:\n" + "".join(stderr_lines)
            )
        time.sleep(0.02)
    host, port = found[0].group(1), int(found[0].group(2))
    running = RunningAgent(process, home, host.strip("[]"), port, stderr_lines, stdout_lines)
    running.transparent = list(transparent)
    running.listeners.update(listeners)
    running.dns = list(dns)
    if canary_secret is not None:
        running.canary_url = f"https://{canary_secret}.{CANARY_DOMAIN}/"
    return running


def client_context(*cafiles: Path) -> ssl.SSLContext:
    """A TLS context that trusts exactly these certificates, nothing from the system."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for cafile in cafiles:
        context.load_verify_locations(cafile)
    return context


@pytest.fixture(scope="session")
def origin_cert(tmp_path_factory: pytest.TempPathFactory) -> OriginCert:
    return make_origin_cert(tmp_path_factory.mktemp("origin-cert"))


@pytest.fixture(scope="session")
def origin(origin_cert: OriginCert) -> Iterator[Origin]:
    """The origin every allowed test host resolves to."""
    server = Origin("main", origin_cert).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def untouched_origin(origin_cert: OriginCert) -> Iterator[Origin]:
    """Only blocked URLs point here: it must never see a single connection."""
    server = Origin("untouched", origin_cert).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def agent(
    tmp_path_factory: pytest.TempPathFactory, origin_cert: OriginCert
) -> Iterator[RunningAgent]:
    home = tmp_path_factory.mktemp("candor") / "home"
    write_home(home)
    running = start_agent(
        home,
        "--listen",
        "127.0.0.1:0",
        "--resolve",
        "*:127.0.0.1",
        "--upstream-ca",
        str(origin_cert.cert),
        canary_secret=SHARED_CANARY_SECRET,
    )
    yield running
    code = running.stop()  # SIGTERM
    assert code == 0, "".join(running.stderr_lines)
    assert not (home / "agent.pid").exists()
    assert running.events("agent_stop")[-1]["clean"] is True


# --- Candor's own origin, as a browser reaches it ----------------------------------------------

NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Upgrade-Insecure-Requests": "1",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "none",
    "Sec-Fetch-User": "?1",
}
"""What a browser sends when the person opens a URL in a tab."""
TO_OWN_ORIGIN = {"Accept": NAVIGATION["Accept"], "Upgrade-Insecure-Requests": "1"}
"""A navigation to `http://candor.invalid/`: browsers send no `Sec-Fetch-*` to plain HTTP."""


def open_page(client: httpx.Client, url: str) -> httpx.Response:
    """What a person sees on opening `url` in a tab: Candor's redirect to its own origin is
    followed, as a browser follows it (its cookie kept in the client's jar)."""
    response = client.get(url, headers=NAVIGATION)
    location = response.headers.get("location", "")
    if response.status_code == 303 and location.startswith(ORIGIN + "/"):
        return client.get(location, headers=TO_OWN_ORIGIN)
    return response


def form_target(page: httpx.Response, name: str) -> str:
    """Where the form `name` ("continue" or "mistake") on a Candor page posts to."""
    match = re.search(rf'action="(/{name}\?t=[^"]+)"', page.text)
    assert match, f"no {name} form in the page"
    return ORIGIN + html.unescape(match.group(1))


def press(client: httpx.Client, page: httpx.Response, name: str) -> httpx.Response:
    """Press the button of the form `name` on a Candor page, as its browser would: a POST
    with the page's cookie (`Origin: null`, since the page sends no referrer)."""
    return client.post(form_target(page, name), headers={**TO_OWN_ORIGIN, "Origin": "null"})
