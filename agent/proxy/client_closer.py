"""Closes one client connection, the way mitmproxy closes one whose peer went away.

mitmproxy offers no call to close a client connection from an addon: `flow.kill()` cancels the
connection's task, and a cancellation that lands while the task waits for the connection's event
lock leaves the socket open for good. Closing the client's transport instead ends its reader at
once; the connection then winds down along mitmproxy's ordinary path (the peer closed), which
closes every socket it holds.
"""

from __future__ import annotations

from typing import Any, Protocol


class ConnectionHandlers(Protocol):
    """What a closer needs of mitmproxy's `Proxyserver`: its live handlers by client id."""

    connections: dict[Any, Any]


class ClientCloser:
    """Closes client connections by id; shared by the addons that must end one."""

    def __init__(self, server: ConnectionHandlers) -> None:
        self._server = server

    def close(self, client_id: str) -> bool:
        """Close the client connection `client_id`; False if it is gone already."""
        handler = self._server.connections.get(client_id)
        if handler is None:
            return False
        transport = handler.transports.get(handler.client)
        if transport is None or transport.writer is None:
            return False
        transport.writer.close()
        return True
