"""The person's settings and Candor's home folder: the foundation every part reads.

`from agent.config import ...` is the public way in; the modules below hold one idea each. A name's
module is imported when the name is first used, so reading the home's paths does not build the
pydantic model (see `EXPORTED_FROM`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.lazy_names import lazy_names

if TYPE_CHECKING:
    from agent.config.durations import (
        duration_words,
        format_duration,
        parse_duration,
        rough_duration_words,
    )
    from agent.config.errors import ConfigError
    from agent.config.files import create_once, write_atomic
    from agent.config.home import (
        APP_NAME,
        HOME_ENV,
        STARTER_CATEGORIES,
        STARTERS_STATE,
        Home,
        home_path,
        is_category_name,
        resolve_home,
        starter_categories,
        starter_text,
    )
    from agent.config.last_good import LastGood, last_good_config
    from agent.config.loading import load_config, parse_config
    from agent.config.model import (
        DETAIL_LEVELS,
        MAX_COOLING_OFF,
        WEEKDAYS,
        AgentSettings,
        CategorySettings,
        Config,
        DeliverySettings,
        DetailLevel,
        DeviceSettings,
        JournalSettings,
        PartnerSettings,
        ReportSettings,
        SafeSearchSettings,
        SearchCaptureSettings,
        SmtpSecurity,
        SmtpSettings,
        WebhookSettings,
        Weekday,
        effective_categories,
        parse_listen,
    )
    from agent.config.toml_writing import (
        CONFIG_HEADER,
        config_edit,
        dump_config,
        editing_config,
        save_config,
    )
    from agent.config.zones import local_zone

__all__ = [
    "APP_NAME",
    "CONFIG_HEADER",
    "DETAIL_LEVELS",
    "HOME_ENV",
    "MAX_COOLING_OFF",
    "STARTERS_STATE",
    "STARTER_CATEGORIES",
    "WEEKDAYS",
    "AgentSettings",
    "CategorySettings",
    "Config",
    "ConfigError",
    "DeliverySettings",
    "DetailLevel",
    "DeviceSettings",
    "Home",
    "JournalSettings",
    "LastGood",
    "PartnerSettings",
    "ReportSettings",
    "SafeSearchSettings",
    "SearchCaptureSettings",
    "SmtpSecurity",
    "SmtpSettings",
    "WebhookSettings",
    "Weekday",
    "config_edit",
    "create_once",
    "dump_config",
    "duration_words",
    "editing_config",
    "effective_categories",
    "format_duration",
    "home_path",
    "is_category_name",
    "last_good_config",
    "load_config",
    "local_zone",
    "parse_config",
    "parse_duration",
    "parse_listen",
    "resolve_home",
    "rough_duration_words",
    "save_config",
    "starter_categories",
    "starter_text",
    "write_atomic",
]

EXPORTED_FROM: dict[str, str] = {
    "duration_words": "agent.config.durations",
    "format_duration": "agent.config.durations",
    "parse_duration": "agent.config.durations",
    "rough_duration_words": "agent.config.durations",
    "ConfigError": "agent.config.errors",
    "create_once": "agent.config.files",
    "write_atomic": "agent.config.files",
    "APP_NAME": "agent.config.home",
    "HOME_ENV": "agent.config.home",
    "STARTER_CATEGORIES": "agent.config.home",
    "STARTERS_STATE": "agent.config.home",
    "Home": "agent.config.home",
    "home_path": "agent.config.home",
    "is_category_name": "agent.config.home",
    "resolve_home": "agent.config.home",
    "starter_categories": "agent.config.home",
    "starter_text": "agent.config.home",
    "LastGood": "agent.config.last_good",
    "last_good_config": "agent.config.last_good",
    "load_config": "agent.config.loading",
    "parse_config": "agent.config.loading",
    "DETAIL_LEVELS": "agent.config.model",
    "MAX_COOLING_OFF": "agent.config.model",
    "WEEKDAYS": "agent.config.model",
    "AgentSettings": "agent.config.model",
    "CategorySettings": "agent.config.model",
    "Config": "agent.config.model",
    "DeliverySettings": "agent.config.model",
    "DetailLevel": "agent.config.model",
    "DeviceSettings": "agent.config.model",
    "JournalSettings": "agent.config.model",
    "PartnerSettings": "agent.config.model",
    "ReportSettings": "agent.config.model",
    "SafeSearchSettings": "agent.config.model",
    "SearchCaptureSettings": "agent.config.model",
    "SmtpSecurity": "agent.config.model",
    "SmtpSettings": "agent.config.model",
    "WebhookSettings": "agent.config.model",
    "Weekday": "agent.config.model",
    "effective_categories": "agent.config.model",
    "parse_listen": "agent.config.model",
    "CONFIG_HEADER": "agent.config.toml_writing",
    "dump_config": "agent.config.toml_writing",
    "save_config": "agent.config.toml_writing",
    "config_edit": "agent.config.toml_writing",
    "editing_config": "agent.config.toml_writing",
    "local_zone": "agent.config.zones",
}
"""The module that holds each public name, imported when the name is first used."""

__getattr__, __dir__ = lazy_names(__name__, EXPORTED_FROM)
