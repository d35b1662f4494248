"""The few settings the proxy's addons read on every request, rebuilt only when a reload
replaces the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import Config


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """The parts of the configuration the addons read on every request."""

    partner: str | None = None
    """Named on the pages, as the person to reach out to."""
    detailed: bool = False
    """The detail level allows paths and search terms in the journal."""
    safesearch: bool = True
    search_capture: bool = True


def filter_settings(config: Config) -> FilterSettings:
    """The addons' view of `config` (the settings in force, cooling-off included)."""
    return FilterSettings(
        partner=config.partner.name,
        detailed=config.detail_level == "detailed",
        safesearch=config.safesearch.enabled,
        search_capture=config.search_capture.enabled,
    )
