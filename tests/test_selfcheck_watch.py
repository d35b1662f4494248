"""Between two self-checks: a change to the wiring is journaled within seconds (watched, not
polled), and a forwarding proxy put on Candor's advertised port is found by who owns the socket.

Real agents on real installs in a temporary root (tests/test_install_linux.py), the default
five-minute interval (so only the watch can explain a check within seconds), a real asyncio relay.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import Home
from agent.health.proxy_owner import listener_problem, split_proxy
from agent.health.selfcheck import last_result
from agent.health.watch import ChangeWatch, Watched
from installers.checks import check_install, watch_list
from tests import test_install_linux as linux_tests
from tests.conftest import candor
from tests.proxy_fixtures import RunningAgent, start_agent
from tests.report_helpers import next_report

pytestmark = pytest.mark.slow  # real tools, real agents: seconds, not milliseconds

root = linux_tests.root
on_linux_proc = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="socket owners come from /proc (Linux)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def installed_home(tmp_path: Path, root: Path, port: int) -> Path:
    """A home installed into `root`, its desktop proxy pointing at 127.0.0.1:`port`."""
    home = tmp_path / "watched-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{port}"\n')
    done = candor(home, "install", "--root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    return home


def suspicions(agent: RunningAgent) -> list[dict[str, Any]]:
    return [e for e in agent.events("bypass_suspected") if e.get("source") == "self-check"]


def wait_for_suspicion(agent: RunningAgent, count: int, within: float) -> dict[str, Any]:
    """The `count`-th self-check suspicion, which must come within `within` seconds."""
    deadline = time.monotonic() + within
    while len(found := suspicions(agent)) < count:
        assert time.monotonic() < deadline, f"nothing journaled within {within}s: {found}"
        time.sleep(0.1)
    return found[count - 1]


def wait_until_clean(home: Path, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not (last_result(Home.at(home)) or {}).get("ok"):
        assert time.monotonic() < deadline, last_result(Home.at(home))
        time.sleep(0.1)


# --- a forwarding proxy on the advertised port ----------------------------------------------


class Relay:
    """A tiny forwarding proxy: every connection to `port` is relayed to `target` (asyncio)."""

    def __init__(self, port: int, target: int) -> None:
        self.port = port
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@on_linux_proc
def test_a_forwarding_proxy_on_the_advertised_port_is_journaled_within_seconds(
    root: Path, tmp_path: Path
) -> None:
    """Candor moved to another port in config.toml, a relay put where the desktop points: the
    canary still passes (it is forwarded), the socket's owner does not."""
    advertised, moved = free_port(), free_port()
    home = installed_home(tmp_path, root, advertised)
    (home / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{moved}"\n')
    with Relay(advertised, moved):
        running = start_agent(home)  # the shipped five-minute interval; the first check at 5 s
        try:
            assert running.port == moved
            event = wait_for_suspicion(running, 1, within=20)
            problems = {p["what"]: p["detail"] for p in event["problems"]}
            assert event["what"] == "proxy taken over"
            assert set(problems) == {"proxy taken over"}  # the canary got through the relay
            detail = problems["proxy taken over"]
            assert detail.startswith(f"127.0.0.1:{advertised}, where web traffic is sent")
            assert f"process {os.getpid()}" in detail
        finally:
            assert running.stop() == 0
    doc, text = next_report(home)
    assert [b["what"] for b in doc["integrity"]["bypass"]] == ["proxy taken over"]
    assert "Another program took Candor's place at the address the computer sends" in text


def test_the_listener_check_knows_this_agent_from_another_program(
    agent: RunningAgent, tmp_path: Path
) -> None:
    if not Path("/proc/net/tcp").exists():
        assert listener_problem(agent.proxy_url, agent.process.pid) is None
        return
    assert listener_problem(agent.proxy_url, agent.process.pid) is None
    assert listener_problem(f"127.0.0.1:{agent.port}", agent.process.pid) is None
    other = listener_problem(agent.proxy_url)  # this test's process is not the agent
    assert other is not None and f"process {agent.process.pid}" in other
    assert listener_problem(f"http://127.0.0.1:{free_port()}") is None  # nothing listens
    assert split_proxy("http://[::1]:8080/") == ("::1", 8080)
    assert split_proxy("localhost") is None


# --- watched, not polled --------------------------------------------------------------------


def test_undoing_the_wiring_is_journaled_within_seconds_not_minutes(
    root: Path, tmp_path: Path
) -> None:
    """With the shipped five-minute interval, each change is journaled within seconds: the GNOME
    proxy (`gsettings monitor`), Firefox's policy file and KDE's kioslaverc (watchdog)."""
    port = free_port()
    home = installed_home(tmp_path, root, port)
    running = start_agent(home)
    try:
        assert linux_tests.wait_for_self_check(home)["ok"] is True
        gsettings = ["gsettings", "set", "org.gnome.system.proxy", "mode"]
        subprocess.run([*gsettings, "none"], check=True)
        assert wait_for_suspicion(running, 1, within=10)["what"] == "proxy unset"
        subprocess.run([*gsettings, "manual"], check=True)
        wait_until_clean(home)

        policies = root / "etc/firefox/policies/policies.json"
        doc = json.loads(policies.read_text())
        doc["policies"]["DNSOverHTTPS"]["Locked"] = False
        policies.write_text(json.dumps(doc))
        event = wait_for_suspicion(running, 2, within=10)
        assert event["what"] == "policy missing" and "no longer locked" in json.dumps(event)
        doc["policies"]["DNSOverHTTPS"]["Locked"] = True
        policies.write_text(json.dumps(doc))
        wait_until_clean(home)

        kde = ["kwriteconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key"]
        subprocess.run([*kde, "ProxyType", "0"], check=True)
        event = wait_for_suspicion(running, 3, within=10)
        assert event["what"] == "proxy unset" and "ProxyType" in json.dumps(event)
        monitors = monitors_of(running.process.pid, "org.gnome.system.proxy")
        assert monitors, "the agent runs its gsettings monitors"
    finally:
        assert running.stop() == 0
    assert len(suspicions(running)) == 3  # once per change
    doc, text = next_report(home)
    found = [b["what"] for b in doc["integrity"]["bypass"]]
    # With the desktop proxy off, the canary (sent the way the desktop says) fails as well.
    assert [w for w in found if w != "canary failed"] == [
        "proxy unset",
        "policy missing",
        "proxy unset",
    ]
    assert "The proxy setting that sends traffic through Candor was switched off" in text
    assert "The browser settings that keep browsers going through Candor were" in text
    assert "Traceback" not in "".join(running.stderr_lines)
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in monitors):
        assert time.monotonic() < deadline, "the agent's monitors outlived it"
        time.sleep(0.1)


