"""Passes a connection through as soon as its first TLS bytes name a host Candor leaves alone.

The filter decides at the ClientHello (it needs the SNI as well as the CONNECT target). Taken in
mitmproxy's `tls_clienthello` hook, a pass-through decision comes after the TLS layers have been
put on the connection's stack, and every later chunk of the connection then travels through
them. Taken here, in `next_layer`, from the same ClientHello bytes, the connection becomes a
bare relay, exactly what mitmproxy's own `ignore_hosts` does. Anything the filter wants to look
at (or refuse) is left to the usual path, where `tls_clienthello` decides it in full.

Must sit before mitmproxy's NextLayer addon in the chain: that one would otherwise choose the
TLS layer first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import layer, layers
from mitmproxy.proxy.layers.tls import parse_client_hello

Passes = Callable[[str | None, Any], bool]
"""(SNI, CONNECT target) -> True if the connection may pass through undecrypted."""


class EarlyPassthrough:
    """mitmproxy addon: a bare relay for connections the gate passes, before NextLayer."""

    def __init__(self, passes: Passes) -> None:
        self._passes = passes

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if nextlayer.layer is not None:
            return
        context = nextlayer.context
        client = context.client
        if client.tls or client.transport_protocol != "tcp" or not context.server.address:
            return
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return  # not a ClientHello: mitmproxy's own layer choice will say what it is
        if hello is None:
            return  # incomplete: NextLayer defers too, and this is asked again with more bytes
        if self._passes(hello.sni, context.server.address):
            nextlayer.layer = layers.TCPLayer(context, ignore=True)
