"""The system capture's self-check (issue 13, item 4): Candor's nftables table removed, flushed
or changed is journaled within seconds (watched through `nft monitor`, not polled), its return
too, and the next report says so in plain words; the root timer's probe, made as an ordinary
user through the system's resolver, is answered by Candor.

Everything runs as root in a network namespace of this module's own (tests/netns.py): the table
loaded there, the agent started there with `--transparent`, `--dns` and `--capture-table`, with
a one-minute self-check interval so only the watch can explain a row within seconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.health.capture_guard import CaptureGuard, Expected
from agent.journal.events import EventBody
from installers.platforms.linux_nftables import Capture, delete_command, render, ruleset_hash
from tests.conftest import REPO, candor, require_tool
from tests.netns import INTERFACE, NetNamespace, netns  # noqa: F401  (the fixture)
from tests.proxy_fixtures import RunningAgent, start_agent, write_home
from tests.report_helpers import next_report

pytestmark = pytest.mark.slow

PORT, DNS_PORT = 15444, 15353
RESOLVER = "192.0.2.29"
"""The resolver /etc/resolv.conf names for the probe: nothing listens there, the table sends
its DNS to Candor."""
INTERVAL = 60.0
"""The self-check's rounds: a row within seconds can only come from the watch."""
WITHIN = 30.0
"""How long a test waits for a row: generous, never asserted as a duration."""


@dataclass
class Stage:
    """The namespace, the agent in it, and the table as installed."""

    netns: NetNamespace
    agent: RunningAgent
    home: Path
    table: str
    resolv_conf: Path


