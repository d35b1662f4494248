"""The person's settings: one pydantic model every part of Candor reads `config.toml` through.

A typo is caught in one place and reported with its key and line number (`agent.config.loading`),
whichever part would have read it. Every field has a default, so a fresh home works with no file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from agent.config.durations import format_duration, parse_duration
from agent.config.home import STARTER_CATEGORIES, is_category_name
from agent.config.shown import show
from agent.config.zones import local_zone
from rules.hostnames import InvalidHost, is_ip_literal, normalise_host
from rules.model import Action

MAX_COOLING_OFF = dt.timedelta(days=30)
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000
"""The years a date in config.toml may name (Candor writes today's)."""


def _duration(value: Any) -> dt.timedelta:
    if isinstance(value, str):
        value = parse_duration(value, longest=MAX_COOLING_OFF)
    elif not isinstance(value, dt.timedelta):
        raise ValueError(
            f'must be a duration in quotes, like "24h", "90m" or "2d" (found {show(value)})'
        )
    if value < dt.timedelta(0) or value % dt.timedelta(minutes=1):
        raise ValueError("must be a whole number of minutes, zero or more")
    if value > MAX_COOLING_OFF:
        raise ValueError(
            f"must be at most {MAX_COOLING_OFF.days}d (found {format_duration(value)})"
        )
    return value


def _clock_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", value)
        if match:
            return dt.time(int(match[1]), int(match[2]))
        spoken = _spoken_time(value)
        if spoken is not None:
            return spoken
    raise ValueError(f'must be a time of day like "18:00" or "6pm" (found {show(value)})')


_SPOKEN_TIME = re.compile(r"\s*(1[0-2]|0?[1-9])(?:[:.]([0-5]\d))?\s*([ap])\.?\s*m?\.?\s*", re.I)


def _spoken_time(text: str) -> dt.time | None:
    """A time as people type it: "6pm", "6:30 pm", "12am", "noon", "midnight"."""
    word = text.strip().lower()
    if word in ("noon", "midday"):
        return dt.time(12, 0)
    if word == "midnight":
        return dt.time(0, 0)
    match = _SPOKEN_TIME.fullmatch(text)
    if match is None:
        return None
    hour = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0)
    return dt.time(hour, int(match[2] or 0))


def _weekday(value: Any) -> Any:
    """A day as people type it: "Sunday", "sun", "SUN." all mean sunday."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower().rstrip(".")
    matches = [day for day in WEEKDAYS if len(word) >= 2 and day.startswith(word)]
    return matches[0] if len(matches) == 1 else value


def _zone_name(value: str) -> str:
    name = value.strip()
    if name == "local":
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'must be "local" or a time zone name like "Europe/London" or "America/New_York" '
            f"(found {show(value)})"
        ) from None
    return name


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    address = value.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+", address):
        raise ValueError(f'must be an email address like "sam@example.org" (found {show(value)})')
    return address


def _contact(value: str | None) -> str | None:
    if value is None or value.strip().lower() in ("", "none"):
        return None
    text = value.strip().lower()
    if text == "email":
        return text
    scheme, _, number = text.partition(":")
    digits = re.sub(r"[\s().-]", "", number)
    if scheme in ("sms", "tel") and re.fullmatch(r"\+?\d{5,17}", digits):
        return f"{scheme}:{digits}"
    raise ValueError(
        f'must be "email", "sms:+NUMBER", "tel:+NUMBER" or "none" (found {show(value)})'
    )


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """TOML local date-times mean this computer's clock; store them with their offset.

    Years far from now are refused: adding a week to 9999-12-31 would overflow wherever the
    time is used."""
    if value is None:
        return value
    try:
        aware = value if value.tzinfo is not None else value.astimezone()
        year = aware.astimezone(dt.UTC).year
    except (OverflowError, ValueError):
        year = 0
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(
            f"must be a date and time between the years {EARLIEST_YEAR} and {LATEST_YEAR}, "
            f"like 2026-03-01T18:00:00Z (found {show(value)})"
        )
    return aware


def _host_entry(value: str) -> str:
    text = value.strip()
    exact = text.startswith("=")
    text = text.removeprefix("=").strip()
    if not exact:
        text = text.removeprefix("*.")
    if "/" in text or "://" in text:
        raise ValueError(f"must be a host name like example.com, not a URL (found {show(value)})")
    try:
        host = normalise_host(text)
    except InvalidHost as exc:
        raise ValueError(
            f"must be a host name like example.com: {exc} (found {show(value)})"
        ) from None
    return ("=" if exact else "") + host


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _category_name(value: str) -> str:
    if not is_category_name(value):
        raise ValueError(
            "must be a category name made of lower-case letters, digits, '-' and '_' "
            f"(found {show(value)})"
        )
    return value


def _password_source(value: str | None) -> str | None:
    if value is None or value == "keyring":
        return value
    kind, _, rest = value.partition(":")
    if kind == "env" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rest):
        return value
    if kind == "file" and rest.strip():
        return value
    raise ValueError(
        f'must be "keyring", "env:VARIABLE_NAME" or "file:/path/to/file" (found {show(value)})'
    )


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    url = value.strip()
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        raise ValueError(f"must be a web address starting with https:// (found {show(value)})")
    return url


def parse_listen(text: str) -> tuple[str, int]:
    """`"127.0.0.1:8080"` or `"[::1]:8080"` as (host, port); only this computer's addresses."""
    match = re.fullmatch(r"\s*(\[[^\]]+\]|[^:\s]+):(\d{1,5})\s*", text)
    if not match or int(match[2]) > 65535:
        raise ValueError(f'must be an address and port like "127.0.0.1:8080" (found {show(text)})')
    host, port = match[1].strip("[]").lower(), int(match[2])
    loopback = host == "localhost" or (
        is_ip_literal(host) and ipaddress.ip_address(host).is_loopback
    )
    if not loopback:
        raise ValueError(
            "must be an address on this computer only (127.0.0.1, ::1 or localhost): anything "
            f"else would let other machines use the proxy (found {show(text)})"
        )
    return host, port


