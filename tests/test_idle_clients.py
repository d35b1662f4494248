"""Idle and trickling client connections are closed (issue 12, item 14): a real agent, real
sockets. Five hundred idle sockets used to stay open until mitmproxy's ten-minute idle time-out,
and a byte now and then kept one open for ever."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx

from tests.origins import Origin
from tests.proxy_fixtures import client_context, start_agent, write_home

DEADLINE = 2.0
"""The first-request deadline this test gives its agent (a shipped agent's is 30 s)."""


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """True once the agent has closed `sock` (within `wait` seconds)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except ConnectionResetError:
        return True


def test_idle_and_trickling_client_connections_are_closed(tmp_path: Path, origin: Origin) -> None:
    home = tmp_path / "home"
    write_home(home)
    agent = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1",
        first_request_seconds=DEADLINE,
    )  # fmt: skip
    try:
        address = (agent.host, agent.port)
        idle = [socket.create_connection(address) for _ in range(200)]
        trickling = [socket.create_connection(address) for _ in range(3)]
        head = f"GET {origin.http('allowed.test', '/')} HTTP/1.1\r\nHost: allowed.test\r\n"
        used = socket.create_connection(address)
        used.sendall(f"{head}\r\n".encode())
        assert used.recv(12).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        for i, char in enumerate(head * 20):  # one byte at a time, never the whole head
            if time.monotonic() - started > DEADLINE * 4:
                break
            for sock in trickling:
                with contextlib.suppress(OSError):  # closed already: that is the point
                    sock.sendall(char.encode())
            time.sleep(0.05 if i < 200 else 0.2)
        assert all(closed_by_peer(sock, 30) for sock in idle + trickling)
        # A connection that asked for something is left to the idle time-out (minutes).
        assert not closed_by_peer(used, 0.5)
        with httpx.Client(proxy=agent.proxy_url, verify=client_context(), timeout=10) as c:
            assert c.get(origin.http("allowed.test", "/")).status_code == 200
        for sock in [*idle, *trickling, used]:
            sock.close()
    finally:
        assert agent.stop() == 0, "".join(agent.stderr_lines)
