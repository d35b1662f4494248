"""Socket owners from /proc (the listener on Candor's port, a client's program) and the pinned
clients they scope: real sockets on loopback, and a system without /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.proxy import socket_owners
from agent.proxy.pinned_clients import PinnedClients

linux_only = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="socket owners come from /proc (Linux)"
)


def test_addresses_read_as_the_kernel_writes_them(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    (tmp_path / "net" / "tcp").write_text(
        header + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
        "1000 0 4242 1 0 100 0 0 10 0\n"
    )
    ipv6_loopback = "00000000000000000000000001000000"
    (tmp_path / "net" / "tcp6").write_text(
        header + f"   0: {ipv6_loopback}:1F90 {'0' * 32}:0000 0A 00000000:00000000 "
        "00:00000000 00000000 1000 0 4343 1 0 100 0 0 10 0\n"
    )
    found = list(socket_owners.tcp_sockets(tmp_path))
    if sys.byteorder == "little":
        assert [(s.local, s.state, s.inode) for s in found] == [
            (("127.0.0.1", 8080), socket_owners.LISTEN, 4242),
            (("::1", 8080), socket_owners.LISTEN, 4343),
        ]
    assert socket_owners.listeners(["127.0.0.1"], 8080, tmp_path) == {4242}
    assert socket_owners.plain_ip("::ffff:127.0.0.1") == "127.0.0.1"


def test_without_proc_every_answer_is_unknown(tmp_path: Path) -> None:
    assert not socket_owners.supported(tmp_path)
    assert list(socket_owners.tcp_sockets(tmp_path)) == []
    assert socket_owners.listeners(["127.0.0.1"], 8080, tmp_path) == set()
    assert socket_owners.connection_owner(("127.0.0.1", 1), ("127.0.0.1", 2), tmp_path) is None
    assert socket_owners.owner(1, None, tmp_path) is None


@linux_only
def test_the_listener_and_a_client_are_found_with_their_programs() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        inodes = socket_owners.listeners(["127.0.0.1"], port)
        assert inodes and socket_owners.holds(os.getpid(), inodes) == inodes
        child = subprocess.Popen(
            [sys.executable, "-c", f"import socket,time; s=socket.create_connection(('127.0.0.1', "
             f"{port})); time.sleep(30)"],
        )  # fmt: skip
        try:
            conn, peer = server.accept()
            with conn:
                found = socket_owners.connection_owner(peer, conn.getsockname())
                assert found is not None and found.pid == child.pid
                assert found.program == socket_owners.program(child.pid)
        finally:
            child.kill()
            child.wait()


def test_a_program_is_pinned_only_for_itself_where_programs_can_be_told() -> None:
    programs = {"one": "curl", "two": "firefox", "three": "curl"}
    pinned = PinnedClients(lambda peer, _sock: programs[peer], can_tell=True)
    # First refusal: the program is unknown (its socket is gone), so the host is only marked.
    assert pinned.refused("bank.test", "c1", "127.0.0.1") is None
    assert pinned.concerns(["bank.test"]) and pinned.needs_lookup(["bank.test"], "127.0.0.1")
    assert not pinned.needs_lookup(["bank.test"], "10.0.0.2")
    assert pinned.look_up("c2", "one", None) == "curl"
    assert pinned.refused("bank.test", "c2", "127.0.0.1") == ("127.0.0.1", "curl")
    assert pinned.refused("bank.test", "c2", "127.0.0.1") is None  # once
    pinned.look_up("c3", "two", None)
    pinned.look_up("c4", "three", None)
    assert not pinned.passes(["bank.test"], "c3", "127.0.0.1")  # firefox: still inspected
    assert pinned.passes(["bank.test"], "c4", "127.0.0.1")  # curl again
    assert not pinned.passes(["bank.test"], "c4", "10.0.0.2")  # curl on another machine
    assert not pinned.passes(["other.test"], "c4", "127.0.0.1")
    pinned.forget("c4")
    assert not pinned.passes(["bank.test"], "c4", "127.0.0.1")


def test_without_programs_the_address_is_the_client() -> None:
    pinned = PinnedClients(lambda *_: pytest.fail("no lookup where programs cannot be told"))
    pinned.can_tell = False
    assert pinned.refused("bank.test", "c1", "10.0.0.2") == ("10.0.0.2", None)
    assert not pinned.needs_lookup(["bank.test"], "10.0.0.2")
    assert pinned.passes(["bank.test"], "c9", "10.0.0.2")
    assert not pinned.passes(["bank.test"], "c9", "10.0.0.3")


@linux_only
def test_looking_up_a_client_is_quick_enough_for_a_refused_host() -> None:
    """Only connections to a host some client refused pay this, off the event loop."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            conn, _peer = server.accept()
            with conn:
                start = time.perf_counter()
                found = socket_owners.connection_owner(client.getsockname(), conn.getsockname())
                took = time.perf_counter() - start
    assert found is not None and found.pid == os.getpid()
    assert took < 1.0
