"""Closes client connections that never ask for anything, so idle sockets cannot pile up.

A socket opened to Candor and left idle, or a request head sent a byte at a time, holds a file
descriptor and memory for nothing; five hundred of them held the agent's descriptors until
mitmproxy's idle time-out, and a byte now and then defeats that time-out altogether. A client
connection that has not sent a whole first request (a CONNECT or a request head) within
FIRST_REQUEST_SECONDS of connecting is closed; after its first request, a connection idle for
IDLE_SECONDS in both directions is closed by mitmproxy (`tcp_timeout`). Browsers open a new one
when they need it.
"""

from __future__ import annotations

import asyncio

from mitmproxy import connection, http

from agent.proxy.client_closer import ClientCloser

FIRST_REQUEST_SECONDS = 30.0
"""A browser sends its request as soon as it connects; preconnected sockets wait a few seconds."""
IDLE_SECONDS = 300
"""mitmproxy's `tcp_timeout` for Candor: Chromium keeps an idle socket about as long."""


class ClientDeadline:
    """mitmproxy addon: a deadline for each client connection's first request."""

    def __init__(self, closer: ClientCloser, first_request: float = FIRST_REQUEST_SECONDS) -> None:
        self._closer = closer
        self._first_request = first_request
        self._waiting: dict[str, asyncio.TimerHandle] = {}

    def client_connected(self, client: connection.Client) -> None:
        loop = asyncio.get_running_loop()
        self._waiting[client.id] = loop.call_later(self._first_request, self._expire, client.id)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._asked(flow.client_conn.id)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._asked(flow.client_conn.id)

    def client_disconnected(self, client: connection.Client) -> None:
        self._asked(client.id)

    def waiting(self) -> int:
        """Client connections that have not sent a whole first request yet."""
        return len(self._waiting)

    def _asked(self, client_id: str) -> None:
        timer = self._waiting.pop(client_id, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, client_id: str) -> None:
        self._waiting.pop(client_id, None)
        self._closer.close(client_id)
