"""The help and recovery sites Candor never blocks, and the few a block page points to.

The list is package data (`rules/help/sites.txt`): 12-step fellowships, recovery programmes,
sexual-health services and helplines, each a host (with its subdomains) and a name. The matcher
allows these hosts before any rule, list or recogniser is consulted (`Policy.help_sites`), so
a link to help is never closed, whatever a keyword or an imported list says: help must never be
blocked. A person's own additions go in the allowlist of config.toml instead, which outranks the
rules the same way and, since it loosens, waits for the cooling-off delay and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from rules.hostnames import InvalidHost, normalise_host
from rules.model import Rule, RuleKind

HELP_LIST_SOURCE = "help list"
"""The `source` of a decision that allowed a help or recovery site."""

LINKS_PER_PAGE = 3
EVERY_CATEGORY = "*"


@dataclass(frozen=True, slots=True)
class HelpSite:
    """One help or recovery site: its host, its name, where the block page offers it."""

    host: str
    name: str
    offered_for: frozenset[str] = frozenset()
    """Categories whose block page links to it (`*`: every category)."""

    @property
    def url(self) -> str:
        """The site's home page."""
        return f"https://{self.host}/"


class HelpSitesError(ValueError):
    """A sites file line that is not `host name [| categories]`."""


def parse_help_sites(text: str, name: str = "sites.txt") -> tuple[HelpSite, ...]:
    """Read a sites file; a bad line raises `HelpSitesError` naming it."""
    sites: list[HelpSite] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        entry, _, offered = line.partition("|")
        host, _, label = entry.strip().partition(" ")
        try:
            host = normalise_host(host)
        except InvalidHost:
            raise HelpSitesError(f"{name}:{lineno}: '{host}' is not a host name") from None
        if not label.strip():
            raise HelpSitesError(f"{name}:{lineno}: a site needs a name after its host")
        sites.append(HelpSite(host, label.strip(), frozenset(offered.split())))
    return tuple(sites)


@cache
def help_sites() -> tuple[HelpSite, ...]:
    """The shipped help and recovery sites (`rules/help/sites.txt`), read once."""
    text = resources.files("rules.help").joinpath("sites.txt").read_text("utf-8")
    return parse_help_sites(text)


def help_site_rules(sites: tuple[HelpSite, ...] | None = None) -> tuple[Rule, ...]:
    """The sites as domain rules for the matcher's policy, each named by the help list."""
    return tuple(
        Rule(RuleKind.DOMAIN, site.host, source=HELP_LIST_SOURCE)
        for site in (help_sites() if sites is None else sites)
    )


def help_links(category: str | None, limit: int = LINKS_PER_PAGE) -> tuple[HelpSite, ...]:
    """The sites a block page in `category` offers: that category's first, then every
    category's, at most `limit`."""
    sites = help_sites()
    mine = [s for s in sites if category is not None and category in s.offered_for]
    every = [s for s in sites if EVERY_CATEGORY in s.offered_for and s not in mine]
    return tuple([*mine, *every][:limit])