def _listen(value: str) -> str:
    host, port = parse_listen(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _device_name() -> str:
    return (socket.gethostname().split(".")[0] or "this computer")[:64]


# --- the model -----------------------------------------------------------------------------------

DetailLevel = Literal["summary", "domains", "detailed"]
DETAIL_LEVELS: tuple[DetailLevel, ...] = ("summary", "domains", "detailed")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
SmtpSecurity = Literal["starttls", "tls", "none"]

Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]
HostEntry = Annotated[str, AfterValidator(_host_entry)]
HostList = Annotated[list[HostEntry], AfterValidator(_unique)]
CategoryName = Annotated[str, AfterValidator(_category_name)]
Email = Annotated[str | None, AfterValidator(_email)]
Instant = Annotated[dt.datetime | None, AfterValidator(_aware)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CategorySettings(_Section):
    """One category's action (block, warn, log or off), and whether host names are recognised."""

    action: Action = "block"
    recognise: bool = True
    """Also catch sites no list names by the words in their host name (`adult` and `gambling`
    have lexicons; see docs/recogniser.md)."""


class PartnerSettings(_Section):
    """The one person who receives the weekly report; empty until the person names them."""

    name: Annotated[str, Field(max_length=100)] | None = None
    email: Email = None
    contact: Annotated[str | None, AfterValidator(_contact)] = None
    """A one-tap way to reach the partner from the block page: "email" (their address),
    "sms:+NUMBER" or "tel:+NUMBER"; none when unset."""
    invited_at: Instant = None
    confirmed_at: Instant = None
    """Set once the partner has confirmed the invitation (double opt-in)."""

    @property
    def confirmed(self) -> bool:
        """Whether the partner confirmed the invitation (double opt-in)."""
        return self.email is not None and self.confirmed_at is not None


class DeviceSettings(_Section):
    """How this computer is named in reports."""

    name: Annotated[str, Field(min_length=1, max_length=64)] = Field(default_factory=_device_name)


class ReportSettings(_Section):
    """When the weekly report is due, in which time zone."""

    day: Annotated[Weekday, BeforeValidator(_weekday)] = "sunday"
    time: Annotated[dt.time, BeforeValidator(_clock_time)] = dt.time(18, 0)
    timezone: Annotated[str, AfterValidator(_zone_name)] = "local"

    def zone(self) -> dt.tzinfo:
        """The report's time zone (the computer's own for "local")."""
        return local_zone() if self.timezone == "local" else ZoneInfo(self.timezone)


class SmtpSettings(_Section):
    """How to send email: the server and where its password comes from."""

    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password_source: Annotated[str | None, AfterValidator(_password_source)] = None
    """Where the password is read from at send time; never the password itself."""
    sender: Email = None

    @model_validator(mode="after")
    def _no_clear_text_login(self) -> SmtpSettings:
        remote = self.host is not None and self.host not in ("localhost", "127.0.0.1", "::1")
        if self.security == "none" and self.username and remote:
            raise ValueError(
                'would send your password unencrypted: use security = "starttls" or "tls"'
            )
        return self

    @property
    def effective_port(self) -> int:
        """The port to use: the one set, else the usual one for the security."""
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]

    @property
    def password_from(self) -> tuple[Literal["keyring", "env", "file"], str] | None:
        """(`keyring`, username), (`env`, VARIABLE) or (`file`, path), or None.

        The keyring entry is service `candor`, user `username`; a file holds the password alone.
        """
        if self.password_source is None:
            return None
        if self.password_source == "keyring":
            return ("keyring", self.username or "")
        kind, _, rest = self.password_source.partition(":")
        return ("env", rest) if kind == "env" else ("file", os.path.expanduser(rest))


