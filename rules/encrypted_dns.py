"""The public encrypted-DNS resolvers that do not filter, as one list with one owner.

A resolver Candor cannot see (DNS over HTTPS or over TLS) is a way around it. The list is the
"DNS over HTTPS resolvers" section of the bypass starter list (`rules/starter/bypass.txt`), read
as shipped: the starter blocks these hosts as a category the person can edit, and Candor's DNS
answers them NXDOMAIN, so a program falls back to the system's resolver (Candor). Family-filter
resolvers are left out of that section on purpose (see `rules/starter/README.md`). Firefox's
canary name, whose NXDOMAIN turns Firefox's own DNS over HTTPS off, is named here too.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from rules.hostnames import parent_domains
from rules.model import RuleKind
from rules.syntax import parse_rule, rules_text_lines

SECTION_HEADING = "# DNS over HTTPS resolvers"
"""The line that opens the resolvers' section in the bypass starter list; a blank line ends it."""

FIREFOX_CANARY = "use-application-dns.net"
"""Firefox turns its default DNS over HTTPS off when this name does not resolve (NXDOMAIN)."""


@cache
def resolver_names() -> tuple[frozenset[str], frozenset[str]]:
    """(exact hosts, domains with their subdomains) of the resolvers' section, as shipped."""
    text = resources.files("rules.starter").joinpath("bypass.txt").read_text("utf-8")
    exact: set[str] = set()
    domains: set[str] = set()
    inside = False
    for line in rules_text_lines(text):
        if line.startswith(SECTION_HEADING):
            inside = True
            continue
        if not inside:
            continue
        if not line.strip():
            break
        rule = parse_rule(line, "bypass.txt")
        if rule is None:
            continue
        if rule.kind is RuleKind.EXACT:
            exact.add(rule.value)
        elif rule.kind is RuleKind.DOMAIN:
            domains.add(rule.value)
    return frozenset(exact), frozenset(domains)


def is_encrypted_dns_name(host: str) -> bool:
    """Whether `host` (normalised, lower case, no trailing dot) is a listed resolver or the
    Firefox canary name."""
    if host == FIREFOX_CANARY:
        return True
    exact, domains = resolver_names()
    return host in exact or any(name in domains for name in parent_domains(host))
