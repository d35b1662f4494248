"""What Candor's DNS answers for a name: the host-level decisions, by name.

Only a name whose host-level decision is block gets an answer of Candor's own: the block
address, a reserved address that is nobody's host. Under system-wide capture a connection to
it is redirected to Candor like any other, which shows the block page (plain HTTP, or HTTPS
where Candor's certificate is trusted) or refuses it; without capture it leads nowhere. Warned,
path-rule and inspected hosts resolve normally, so the proxy decides on the request itself.
Candor's own names (its origin `candor.invalid`, the canary's and the probe's) get the same
address, so they reach Candor through the capture.

The public encrypted-DNS resolvers that do not filter, and Firefox's canary name, get NXDOMAIN:
a program that cannot find its resolver uses the system's, which is Candor. While SafeSearch
is on, the engines' hosts are answered the way the engines document, as a CNAME to their strict
name (`forcesafesearch.google.com`, ...). Everything else is forwarded.

A lookup of a blocked name is journaled as a decision marked `via: dns`, through the recorder
and its repeat window (a browser asks for A, AAAA and HTTPS at once): browsers look names up
ahead of a visit, so the report counts these apart from pages. Allowed lookups leave nothing.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Collection
from dataclasses import dataclass

from agent.journal.events import VIA_DNS
from agent.proxy.addons.recorder import Recorder
from agent.proxy.addons.safesearch import safe_name
from agent.proxy.filter_settings import FilterSettings
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


class Verdict(enum.Enum):
    """How a name is answered."""

    FORWARD = "forward"
    """Asked of the upstream resolver; its answer is passed on."""
    BLOCK_ADDRESS = "block address"
    """Candor's own answer: the block address."""
    NXDOMAIN = "nxdomain"
    """Candor's own answer: no such name."""
    ALIAS = "alias"
    """A CNAME to `target`, followed by the upstream's answer for it."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The verdict on one name, with the alias's target."""

    verdict: Verdict
    target: str | None = None


FORWARD = Answer(Verdict.FORWARD)
BLOCK = Answer(Verdict.BLOCK_ADDRESS)
NO_SUCH_NAME = Answer(Verdict.NXDOMAIN)


class DnsPolicy:
    """Decides each looked-up name with the rules in force now (hot-reloaded), and journals the
    blocked ones."""

    def __init__(
        self,
        matcher: Callable[[], Matcher],
        recorder: Recorder,
        settings: Callable[[], FilterSettings] = FilterSettings,
        own_names: Collection[str] = (),
    ) -> None:
        """`own_names`: names that are Candor's own and always get the block address."""
        self._matcher = matcher
        self._recorder = recorder
        self._settings = settings
        self._own = frozenset(own_names)

    def decide(self, name: str) -> Answer:
        """The answer for a lowercase name without its final dot."""
        if name in self._own:
            return BLOCK
        decision = self._matcher().check_host(name).decision
        blocked = decision.decision == "block"
        if blocked:
            self._recorder.decided(decision, name, via=VIA_DNS)
        if is_encrypted_dns_name(name):
            return NO_SUCH_NAME
        if blocked:
            return BLOCK
        target = safe_name(name) if self._settings().safesearch else None
        if target is None or target == name:  # the strict name itself resolves as it is
            return FORWARD
        return Answer(Verdict.ALIAS, target)