@pytest.fixture(scope="module")
def stage(netns: NetNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:  # noqa: F811
    nft = require_tool("nft")
    ip = require_tool("ip")
    # a default route, as any computer has: the block address Candor's DNS answers is captured
    netns.run(ip, "route", "add", "default", "dev", INTERFACE)
    netns.run(ip, "-6", "route", "add", "default", "dev", INTERFACE)
    base = tmp_path_factory.mktemp("capture-watch")
    home = base / "home"
    write_home(home)
    table = render(Capture(candor_uid=0, transparent_port=PORT, dns_port=DNS_PORT))
    table_file = base / "capture.nft"
    table_file.write_text(table)
    resolv_conf = netns.share(_text_file(base / "resolv.conf", f"nameserver {RESOLVER}\n"))
    netns.load_nft(table)
    agent = start_agent(
        home,
        "--listen",
        "127.0.0.1:0",
        "--transparent",
        f"127.0.0.1:{PORT}",
        "--transparent",
        f"[::1]:{PORT}",
        "--dns",
        f"127.0.0.1:{DNS_PORT}",
        "--dns-upstream",
        RESOLVER,
        "--capture-table",
        str(table_file),
        selfcheck_interval=INTERVAL,
        wrap=netns.command,
    )
    try:
        yield Stage(netns, agent, home, table, resolv_conf)
    finally:
        code = agent.stop()
        netns.run(nft, "flush", "ruleset", check=False)
    assert code == 0, "".join(agent.stderr_lines)


def _text_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def capture_rows(agent: RunningAgent) -> list[dict[str, Any]]:
    return [
        e
        for e in agent.events("bypass_suspected")
        if str(e.get("what", "")).startswith(("capture_", "probe_"))
    ]


def wait_for_rows(agent: RunningAgent, count: int) -> list[dict[str, Any]]:
    """The capture rows once there are `count` of them (failing after a generous wait)."""
    deadline = time.monotonic() + WITHIN
    while len(found := capture_rows(agent)) < count:
        assert time.monotonic() < deadline, f"not journaled: {found}"
        time.sleep(0.1)
    return found


def nft(stage: Stage, *args: str, input: str | None = None) -> None:
    stage.netns.run(require_tool("nft"), *args, input=input)


def test_the_table_as_installed_is_not_a_finding(stage: Stage) -> None:
    deadline = time.monotonic() + WITHIN
    while not (stage.home / "state" / "selfcheck.json").exists():
        assert time.monotonic() < deadline, "no self-check ran"
        time.sleep(0.1)
    assert capture_rows(stage.agent) == []


def test_deleting_the_table_is_journaled_and_so_is_its_return(stage: Stage) -> None:
    before = len(capture_rows(stage.agent))
    nft(stage, "delete", "table", "inet", "candor")
    removed = wait_for_rows(stage.agent, before + 1)[-1]
    assert (removed["what"], removed["source"]) == ("capture_removed", "self-check")
    assert "is gone" in removed["detail"]
    status = candor(stage.home, "status", "--no-verify")
    said = " ".join(status.stdout.split())
    assert "The self-check found that Candor's firewall table, which sends every" in said
    assert "Run `sudo candor install --system` again to put the capture back." in said
    stage.netns.load_nft(stage.table)
    restored = wait_for_rows(stage.agent, before + 2)[-1]
    assert (restored["what"], restored["restored"]) == ("capture_restored", ["capture_removed"])
    time.sleep(3)  # the watch has fired for every line nft printed: nothing more comes
    assert len(capture_rows(stage.agent)) == before + 2, "one row per change, not per round"


def test_flushing_the_whole_ruleset_is_seen(stage: Stage) -> None:
    before = len(capture_rows(stage.agent))
    nft(stage, "flush", "ruleset")
    assert wait_for_rows(stage.agent, before + 1)[-1]["what"] == "capture_removed"
    stage.netns.load_nft(stage.table)
    assert wait_for_rows(stage.agent, before + 2)[-1]["what"] == "capture_restored"


def test_an_extra_rule_is_a_changed_table(stage: Stage) -> None:
    before = len(capture_rows(stage.agent))
    nft(stage, "insert", "rule", "inet", "candor", "capture", "tcp", "dport", "443", "return")
    changed = wait_for_rows(stage.agent, before + 1)[-1]
    assert (changed["what"], changed["detail"].endswith("was changed")) == (
        "capture_changed",
        True,
    )
    # a second, different change to the already-changed table is a row of its own
    nft(stage, "insert", "rule", "inet", "candor", "capture", "tcp", "dport", "80", "return")
    again = wait_for_rows(stage.agent, before + 2)[-1]
    assert again["what"] == "capture_changed"
    stage.netns.load_nft(delete_command() + stage.table)  # replaced as installed, in one go
    restored = wait_for_rows(stage.agent, before + 3)[-1]
    assert (restored["what"], restored["restored"]) == ("capture_restored", ["capture_changed"])


def test_the_probe_as_an_ordinary_user_is_answered_by_candor(stage: Stage) -> None:
    """`candor selfcheck --probe --user nobody`, as the root timer runs it, with the namespace's
    /etc/resolv.conf naming a resolver nobody answers but Candor, through the table."""
    done = probe(stage, "--user", "nobody")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reached Candor" in done.stdout
    # without the table, the same probe goes nowhere and says so in a sentence
    nft(stage, "delete", "table", "inet", "candor")
    try:
        failed = probe(stage, "--user", "nobody")
    finally:
        stage.netns.load_nft(stage.table)
    assert failed.returncode == 1
    assert "The probe did not reach Candor" in failed.stderr
    assert "Traceback" not in failed.stderr


def probe(stage: Stage, *args: str) -> subprocess.CompletedProcess[str]:
    """The probe command, in the namespace, with its own /etc/resolv.conf (a mount namespace)."""
    argv = [sys.executable, "-m", "agent.cli", "--home", str(stage.home), "selfcheck", "--probe"]
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    command = [require_tool("unshare"), "-m", "sh", "-c", script, "sh", str(stage.resolv_conf)]
    return subprocess.run(
        stage.netns.command([*command, *argv, *args]),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_next_report_says_when_the_capture_was_removed_and_restored(stage: Stage) -> None:
    """After the changes above: each one is a sentence, with its time and its return."""
    _, text = next_report(stage.home)
    assert "Candor's capture of this computer's traffic was removed at" in text
    assert "and restored at" in text
    assert "Candor's capture of this computer's traffic was changed at" in text
    assert "(and again at " in text  # the second change, before it was put back
    assert "Candor's firewall table, which sends every app's traffic through Candor, was" in text
    assert "not restored" not in text


# --- the guard's rounds, in-process (the probe's window) -------------------------------------


def test_a_probe_missing_for_three_rounds_is_journaled_once_and_its_return_too(
    tmp_path: Path,
) -> None:
    table = render(Capture(candor_uid=998, transparent_port=PORT))
    table_file = _text_file(tmp_path / "capture.nft", table)
    rows: list[EventBody] = []
    now = [1000.0]
    last_probe: list[float | None] = [None]
    guard = CaptureGuard(
        Expected(table_file),
        rows.append,
        list_table=lambda: table,
        digest=ruleset_hash,
        last_probe=lambda: last_probe[0],
        probe_within=3 * INTERVAL,
        clock=lambda: now[0],
    )

    def tick(seconds: float) -> list[Any]:
        return _advance(now, seconds, guard)

    assert tick(2 * INTERVAL) == [] and rows == []
    assert [f.what for f in tick(INTERVAL)] == ["probe_missing"]
    tick(INTERVAL)
    assert [r.what for r in rows] == ["probe_missing"]  # once, not every round
    last_probe[0] = now[0]
    assert tick(1) == []
    assert [(r.what, getattr(r, "restored", None)) for r in rows][-1] == (
        "capture_restored",
        ["probe_missing"],
    )


def _advance(now: list[float], seconds: float, guard: CaptureGuard) -> list[Any]:
    now[0] += seconds
    return guard.check_now()


def found_with_another_listener(
    tmp_path: Path, script: str, udp: bool
) -> tuple[list[str], str, list[str], int]:
    """Run `script` (it binds a socket and prints its port), check the capture with that port
    as Candor's transparent (TCP) or DNS (UDP) listener: what was found, its words, the rows
    journaled, and the other program's pid."""
    table = render(Capture(candor_uid=998, transparent_port=PORT))
    table_file = _text_file(tmp_path / "capture.nft", table)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        port = int((other.stdout.readline() if other.stdout else "").strip())
        where = (("127.0.0.1", port),)
        rows: list[EventBody] = []
        guard = CaptureGuard(
            Expected(table_file, (), where) if udp else Expected(table_file, where),
            rows.append,
            list_table=lambda: table,
            digest=ruleset_hash,
            last_probe=lambda: None,
            probe_within=3 * INTERVAL,
        )
        found = guard.check_now()
    finally:
        other.kill()
        other.wait()
    detail = found[0].detail if found else ""
    return [f.what for f in found], detail, [r.what for r in rows], other.pid


def test_another_program_on_a_transparent_port_is_a_taken_over_capture(tmp_path: Path) -> None:
    """A listener this process does not own, where the table sends traffic: found by /proc."""
    found, detail, rows, pid = found_with_another_listener(tmp_path, LISTENER, udp=False)
    assert found == rows == ["capture_taken_over"]
    assert f"process {pid}" in detail


def test_another_program_on_the_dns_port_is_a_taken_over_capture(tmp_path: Path) -> None:
    """The table sends every lookup to Candor's DNS port: a UDP socket there that this process
    does not own takes them, and is found like a TCP listener."""
    found, detail, rows, pid = found_with_another_listener(tmp_path, UDP_LISTENER, udp=True)
    assert found == rows == ["capture_taken_over"]
    assert "lookups are sent to Candor" in detail and f"process {pid}" in detail


UDP_LISTENER = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""

LISTENER = """
import socket, time
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(
    ("listeners", "words"),
    [
        (["--transparent", "127.0.0.1:15445", "--dns", f"127.0.0.1:{DNS_PORT}"],
         f"sends connections to port {PORT}, but --transparent listens on port 15445"),
        (["--transparent", f"127.0.0.1:{PORT}"],
         f"sends DNS lookups to port {DNS_PORT}, but there is no --dns"),
    ],
)  # fmt: skip
def test_a_table_sending_elsewhere_than_the_listeners_is_refused_in_words(
    tmp_path: Path, listeners: list[str], words: str
) -> None:
    home = tmp_path / "home"
    write_home(home)
    table = _text_file(
        tmp_path / "candor.nft",
        render(Capture(candor_uid=0, transparent_port=PORT, dns_port=DNS_PORT)),
    )
    result = candor(
        home, "run", "--listen", "127.0.0.1:0", *listeners, "--capture-table", str(table)
    )
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
