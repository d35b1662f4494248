"""Where Candor keeps its state, and the person's settings in `config.toml`.

Every part of Candor (agent, reporter, installers) reads its settings through the one `Config`
model here, so a typo is caught in one place and reported with its key and line number, whichever
part would have read it. A missing file means defaults, so a fresh home works with no setup.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import difflib
import ipaddress
import json
import os
import re
import socket
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from rules.hostnames import InvalidHost, is_ip_literal, normalise_host
from rules.model import Action

APP_NAME = "candor"
HOME_ENV = "CANDOR_HOME"
STARTER_CATEGORIES: tuple[str, ...] = ("adult", "gambling", "bypass")
STARTERS_STATE = "starter-lists.json"
"""Under `state/`: which starter lists this home has already been given."""

MAX_COOLING_OFF = dt.timedelta(days=30)
CONFIG_HEADER = (
    "# Candor settings. Every key is described in docs/configuration.md;\n"
    "# `candor config show` prints the settings in force, defaults included.\n\n"
)

Loc = tuple[str | int, ...]
"""A key's path in config.toml, as pydantic reports it: ("categories", "adult", "action")."""

_CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --- the home directory --------------------------------------------------------------------------


def home_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--home DIR`, else `$CANDOR_HOME`, else the per-user data folder (absolute, not created)."""
    chosen = explicit if explicit not in (None, "") else os.environ.get(HOME_ENV) or None
    if chosen is None:
        return platformdirs.user_data_path(APP_NAME, appauthor=False)
    return Path(os.path.abspath(os.path.expanduser(os.fspath(chosen))))


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Home:
    """The home named by `--home`, `$CANDOR_HOME` or the platform default; see `home_path`."""
    return Home.at(home_path(explicit))


@dataclass(frozen=True, slots=True)
class Home:
    """Every path Candor uses, derived from one root so tests can point it at a temp folder."""

    root: Path
    config_file: Path
    rules_dir: Path
    lists_dir: Path
    list_cache_dir: Path
    journal_file: Path
    keys_dir: Path
    confdir: Path
    """mitmproxy's folder: the CA lives here."""
    pid_file: Path
    state_dir: Path
    """Internal state that is not the person's to edit (last applied rule set, starters given)."""

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Home:
        root = Path(root)
        return cls(
            root=root,
            config_file=root / "config.toml",
            rules_dir=root / "rules",
            lists_dir=root / "lists",
            list_cache_dir=root / "lists" / ".cache",
            journal_file=root / "journal.sqlite",
            keys_dir=root / "keys",
            confdir=root / "mitmproxy",
            pid_file=root / "agent.pid",
            state_dir=root / "state",
        )

    def ensure(self) -> None:
        """Create the home (0700) and its folders, and give a new home the starter lists.

        Safe to call on every start: existing files are never touched, and a starter list is
        offered once per home, so a category file the person deleted stays deleted. Raises
        `ConfigError` when the home cannot be created or written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            for folder in (self.rules_dir, self.lists_dir, self.list_cache_dir, self.state_dir):
                folder.mkdir(mode=0o700, exist_ok=True)
            for secret in (self.keys_dir, self.confdir):
                secret.mkdir(mode=0o700, exist_ok=True)
                os.chmod(secret, 0o700)
            self._offer_starters()
        except OSError as exc:
            where = exc.filename or self.root
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"{where}: cannot set up the Candor home ({reason}).") from None

    def _offer_starters(self) -> None:
        marker = self.state_dir / STARTERS_STATE
        try:
            offered = set(json.loads(marker.read_text("utf-8"))["offered"])
        except (OSError, ValueError, KeyError, TypeError):
            # No record yet, or an unreadable one: offering again is safe, since an existing
            # rules file is never replaced.
            offered = set()
        new = [name for name in starter_categories() if name not in offered]
        if not new:
            return
        for name in new:
            create_once(self.rules_dir / f"{name}.txt", starter_text(name))
        record = {
            "offered": sorted(offered | set(new)),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_atomic(marker, json.dumps(record, indent=2) + "\n")


def starter_categories() -> tuple[str, ...]:
    """The categories Candor ships a starter list for (package data in `rules/starter/`)."""
    folder = resources.files("rules.starter")
    found = {p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt")}
    return tuple(sorted(found))


def starter_text(category: str) -> str:
    return resources.files("rules.starter").joinpath(f"{category}.txt").read_text("utf-8")


def is_category_name(name: str) -> bool:
    """Category names are file names too: lower-case letters, digits, `-` and `_`."""
    return _CATEGORY_NAME.fullmatch(name) is not None


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Readers (the agent, the file watcher) see the old file or the new one, never half of it."""
    tmp = _synced_temp(path, data)
    try:
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def create_once(path: Path, data: str | bytes) -> bool:
    """Write `path` whole (0600) only if it does not exist yet, even with another process racing.

    True when this call created it; False when the file was already there.
    """
    tmp = _synced_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system
        if path.exists():
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _synced_temp(path: Path, data: str | bytes) -> Path:
    """A hidden 0600 file next to `path`, on disk; the watcher ignores dot-files."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- value checks --------------------------------------------------------------------------------
# Each raises ValueError phrased to follow the key: "<key> must be ...".

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")


def parse_duration(text: str) -> dt.timedelta:
    """`"24h"`, `"90m"`, `"2d"`, `"1d12h"`, `"1w"` or `"0"` as a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    if compact == "0":
        return dt.timedelta(0)
    match = _DURATION.fullmatch(compact)
    if not compact or not match:
        raise ValueError(f'must be a duration like "24h", "90m", "2d" or "0" (found {_show(text)})')
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    return dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


def format_duration(value: dt.timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    if minutes == 0:
        return "0h"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts)


def _duration(value: Any) -> dt.timedelta:
    if isinstance(value, str):
        value = parse_duration(value)
    elif not isinstance(value, dt.timedelta):
        raise ValueError(
            f'must be a duration in quotes, like "24h", "90m" or "2d" (found {_show(value)})'
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
    raise ValueError(f'must be a time of day like "18:00" (found {_show(value)})')


def _zone_name(value: str) -> str:
    name = value.strip()
    if name == "local":
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'must be "local" or a time zone name like "Europe/London" or "America/New_York" '
            f"(found {_show(value)})"
        ) from None
    return name


def local_zone() -> dt.tzinfo:
    """This computer's time zone, as a real zone where possible so weeks survive DST changes."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        pass
    return dt.datetime.now().astimezone().tzinfo or dt.UTC


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    address = value.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+", address):
        raise ValueError(f'must be an email address like "sam@example.org" (found {_show(value)})')
    return address


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """TOML local date-times mean this computer's clock; store them with their offset."""
    if value is None or value.tzinfo is not None:
        return value
    return value.astimezone()


def _host_entry(value: str) -> str:
    text = value.strip()
    exact = text.startswith("=")
    text = text.removeprefix("=").strip()
    if not exact:
        text = text.removeprefix("*.")
    if "/" in text or "://" in text:
        raise ValueError(f"must be a host name like example.com, not a URL (found {_show(value)})")
    try:
        host = normalise_host(text)
    except InvalidHost as exc:
        raise ValueError(
            f"must be a host name like example.com: {exc} (found {_show(value)})"
        ) from None
    return ("=" if exact else "") + host


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _category_name(value: str) -> str:
    if not is_category_name(value):
        raise ValueError(
            "must be a category name made of lower-case letters, digits, '-' and '_' "
            f"(found {_show(value)})"
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
        f'must be "keyring", "env:VARIABLE_NAME" or "file:/path/to/file" (found {_show(value)})'
    )


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    url = value.strip()
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        raise ValueError(f"must be a web address starting with https:// (found {_show(value)})")
    return url


def parse_listen(text: str) -> tuple[str, int]:
    """`"127.0.0.1:8080"` or `"[::1]:8080"` as (host, port); only this computer's addresses."""
    match = re.fullmatch(r"\s*(\[[^\]]+\]|[^:\s]+):(\d{1,5})\s*", text)
    if not match or int(match[2]) > 65535:
        raise ValueError(f'must be an address and port like "127.0.0.1:8080" (found {_show(text)})')
    host, port = match[1].strip("[]").lower(), int(match[2])
    loopback = host == "localhost" or (
        is_ip_literal(host) and ipaddress.ip_address(host).is_loopback
    )
    if not loopback:
        raise ValueError(
            "must be an address on this computer only (127.0.0.1, ::1 or localhost): anything "
            f"else would let other machines use the proxy (found {_show(text)})"
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
    action: Action = "block"


class PartnerSettings(_Section):
    """The one person who receives the weekly report; empty until the person names them."""

    name: Annotated[str, Field(max_length=100)] | None = None
    email: Email = None
    invited_at: Instant = None
    confirmed_at: Instant = None
    """Set once the partner has confirmed the invitation (double opt-in)."""

    @property
    def confirmed(self) -> bool:
        return self.email is not None and self.confirmed_at is not None


class DeviceSettings(_Section):
    name: Annotated[str, Field(min_length=1, max_length=64)] = Field(default_factory=_device_name)


class ReportSettings(_Section):
    day: Weekday = "sunday"
    time: Annotated[dt.time, BeforeValidator(_clock_time)] = dt.time(18, 0)
    timezone: Annotated[str, AfterValidator(_zone_name)] = "local"

    def zone(self) -> dt.tzinfo:
        return local_zone() if self.timezone == "local" else ZoneInfo(self.timezone)


class SmtpSettings(_Section):
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
    url: Annotated[str | None, AfterValidator(_http_url)] = None


class DeliverySettings(_Section):
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)


class SafeSearchSettings(_Section):
    enabled: bool = True


class SearchCaptureSettings(_Section):
    enabled: bool = True


class JournalSettings(_Section):
    retention_days: Annotated[int, Field(ge=14, le=3650)] = 365


class AgentSettings(_Section):
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
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


def effective_categories(config: Config, present: Iterable[str]) -> dict[str, Action]:
    """The action of every category that has rules (a rules file or an imported list).

    A category without a `[categories.<name>]` entry blocks: creating a rules file is the person
    saying "keep me away from this". Configured categories without any rules are left out.
    """
    return {
        name: config.categories[name].action if name in config.categories else "block"
        for name in sorted(set(present))
    }


# --- loading -------------------------------------------------------------------------------------


class ConfigError(Exception):
    """config.toml cannot be used. `str()` is one message naming the file, the key and the line."""

    def __init__(
        self, message: str, *, file: Path | None = None, line: int | None = None, key: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key


def load_config(home: Home) -> Config:
    """The settings in `home`'s config.toml; defaults when there is no file."""
    path = home.config_file
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(f"{path}: cannot read the settings file ({reason}).", file=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}, line {line}: the file is not UTF-8 text; save it as UTF-8.",
            file=path,
            line=line,
        ) from None
    return parse_config(text, path)


def parse_config(text: str, file: Path | str = "config.toml") -> Config:
    """Validate TOML text as settings; `file` only names the source in error messages."""
    file = Path(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, text, file) from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, text, file) from None


def _toml_error(exc: tomllib.TOMLDecodeError, text: str, file: Path) -> ConfigError:
    message = str(exc)
    where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    lines = text.splitlines()
    if where:
        line, column = int(where[1]), int(where[2])
        message = message[: where.start()]
    else:
        line, column = max(len(lines), 1), 0
        message = re.sub(r"\s*\(at end of document\)$", "", message)
    # tomllib names tables as Python tuples: ('a', 'b') reads better as [a.b].
    message = re.sub(
        r"\(((?:'[^']*'(?:, )?)+),?\)",
        lambda m: "[" + ".".join(re.findall(r"'([^']*)'", m[1])) + "]",
        message,
    )
    reason = message[:1].lower() + message[1:]
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    at = shown[column - 1 : column] if column else ""
    hint = ""
    if reason.startswith("invalid value") and at.isalpha() and "=" in shown[: column - 1]:
        hint = '; text needs double quotes, like "summary"; true and false do not'
    elif reason.startswith("invalid value") and shown.lstrip().startswith("["):
        hint = "; a list above may be missing its closing ]"
    elif reason.startswith("illegal character '\\n'"):
        hint = "; a closing quote is missing"
    elif reason.startswith(("cannot overwrite", "cannot declare")):
        hint = "; a key or [section] appears twice"
    elif reason.startswith("expected '=' after a key"):
        hint = '; write key = value, like detail_level = "summary"'
    where_text = f", column {column}" if column else ""
    message = f"{file}, line {line}: not valid TOML ({reason}{where_text}{hint})"
    if shown.strip():
        message += f": {_clip(shown.strip(), 60)}"
    return ConfigError(message, file=file, line=line)


def _validation_error(exc: ValidationError, text: str, file: Path) -> ConfigError:
    lines = _key_lines(text)
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "[key]")
        problems.append((_find_line(lines, loc), _dotted(loc), _explain(error, loc)))
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0))
    line, key, explanation = problems[0]
    where = f"{file}, line {line}" if line else str(file)
    message = f"{where}: {explanation}"
    if len(problems) > 1:
        more = len(problems) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''} in this file)"
    return ConfigError(message, file=file, line=line, key=key)


def _explain(error: Mapping[str, Any], loc: Loc) -> str:
    kind = error["type"]
    key = _dotted(loc)
    found = _show(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", '"')
        return f"{key} must be one of {allowed} (found {found})"
    if kind in ("value_error", "assertion_error"):
        return f"{key} {ctx.get('error', error['msg'])}".rstrip(".")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{key} must be a whole number (found {found})"
    if kind in ("bool_parsing", "bool_type"):
        return f"{key} must be true or false (found {found})"
    if kind == "string_type":
        return f"{key} must be text in double quotes (found {found})"
    if kind == "list_type":
        return f'{key} must be a list, like ["example.com"] (found {found})'
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if len(loc) == 2 and loc[0] == "categories":
            return (
                f"{key} must be a table: write [{key}] on its own line and "
                f'action = "block" (or "warn", "log", "off") below it (found {found})'
            )
        return f"{key} must be a table: write [{key}] on its own line, settings below it"
    if kind == "greater_than_equal":
        return f"{key} must be at least {ctx.get('ge')} (found {found})"
    if kind == "less_than_equal":
        return f"{key} must be at most {ctx.get('le')} (found {found})"
    if kind == "string_too_short":
        return f"{key} must not be empty"
    if kind == "string_too_long":
        return f"{key} must be at most {ctx.get('max_length')} characters long"
    if kind.startswith("datetime"):
        return f"{key} must be a date and time like 2026-03-01T18:00:00Z (found {found})"
    return f"{key}: {error['msg']} (found {found})"


def _unknown_key(loc: Loc) -> str:
    name = str(loc[-1])
    key = _dotted(loc)
    if "password" in name.lower() and name != "password_source":
        return (
            f"{key}: Candor never keeps a password in config.toml. Remove it and set "
            'password_source instead: "keyring" (your system keyring), "env:VARIABLE" '
            '(an environment variable) or "file:/path/to/file" (a file only you can read)'
        )
    model = _model_at(loc[:-1])
    known = list(model.model_fields) if model else []
    guess = difflib.get_close_matches(name, known, n=1)
    message = f'unknown setting "{key}"'
    if guess:
        message += f' (did you mean "{_dotted((*loc[:-1], guess[0]))}"?)'
    if known:
        where = f"in [{_dotted(loc[:-1])}]" if len(loc) > 1 else "at the top level"
        message += f"; allowed {where}: " + ", ".join(known)
    return message


def _model_at(path: Loc) -> type[BaseModel] | None:
    """The settings model that a [table] path in config.toml stands for."""
    annotation: Any = Config
    for part in path:
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        else:
            return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f" entry {part + 1}"
        else:
            piece = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{piece}" if out else piece
    return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _clip(json.dumps(value, ensure_ascii=False), 60)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    return _clip(str(value), 60)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- finding the line of a key -------------------------------------------------------------------


def _find_line(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the key itself, else of the nearest enclosing key or [table]."""
    path = loc
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _key_lines(text: str) -> dict[Loc, int]:
    """Where each key, table and array item first appears in TOML text that tomllib accepted.

    Locations only help a message, so a surprise in the text ends the scan with what was found.
    """
    scanner = _KeyScanner(text)
    with contextlib.suppress(
        IndexError, ValueError, AttributeError, TypeError, tomllib.TOMLDecodeError
    ):
        scanner.document()
    return scanner.lines


_STRING_PATTERNS = (
    ('"""', re.compile(r'"""(?:\\.|[^\\])*?"""(?!")|"""(?:\\.|[^\\])*?"{4,5}', re.S)),
    ("'''", re.compile(r"'''.*?'''(?!')|'''.*?'{4,5}", re.S)),
    ('"', re.compile(r'"(?:\\.|[^"\\\n])*"')),
    ("'", re.compile(r"'[^'\n]*'")),
)


class _KeyScanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.lines: dict[Loc, int] = {}
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self._table_arrays: dict[Loc, int] = {}

    def document(self) -> None:
        table: Loc = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.text):
                return
            start = self.i
            if self.text.startswith("[[", self.i):
                self.i += 2
                key = self._key()
                self._expect("]]")
                index = self._table_arrays.get(key, -1) + 1
                self._table_arrays[key] = index
                table = (*key, index)
                self._mark(table, start)
            elif self.text[self.i] == "[":
                self.i += 1
                table = self._key()
                self._expect("]")
                self._mark(table, start)
            else:
                key = self._key()
                self._expect("=")
                self._mark((*table, *key), start)
                self._value((*table, *key))

    def _mark(self, path: Loc, pos: int) -> None:
        line = bisect.bisect_left(self._newlines, pos) + 1
        for n in range(1, len(path) + 1):
            self.lines.setdefault(path[:n], line)

    def _skip(self, newlines: bool) -> None:
        while self.i < len(self.text):
            c = self.text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif newlines and c == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end == -1 else end
            else:
                return

    def _expect(self, token: str) -> None:
        self._skip(newlines=False)
        if not self.text.startswith(token, self.i):
            raise ValueError(f"expected {token!r}")
        self.i += len(token)

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            quote = self.text[self.i]
            if quote in "\"'":
                raw = self._string()
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if not match:
                    raise ValueError("expected a key")
                parts.append(match.group())
                self.i = match.end()
            self._skip(newlines=False)
            if self.text.startswith(".", self.i):
                self.i += 1
                continue
            return tuple(parts)

    def _string(self) -> str:
        for opener, pattern in _STRING_PATTERNS:
            if self.text.startswith(opener, self.i):
                match = pattern.match(self.text, self.i)
                if not match:
                    raise ValueError("unterminated string")
                self.i = match.end()
                return match.group()
        raise ValueError("expected a string")

    def _value(self, path: Loc) -> None:
        self._skip(newlines=False)
        c = self.text[self.i]
        if c == "{":
            self.i += 1
            while True:
                self._skip(newlines=True)
                if self.text[self.i] == "}":
                    self.i += 1
                    return
                start = self.i
                key = self._key()
                self._expect("=")
                self._mark((*path, *key), start)
                self._value((*path, *key))
                self._skip(newlines=True)
                if self.text[self.i] == ",":
                    self.i += 1
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self.text[self.i] == "]":
                    self.i += 1
                    return
                self._mark((*path, index), self.i)
                self._value((*path, index))
                index += 1
                self._skip(newlines=True)
                if self.text[self.i] == ",":
                    self.i += 1
        elif c in "\"'":
            self._string()
        else:
            match = re.compile(r"[^,\]}\n#]*").match(self.text, self.i)
            self.i = match.end() if match else self.i + 1


# --- writing -------------------------------------------------------------------------------------


def dump_config(config: Config) -> str:
    """The settings as TOML, defaults included (`candor config show`); loads back equal."""
    out: list[str] = []
    _dump_section(out, (), config)
    return "\n".join(out).strip("\n") + "\n"


def save_config(home: Home, config: Config) -> None:
    """Write config.toml atomically, readable by the person only. Comments are not kept."""
    home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(home.config_file, CONFIG_HEADER + dump_config(config), mode=0o600)


def _dump_section(out: list[str], path: tuple[str, ...], section: BaseModel) -> None:
    scalars: list[str] = []
    tables: list[tuple[tuple[str, ...], BaseModel]] = []
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            tables.append(((*path, name), value))
        elif isinstance(value, dict):
            tables.extend(((*path, name, key), item) for key, item in value.items())
        elif value is not None:
            scalars.append(f"{_toml_key(name)} = {_toml_value(value)}")
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_toml_key(p) for p in path) + "]")
    out.extend(scalars)
    for sub_path, sub in tables:
        _dump_section(out, sub_path, sub)


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _toml_string(name)


def _toml_string(text: str) -> str:
    # JSON's escapes are a subset of TOML's basic-string escapes; DEL must be escaped in TOML.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.timedelta):
        return _toml_string(format_duration(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _toml_string(value.strftime("%H:%M"))
    if isinstance(value, list):
        items = [_toml_value(v) for v in value]
        inline = "[" + ", ".join(items) + "]"
        if len(inline) <= 80:
            return inline
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