class WebhookSettings(_Section):
    """Where to post reports instead of (or as well as) email."""

    url: Annotated[str | None, AfterValidator(_http_url)] = None


class DeliverySettings(_Section):
    """The channels reports and notices go out on."""

    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)


class SafeSearchSettings(_Section):
    """Whether the search engines' strict filtering is asked for."""

    enabled: bool = True


class SearchCaptureSettings(_Section):
    """Whether search terms are matched against the categories' keywords."""

    enabled: bool = True


class JournalSettings(_Section):
    """How long the journal keeps rows."""

    retention_days: Annotated[int, Field(ge=14, le=3650)] = 365


DEFAULT_TSA = "https://freetsa.org/tsr"
"""The default time-stamping authority: free, long-running, no account, RFC 3161 over HTTPS."""


def _authorities(value: list[str]) -> list[str]:
    urls = [url for url in (_http_url(v) for v in value) if url]
    if not urls:
        raise ValueError("must list at least one time-stamping authority (https://...)")
    return urls


class AnchorSettings(_Section):
    """Hourly public time anchors: which authorities are asked (in order), and whether at all."""

    enabled: bool = True
    authorities: Annotated[list[str], AfterValidator(_authorities)] = Field(
        default_factory=lambda: [DEFAULT_TSA]
    )


def _refresh_interval(value: Any) -> dt.timedelta:
    if isinstance(value, str):
        value = parse_duration(value, longest=MAX_COOLING_OFF)
    if not isinstance(value, dt.timedelta):
        raise ValueError(f'must be a duration in quotes, like "24h" or "2d" (found {show(value)})')
    if value < dt.timedelta(hours=1) or value > MAX_COOLING_OFF:
        raise ValueError(f"must be between 1h and {MAX_COOLING_OFF.days}d")
    return value


class ListsSettings(_Section):
    """Subscribed public lists: whether Candor may download them at all, and how often."""

    downloads: bool = True
    """False: no list is ever downloaded (subscriptions keep their last copy and say so)."""
    refresh_every: Annotated[dt.timedelta, BeforeValidator(_refresh_interval)] = dt.timedelta(
        days=1
    )
    """How often each subscription is checked for a new version (with up to an hour of jitter)."""


class AgentSettings(_Section):
    """Where the proxy listens (this computer only)."""

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"

    @property
    def host(self) -> str:
        """The listening host."""
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The listening port (0: any free one)."""
        return parse_listen(self.listen)[1]


def _starter_settings() -> dict[str, CategorySettings]:
    return {name: CategorySettings() for name in STARTER_CATEGORIES}


def _with_starters(value: dict[str, CategorySettings]) -> dict[str, CategorySettings]:
    """The starters always show in `config show`; entries the person wrote win."""
    return {**_starter_settings(), **value}


class Config(_Section):
    """Everything in config.toml. Every field has a default: no file means these values."""

    detail_level: DetailLevel = "summary"
    cooling_off: Duration = dt.timedelta(0)
    allowlist: HostList = Field(default_factory=list)
    never_inspect: HostList = Field(default_factory=list)
    categories: Annotated[dict[CategoryName, CategorySettings], AfterValidator(_with_starters)] = (
        Field(default_factory=_starter_settings)
    )
    partner: PartnerSettings = Field(default_factory=PartnerSettings)
    device: DeviceSettings = Field(default_factory=DeviceSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    safesearch: SafeSearchSettings = Field(default_factory=SafeSearchSettings)
    search_capture: SearchCaptureSettings = Field(default_factory=SearchCaptureSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    anchors: AnchorSettings = Field(default_factory=AnchorSettings)
    lists: ListsSettings = Field(default_factory=ListsSettings)

    def recognises(self, category: str) -> bool:
        """Whether the name recogniser serves `category` (on unless its settings say
        `recognise = false`; only categories with a lexicon are ever recognised)."""
        settings = self.categories.get(category)
        return settings.recognise if settings is not None else True


def effective_categories(config: Config, present: Iterable[str]) -> dict[str, Action]:
    """The action of every category that has rules (a rules file or an imported list).

    A category without a `[categories.<name>]` entry blocks: creating a rules file is the person
    saying "keep me away from this". Configured categories without any rules are left out.
    """
    return {
        name: config.categories[name].action if name in config.categories else "block"
        for name in sorted(set(present))
    }
