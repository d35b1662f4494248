"""The person's settings and Candor's home folder: the foundation every part reads.

`from agent.config import ...` is the public way in; the modules below hold one idea each.
"""

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
from agent.config.toml_writing import CONFIG_HEADER, dump_config, save_config
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
    "PartnerSettings",
    "ReportSettings",
    "SafeSearchSettings",
    "SearchCaptureSettings",
    "SmtpSecurity",
    "SmtpSettings",
    "WebhookSettings",
    "Weekday",
    "create_once",
    "dump_config",
    "duration_words",
    "effective_categories",
    "format_duration",
    "home_path",
    "is_category_name",
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
