"""Candor's answers to DNS lookups (`candor run --dns`): the host-level decisions, by name.

Only a name whose host-level decision is block gets an answer of Candor's own: the block
address, a reserved address that is nobody's host. Under system-wide capture a connection to
it is redirected to Candor like any other, which shows the block page (plain HTTP, or HTTPS
where Candor's certificate is trusted) or refuses it; without capture it leads nowhere. Warned,
path-rule and inspected hosts resolve normally, so the proxy decides on the request itself.
Candor's own origin, `candor.invalid`, gets the same address, so a browser reaches Candor's
pages through the capture.

The public encrypted-DNS resolvers that do not filter, and Firefox's canary name, get NXDOMAIN:
a program that cannot find its resolver uses the system's, which is Candor. While SafeSearch
is on, the engines' hosts are answered the way the engines document, as a CNAME to their strict
name (`forcesafesearch.google.com`, ...) followed by that name's addresses, looked up upstream
in the same exchange. Everything else is forwarded, as asked, to the upstream resolver; its
answer comes back unchanged but for ECH configurations, which mitmproxy's own addon strips.

A lookup of a blocked name is journaled as a decision marked `via: dns`, through the recorder
and its repeat window (a browser asks for A, AAAA and HTTPS at once): browsers look names up
ahead of a visit, so the report counts these apart from pages. Allowed lookups leave nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from mitmproxy import addonmanager, ctx, dns, exceptions
from mitmproxy.net.dns import op_codes, response_codes, types

from agent.journal.events import VIA_DNS
from agent.proxy.addons.recorder import Recorder
from agent.proxy.addons.safesearch import safe_name
from agent.proxy.dns_upstream import Address, SystemResolvers, parse_upstream
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.pages.origin import HOST as OWN_HOST
from rules.encrypted_dns import is_encrypted_dns_name
from rules.matcher import Matcher

BLOCK_ADDRESS_V4 = ipaddress.IPv4Address("198.51.100.1")
"""TEST-NET-2 (RFC 5737): never routed, so never a real host, and not loopback or a LAN range,
so system-wide capture redirects connections to it to Candor. Not 0.0.0.0: Linux connects that
to the machine itself (loopback, which capture exempts), where any local server would answer."""
BLOCK_ADDRESS_V6 = ipaddress.IPv6Address("100::1")
"""The IPv6 discard-only prefix (RFC 6666), for the same reasons; not `::`, which is loopback."""
BLOCK_TTL = 10
"""Seconds a block answer may be cached: an edit of the rules reaches programs soon."""

_ALIAS = "candor.dns_alias"
"""Flow metadata: the name asked for, while its SafeSearch target is looked up upstream."""


class DnsFilter:
    """mitmproxy addon for DNS mode: answers blocked, encrypted-DNS, SafeSearch and Candor's own
    names, and forwards the rest to the upstream resolver."""

    def __init__(
        self,
        matcher: Callable[[], Matcher],
        recorder: Recorder,
        settings: Callable[[], FilterSettings] = FilterSettings,
        system: SystemResolvers | None = None,
    ) -> None:
        self._matcher = matcher
        self._recorder = recorder
        self._settings = settings
        self._system = system if system is not None else SystemResolvers()
        self._upstream: Address | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "dns_upstream",
            str,
            "",
            "IP[:PORT] of the resolver Candor's DNS forwards to; empty: the system's resolvers.",
        )

    def configure(self, updated: set[str]) -> None:
        if "dns_upstream" in updated:
            spec = ctx.options.dns_upstream
            try:
                self._upstream = parse_upstream(spec) if spec else None
            except ValueError as exc:
                raise exceptions.OptionsError(f"--dns-upstream {exc}") from None

    def dns_request(self, flow: dns.DNSFlow) -> None:
        flow.metadata.pop(_ALIAS, None)  # a client may reuse a query id on one socket
        if flow.response or flow.error or not flow.live:
            return
        request = flow.request
        question = request.question
        if question is not None and request.op_code == op_codes.QUERY:
            flow.response = self._answer(flow, question)
            if flow.response is not None:
                return
        upstream = self._upstream or self._system.current()
        if upstream is None:
            flow.response = request.fail(response_codes.SERVFAIL)
        elif not flow.server_conn.connected:
            flow.server_conn.address = upstream

    def dns_response(self, flow: dns.DNSFlow) -> None:
        alias = flow.metadata.pop(_ALIAS, None)
        response = flow.response
        if alias is None or response is None or not response.questions:
            return
        asked, target = alias
        question = response.questions[0]
        question.name = flow.request.questions[0].name = asked
        if response.response_code == response_codes.NOERROR:
            ttl = min((a.ttl for a in response.answers), default=dns.ResourceRecord.DEFAULT_TTL)
            cname = dns.ResourceRecord.CNAME(asked, target, ttl=ttl)
            response.answers = [cname, *response.answers]

    def _answer(self, flow: dns.DNSFlow, question: dns.Question) -> dns.DNSMessage | None:
        """Candor's own answer to this question, or None to forward it (perhaps renamed)."""
        name = question.name.rstrip(".").lower()
        if name == OWN_HOST:
            return address_answer(flow.request, question)
        decision = self._matcher().check_host(name).decision
        blocked = decision.decision == "block"
        if blocked:
            self._recorder.decided(decision, name, via=VIA_DNS)
        if is_encrypted_dns_name(name):
            return flow.request.fail(response_codes.NXDOMAIN)
        if blocked:
            return address_answer(flow.request, question)
        target = safe_name(name) if self._settings().safesearch else None
        if target is not None:
            flow.metadata[_ALIAS] = (question.name, target)
            question.name = target
        return None


def address_answer(request: dns.DNSMessage, question: dns.Question) -> dns.DNSMessage:
    """The block address for A and AAAA (a captured address: Candor answers there); no records
    (but the name exists) for any other type."""
    if question.type == types.A:
        records = [dns.ResourceRecord.A(question.name, BLOCK_ADDRESS_V4, ttl=BLOCK_TTL)]
    elif question.type == types.AAAA:
        records = [dns.ResourceRecord.AAAA(question.name, BLOCK_ADDRESS_V6, ttl=BLOCK_TTL)]
    else:
        records = []
    return request.succeed(records)
