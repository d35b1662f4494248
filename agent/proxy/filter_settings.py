"""The few settings the proxy's addons read on every request, rebuilt only when a reload
replaces the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from agent.config import Config


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """The parts of the configuration the addons read on every request."""

    partner: str | None = None
    """Named on the pages, as the person to reach out to."""
    partner_link: str | None = None
    """A `mailto:`, `sms:` or `tel:` link to the partner on the pages, if the person chose one."""
    detailed: bool = False
    """The detail level allows paths and search terms in the journal."""
    sites_named: bool = False
    """The detail level names sites ("domains" or "detailed"): the journal may keep the site
    whose page pulled a blocked host in. At "summary" it keeps no site the person visited."""
    safesearch: bool = True
    search_capture: bool = True


def filter_settings(config: Config) -> FilterSettings:
    """The addons' view of `config` (the settings in force, cooling-off included)."""
    return FilterSettings(
        partner=config.partner.name,
        partner_link=partner_link(config),
        detailed=config.detail_level == "detailed",
        sites_named=config.detail_level in ("domains", "detailed"),
        safesearch=config.safesearch.enabled,
        search_capture=config.search_capture.enabled,
    )


REACH_OUT_SUBJECT = "Could we talk?"
"""The subject of the email the block page's button starts (the person writes the rest)."""


def partner_link(config: Config) -> str | None:
    """The block page's one-tap link to the partner, from `[partner] contact`."""
    contact = config.partner.contact
    if contact == "email":
        email = config.partner.email
        return f"mailto:{quote(email)}?subject={quote(REACH_OUT_SUBJECT)}" if email else None
    return contact