def monitors_of(agent_pid: int, schema: str) -> list[int]:
    """The pids of this agent's own `gsettings monitor SCHEMA` children (other tests' agents,
    running at the same time on a shared machine, have their own)."""
    argv = ["pgrep", "-P", str(agent_pid), "-f", f"gsettings monitor {schema}$"]
    found = subprocess.run(argv, capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


def test_the_watch_list_follows_the_install_record(root: Path, tmp_path: Path) -> None:
    home = installed_home(tmp_path, root, free_port())
    listed = watch_list(Home.at(home))
    user = root / "home/sam"
    assert root / "etc/firefox/policies/policies.json" in listed.files
    assert root / "etc/ssl/certs/ca-certificates.crt" in listed.files
    assert user / ".config/kioslaverc" in listed.files
    assert user / ".local/share/pki/nssdb/cert9.db" in listed.files
    assert ("gsettings", "monitor", "org.gnome.system.proxy") in listed.monitors
    assert ("gsettings", "monitor", "org.gnome.system.proxy.https") in listed.monitors
    assert listed.refresh_on == (home / "state/install.json",)
    assert check_install(Home.at(home), canary=lambda *_: None, listener=lambda _: None) == []
    assert candor(home, "uninstall", "--root", str(root), "--without-notice").returncode == 0
    emptied = watch_list(Home.at(home))
    assert (emptied.files, emptied.monitors) == ((), ())


def test_the_watch_checks_once_per_burst_and_stops_cleanly(tmp_path: Path) -> None:
    """Files in folders that come and go, a monitor command, a list that is read again when the
    record changes; after stop, no thread and no child process is left."""
    watched = tmp_path / "policies" / "policies.json"
    record = tmp_path / "state" / "install.json"
    record.parent.mkdir()
    lines, other_lines = tmp_path / "lines", tmp_path / "other-lines"
    lines.touch()
    other_lines.touch()
    tail = ("tail", "-n", "0", "-F", str(lines))
    other_tail = ("tail", "-n", "0", "-F", str(other_lines))
    lists = [Watched(files=(watched,), monitors=(tail,), refresh_on=(record,))]
    changes: list[float] = []
    watch = ChangeWatch(
        lambda: lists[0], lambda: changes.append(time.monotonic()), settle=0.2, min_gap=0.2
    )
    before = set(threading.enumerate())
    watch.start()

    def settle(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(changes) < count:
            assert time.monotonic() < deadline, changes
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(changes) == count

    try:
        time.sleep(0.3)  # tail has opened its file
        watched.parent.mkdir()  # the folder appears: watched through its parent until then
        watched.write_text("{}")
        settle(1)
        for i in range(5):  # a burst: one check
            watched.write_text("{" * i)
        settle(2)
        with lines.open("a") as f:  # the monitor prints two lines: one check
            f.write("changed\nchanged\n")
        settle(3)
        (tmp_path / "unrelated").write_text("nothing to see")
        time.sleep(0.5)
        assert len(changes) == 3
        lists[0] = Watched(files=(), monitors=(other_tail,), refresh_on=(record,))
        record.write_text("{}")  # the list is read again: the first monitor ends
        settle(4)
        assert watch.watching.monitors == (other_tail,)
        watched.write_text("no longer watched")
        time.sleep(0.5)
        assert len(changes) == 4
        assert running(str(other_lines)) and not running(str(lines))
    finally:
        watch.stop()
    time.sleep(0.2)
    assert {t for t in threading.enumerate() if t.is_alive()} <= before
    assert not running(str(other_lines))  # no monitor left running


def running(argument: str) -> bool:
    return subprocess.run(["pgrep", "-f", argument], capture_output=True).returncode == 0


def test_without_gsettings_or_inotify_the_watch_still_starts(tmp_path: Path) -> None:
    watch = ChangeWatch(
        lambda: Watched(monitors=(("no-such-command-for-candor", "monitor"),)), lambda: None
    )
    watch.start()
    assert watch.watching.monitors == (("no-such-command-for-candor", "monitor"),)
    watch.stop()
