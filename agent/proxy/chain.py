"""Candor's addons, the collaborators they share, and their order in mitmproxy's chain.

Order matters: the pass-through decision comes before mitmproxy's NextLayer picks a TLS layer;
the connection gate after TlsConfig; Candor's own origin (`candor.invalid`, never filtered) and
the DoH block before the request filter, SafeSearch after it (a page served instead is left
alone); the canary after the filter, so it has the last word on the canary host only; body
streaming last, once every page Candor serves is chosen (mitmproxy cannot stream a request that
already has its answer). Candor's DNS listeners are an addon only to start and stop with the
proxy: lookups never pass through the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mitmproxy.addons import (
    block,
    core,
    next_layer,
    proxyserver,
    tlsconfig,
)

from agent.config import Config
from agent.proxy.addons import safesearch
from agent.proxy.addons.body_streaming import BodyStreaming
from agent.proxy.addons.canary import Canary
from agent.proxy.addons.client_deadline import FIRST_REQUEST_SECONDS, ClientDeadline
from agent.proxy.addons.connection_gate import ConnectionGate
from agent.proxy.addons.dns_service import DnsService
from agent.proxy.addons.doh import DohBlock
from agent.proxy.addons.early_passthrough import EarlyPassthrough
from agent.proxy.addons.own_origin import OwnOrigin, StatusPage
from agent.proxy.addons.own_pages import OwnPages
from agent.proxy.addons.recorder import Record, Recorder
from agent.proxy.addons.request_filter import RequestFilter
from agent.proxy.addons.resolve import Override, Resolve
from agent.proxy.addons.safesearch import SafeSearch
from agent.proxy.client_closer import ClientCloser
from agent.proxy.dns_policy import DnsPolicy
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.pages.origin import HOST as OWN_HOST
from agent.proxy.pages.tokens import PageTokens
from agent.proxy.socket_owners import Address
from rules.matcher import Matcher
from rules.model import Rule


def hosts_to_inspect(config: Config, canary: Canary) -> tuple[Rule, ...]:
    """SafeSearch's engines while it needs them, and the canary, which only Candor answers."""
    return (*safesearch.hosts_to_inspect(config), canary.rule)


@dataclass
class CandorAddons:
    """Candor's addons, built once per agent around the live matcher and settings."""

    matcher: Callable[[], Matcher]
    record: Record
    settings: Callable[[], FilterSettings]
    overrides: Sequence[Override] = ()
    canary: Canary = field(default_factory=Canary)
    """Made before the rules are loaded, which must list its host to inspect."""
    first_request: float = FIRST_REQUEST_SECONDS
    """Seconds a new client connection has to send its first request."""
    status_page: StatusPage | None = None
    """Writes the status page on Candor's origin (handed in by the composition root)."""
    may_read: Callable[[Address, Address], bool] = lambda client, proxy: True
    """Whether a client may read the status pages (handed in: `agent.proxy.page_readers`)."""
    recorder: Recorder = field(init=False)
    gate: ConnectionGate = field(init=False)
    pages: OwnPages = field(init=False)
    origin: OwnOrigin = field(init=False)
    dns: DnsService = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.record, self.settings)
        self.gate = ConnectionGate(self.matcher, self.recorder, answered_here=(self.canary.host,))
        tokens = PageTokens()
        self.pages = OwnPages(tokens)
        self.origin = OwnOrigin(
            tokens, self.recorder, self.settings, self.status_page, self.may_read
        )
        own_names = (OWN_HOST, self.canary.host, self.canary.probe_host)
        self.dns = DnsService(DnsPolicy(self.matcher, self.recorder, self.settings, own_names))

    def chain(self) -> list[Any]:
        """mitmproxy's addons Candor keeps, and Candor's, in the order they must run."""
        server = proxyserver.Proxyserver()
        closer = ClientCloser(server)
        addons: list[Any] = [
            core.Core(),
            block.Block(),
            server,
            ClientDeadline(closer, self.first_request),
            EarlyPassthrough(self.gate.passes_at_hello),
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            self.gate,
            self.origin,
            DohBlock(self.pages, self.recorder),
            RequestFilter(self.matcher, self.recorder, self.pages, self.gate, self.settings),
            SafeSearch(self.settings),
            self.canary,
            self.dns,
            BodyStreaming(closer),
        ]
        if self.overrides:
            addons.append(Resolve(self.overrides))
        return addons
