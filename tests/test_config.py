"""The home directory, config.toml and the starter lists, on real files in a temp folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import platformdirs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import (
    STARTER_CATEGORIES,
    STARTERS_STATE,
    Config,
    ConfigError,
    Home,
    dump_config,
    effective_categories,
    format_duration,
    home_path,
    load_config,
    parse_config,
    parse_duration,
    resolve_home,
    save_config,
    starter_categories,
    starter_text,
)
from rules.hostnames import parent_domains

posix_only = pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_config(home: Home, text: str) -> Home:
    home.ensure()
    home.config_file.write_text(text, encoding="utf-8")
    return home


def config_error(home: Home, text: str) -> ConfigError:
    write_config(home, text)
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    return caught.value


@pytest.fixture
def home(home_dir: Path) -> Home:
    return Home.at(home_dir)


# --- the home directory --------------------------------------------------------------------------


@posix_only
def test_fresh_home_works_with_no_setup(home: Home) -> None:
    home.ensure()

    assert load_config(home) == Config()
    assert mode(home.root) == 0o700
    assert mode(home.keys_dir) == 0o700
    assert mode(home.confdir) == 0o700
    for folder in (home.rules_dir, home.lists_dir, home.list_cache_dir, home.state_dir):
        assert folder.is_dir()
    for name in STARTER_CATEGORIES:
        assert (home.rules_dir / f"{name}.txt").read_text("utf-8") == starter_text(name)
    assert not home.config_file.exists()


@posix_only
def test_ensure_tightens_an_existing_home_to_0700(home: Home) -> None:
    home.root.mkdir(parents=True)
    os.chmod(home.root, 0o755)

    home.ensure()

    assert mode(home.root) == 0o700


def test_a_home_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")

    with pytest.raises(ConfigError) as caught:
        Home.at(tmp_path / "taken").ensure()

    assert "cannot set up the Candor home" in str(caught.value)
    assert str(tmp_path / "taken") in str(caught.value)


def test_home_paths_follow_the_design(home: Home) -> None:
    root = home.root
    assert (home.config_file, home.journal_file, home.pid_file) == (
        root / "config.toml",
        root / "journal.sqlite",
        root / "agent.pid",
    )
    assert (home.rules_dir, home.lists_dir, home.list_cache_dir) == (
        root / "rules",
        root / "lists",
        root / "lists" / ".cache",
    )
    assert (home.keys_dir, home.confdir, home.state_dir) == (
        root / "keys",
        root / "mitmproxy",
        root / "state",
    )


def test_never_overwrites_an_edited_rules_file(home: Home) -> None:
    home.ensure()
    adult = home.rules_dir / "adult.txt"
    adult.write_text("# mine\nexample.org\n", encoding="utf-8")

    home.ensure()
    (home.state_dir / STARTERS_STATE).unlink()  # even when the record of what was given is lost
    home.ensure()

    assert adult.read_text("utf-8") == "# mine\nexample.org\n"


def test_a_rules_file_present_before_the_first_run_is_kept(home: Home) -> None:
    home.rules_dir.mkdir(parents=True)
    (home.rules_dir / "gambling.txt").write_text("bet.example\n", encoding="utf-8")

    home.ensure()

    assert (home.rules_dir / "gambling.txt").read_text("utf-8") == "bet.example\n"
    assert (home.rules_dir / "adult.txt").exists()


def test_a_deleted_starter_stays_deleted(home: Home) -> None:
    home.ensure()
    (home.rules_dir / "bypass.txt").unlink()

    home.ensure()

    assert not (home.rules_dir / "bypass.txt").exists()


def test_a_starter_not_yet_offered_is_copied_once(home: Home) -> None:
    home.ensure()
    for name in ("gambling", "bypass"):
        (home.rules_dir / f"{name}.txt").unlink()
    (home.state_dir / STARTERS_STATE).write_text(json.dumps({"offered": ["adult", "bypass"]}))

    home.ensure()

    assert (home.rules_dir / "gambling.txt").read_text("utf-8") == starter_text("gambling")
    assert not (home.rules_dir / "bypass.txt").exists()
    offered = json.loads((home.state_dir / STARTERS_STATE).read_text("utf-8"))["offered"]
    assert set(offered) == set(STARTER_CATEGORIES)


def test_home_choice_flag_then_env_then_platform_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "from-env"))
    assert resolve_home(None).root == tmp_path / "from-env"
    assert resolve_home(tmp_path / "from-flag").root == tmp_path / "from-flag"

    monkeypatch.setenv("CANDOR_HOME", "")
    assert home_path(None) == platformdirs.user_data_path("candor", appauthor=False)
    monkeypatch.delenv("CANDOR_HOME")
    assert home_path(None) == platformdirs.user_data_path("candor", appauthor=False)


def test_candor_home_env_is_honoured_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "env-home"))
    home = resolve_home(None)
    write_config(home, 'detail_level = "domains"\n')

    assert load_config(resolve_home(None)).detail_level == "domains"
    assert (tmp_path / "env-home" / "rules" / "adult.txt").exists()


def test_relative_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_home("rel").root == tmp_path / "rel"


# --- loading and errors --------------------------------------------------------------------------


def test_missing_config_file_means_defaults(home: Home) -> None:
    config = load_config(home)

    assert config.detail_level == "summary"
    assert config.cooling_off == dt.timedelta(0)
    assert {name: c.action for name, c in config.categories.items()} == {
        "adult": "block",
        "gambling": "block",
        "bypass": "block",
    }
    assert config.report.day == "sunday"
    assert config.report.time == dt.time(18, 0)
    assert config.journal.retention_days == 365
    assert (config.agent.host, config.agent.port) == ("127.0.0.1", 8080)
    assert config.safesearch.enabled and config.search_capture.enabled
    assert config.partner.email is None and not config.partner.confirmed
    assert config.device.name


def test_typo_in_a_key_names_the_key_the_line_and_a_suggestion(home: Home) -> None:
    error = config_error(home, '# settings\n\n[report]\nday = "monday"\ntiem = "19:00"\n')

    message = str(error)
    assert str(home.config_file) in message
    assert "line 5" in message
    assert '"report.tiem"' in message
    assert 'did you mean "report.time"' in message
    assert (error.line, error.key) == (5, "report.tiem")


def test_wrong_value_names_key_line_and_what_is_allowed(home: Home) -> None:
    error = config_error(home, '[categories.adult]\naction = "blok"\n')

    message = str(error)
    assert "line 2" in message
    assert "categories.adult.action" in message
    assert '"block", "warn", "log" or "off"' in message
    assert '"blok"' in message


def test_wrong_type_names_key_line_and_kind(home: Home) -> None:
    error = config_error(home, 'detail_level = "summary"\n\n[journal]\nretention_days = "a year"\n')

    assert "line 4" in str(error)
    assert "journal.retention_days must be a whole number" in str(error)


def test_category_written_as_a_plain_value_gets_a_how_to(home: Home) -> None:
    error = config_error(home, '[categories]\ngambling = "warn"\n')

    assert "line 2" in str(error)
    assert "[categories.gambling]" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('categories.gambling.action = "nope"\n', 1, "categories.gambling.action"),
        ('[delivery]\nsmtp = { host = "x", port = "many" }\n', 2, "delivery.smtp.port"),
        ('allowlist = [\n  "ok.example",\n  "not a host",\n]\n', 3, "allowlist entry 2"),
        ('[report]\ntimezone = "Europe/Londn"\n', 2, "report.timezone"),
        ('[agent]\nlisten = "0.0.0.0:8080"\n', 2, "agent.listen"),
        ('[partner]\nemail = "sam at example"\n', 2, "partner.email"),
        ('[categories."Bad Name"]\naction = "warn"\n', 1, 'categories."Bad Name"'),
        ('[safesearch]\nenabled = "maybe"\n', 2, "safesearch.enabled"),
    ],
)
def test_errors_point_at_the_key_wherever_it_is_written(
    home: Home, text: str, line: int, key: str
) -> None:
    error = config_error(home, text)

    assert error.line == line
    assert f"line {line}:" in str(error)
    assert key in str(error)


def test_only_the_first_problem_is_told_with_a_count(home: Home) -> None:
    error = config_error(home, '[journal]\nretention_days = 1\n\n[report]\nday = "someday"\n')

    assert "line 2" in str(error)
    assert "at least 14" in str(error)
    assert "1 more problem" in str(error)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("detail_level = summary\n", 1),
        ('# ok\ndetail_level "summary"\n', 2),
        ('[partner]\nname = "a"\n[partner]\n', 3),
        ('[report]\nday = "monday\n', 2),
    ],
)
def test_bad_toml_names_the_line_kindly(home: Home, text: str, line: int) -> None:
    error = config_error(home, text)

    message = str(error)
    assert message.startswith(f"{home.config_file}, line {line}: not valid TOML")
    assert "\n" not in message
    for noise in ("Traceback", "tomllib", "TOMLDecodeError", "Error", "('"):
        assert noise not in message


def test_unquoted_text_gets_a_quoting_hint(home: Home) -> None:
    assert "double quotes" in str(config_error(home, "detail_level = domains\n"))


def test_validation_messages_are_one_line_without_pydantic_noise(home: Home) -> None:
    message = str(config_error(home, 'cooling_off = "soon"\n'))

    assert "\n" not in message
    assert "pydantic" not in message and "Value error" not in message


@pytest.mark.parametrize("key", ["password", "smtp_password"])
def test_a_clear_text_password_is_refused_kindly(home: Home, key: str) -> None:
    error = config_error(home, f'[delivery.smtp]\nhost = "smtp.example.org"\n{key} = "hunter2"\n')

    message = str(error)
    assert "line 3" in message
    assert f"delivery.smtp.{key}" in message
    assert "never keeps a password" in message
    assert "password_source" in message and "keyring" in message
    assert "hunter2" not in message


def test_password_sources_are_references_not_secrets(home: Home) -> None:
    write_config(
        home, '[delivery.smtp]\nhost = "smtp.example.org"\npassword_source = "env:SMTP_PW"\n'
    )
    assert load_config(home).delivery.smtp.password_from == ("env", "SMTP_PW")

    error = config_error(home, '[delivery.smtp]\npassword_source = "hunter2"\n')
    assert "keyring" in str(error) and "line 2" in str(error)


def test_login_over_plain_smtp_to_another_machine_is_refused(home: Home) -> None:
    text = '[delivery.smtp]\nhost = "mail.example.org"\nsecurity = "none"\nusername = "me"\n'
    assert "unencrypted" in str(config_error(home, text))

    write_config(home, '[delivery.smtp]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\n')
    assert load_config(home).delivery.smtp.effective_port == 2525


def test_unreadable_config_names_the_cause(home: Home) -> None:
    home.ensure()
    home.config_file.mkdir()

    with pytest.raises(ConfigError) as caught:
        load_config(home)

    assert str(home.config_file) in str(caught.value)
    assert "cannot read" in str(caught.value)


def test_non_utf8_config_names_the_line(home: Home) -> None:
    home.ensure()
    home.config_file.write_bytes(b'detail_level = "summary"\n[device]\nname = "caf\xe9"\n')

    with pytest.raises(ConfigError) as caught:
        load_config(home)

    assert "line 3" in str(caught.value) and "UTF-8" in str(caught.value)


def test_a_byte_order_mark_is_accepted(home: Home) -> None:
    home.ensure()
    home.config_file.write_bytes(b'\xef\xbb\xbfdetail_level = "detailed"\n')

    assert load_config(home).detail_level == "detailed"


# --- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", dt.timedelta(0)),
        ("0h", dt.timedelta(0)),
        ("24h", dt.timedelta(hours=24)),
        ("90m", dt.timedelta(minutes=90)),
        ("2d", dt.timedelta(days=2)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ("1w", dt.timedelta(weeks=1)),
        (" 36H ", dt.timedelta(hours=36)),
    ],
)
def test_cooling_off_durations(home: Home, text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected
    write_config(home, f'cooling_off = "{text}"\n')
    assert load_config(home).cooling_off == expected


@pytest.mark.parametrize("value", ['"soon"', '"24"', '"h"', '"-1h"', "24", '"31d"', '"12h30"'])
def test_cooling_off_rejects_unclear_durations(home: Home, value: str) -> None:
    error = config_error(home, f"cooling_off = {value}\n")

    assert "cooling_off" in str(error) and "line 1" in str(error)


def test_duration_format_round_trips() -> None:
    for minutes in (0, 1, 59, 60, 90, 1440, 2160, 30 * 1440):
        value = dt.timedelta(minutes=minutes)
        assert parse_duration(format_duration(value)) == value


def test_host_lists_are_normalised(home: Home) -> None:
    write_config(
        home,
        'allowlist = ["Example.COM.", "*.Wiki.example", "=www.news.example", "example.com"]\n'
        'never_inspect = ["bank.example", "bücher.example"]\n',
    )

    config = load_config(home)

    assert config.allowlist == ["example.com", "wiki.example", "=www.news.example"]
    assert config.never_inspect == ["bank.example", "xn--bcher-kva.example"]


def test_url_in_a_host_list_is_refused(home: Home) -> None:
    error = config_error(home, 'never_inspect = ["https://bank.example/login"]\n')

    assert "not a URL" in str(error)


def test_report_schedule_and_zone(home: Home) -> None:
    write_config(home, '[report]\nday = "friday"\ntime = 07:30:00\ntimezone = "Europe/Berlin"\n')

    report = load_config(home).report

    assert (report.day, report.time) == ("friday", dt.time(7, 30))
    assert str(report.zone()) == "Europe/Berlin"
    assert Config().report.zone() is not None


def test_listen_accepts_loopback_only(home: Home) -> None:
    write_config(home, '[agent]\nlisten = "[::1]:0"\n')
    assert (load_config(home).agent.host, load_config(home).agent.port) == ("::1", 0)

    assert "this computer" in str(config_error(home, '[agent]\nlisten = "192.168.1.5:8080"\n'))


def test_local_date_times_get_an_offset(home: Home) -> None:
    write_config(home, '[partner]\nemail = "sam@example.org"\nconfirmed_at = 2026-03-01T18:00:00\n')

    partner = load_config(home).partner

    assert partner.confirmed_at is not None and partner.confirmed_at.tzinfo is not None
    assert partner.confirmed


# --- categories ----------------------------------------------------------------------------------


def test_starter_categories_are_always_configured(home: Home) -> None:
    write_config(
        home, '[categories.adult]\naction = "warn"\n\n[categories.dating]\naction = "log"\n'
    )

    actions = {name: c.action for name, c in load_config(home).categories.items()}

    assert actions == {"adult": "warn", "gambling": "block", "bypass": "block", "dating": "log"}


def test_effective_categories_block_unless_configured(home: Home) -> None:
    write_config(
        home, '[categories.gambling]\naction = "off"\n[categories.unused]\naction = "log"\n'
    )

    actions = effective_categories(load_config(home), ["adult", "gambling", "my-list", "adult"])

    assert actions == {"adult": "block", "gambling": "off", "my-list": "block"}


# --- writing -------------------------------------------------------------------------------------


def full_config() -> Config:
    return parse_config(
        """
detail_level = "detailed"
cooling_off = "1d12h"
allowlist = ["wiki.example", "=www.news.example"]
never_inspect = ["bank.example"]

[categories.adult]
action = "warn"

[categories.social-media]
action = "log"

[partner]
name = "Sam \\"Sammy\\" O'Neil ✓"
email = "sam@example.org"
invited_at = 2026-02-28T09:00:00Z
confirmed_at = 2026-03-01T18:00:00.123456+02:00

[device]
name = "laptop"

[report]
day = "monday"
time = "07:05"
timezone = "America/New_York"

[delivery.smtp]
host = "smtp.example.org"
port = 465
security = "tls"
username = "me@example.org"
password_source = "keyring"
sender = "me@example.org"

[delivery.webhook]
url = "https://hooks.example.org/candor?x=1"

[safesearch]
enabled = false

[search_capture]
enabled = false

[journal]
retention_days = 90

[agent]
listen = "127.0.0.1:0"
"""
    )


@pytest.mark.parametrize("config", [Config(), full_config()], ids=["defaults", "everything"])
def test_dump_then_load_gives_the_same_config(config: Config) -> None:
    assert parse_config(dump_config(config)) == config


def test_dump_shows_the_defaults() -> None:
    text = dump_config(Config())

    for line in (
        'detail_level = "summary"',
        'cooling_off = "0h"',
        "[categories.adult]",
        'action = "block"',
        "[report]",
        'day = "sunday"',
        'time = "18:00"',
        "retention_days = 365",
        'listen = "127.0.0.1:8080"',
    ):
        assert line in text.splitlines()
    assert "password =" not in text


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s),
    st.text(max_size=40),
)
def test_any_text_survives_dump_and_load(device: str, partner: str) -> None:
    config = Config(device={"name": device}, partner={"name": partner})

    assert parse_config(dump_config(config)) == config


@posix_only
def test_save_config_is_private_and_loads_back(home: Home) -> None:
    home.ensure()
    config = full_config()

    save_config(home, config)

    assert mode(home.config_file) == 0o600
    assert load_config(home) == config
    assert home.config_file.read_text("utf-8").startswith("# Candor settings")
    assert [p.name for p in home.root.iterdir() if p.name.startswith(".")] == []


def test_save_replaces_the_old_file_whole(home: Home) -> None:
    write_config(home, 'detail_level = "domains"\n')

    save_config(home, Config(detail_level="summary"))

    assert load_config(home).detail_level == "summary"


# --- the starter lists ---------------------------------------------------------------------------


def test_the_three_starters_ship_as_package_data() -> None:
    assert set(starter_categories()) == set(STARTER_CATEGORIES)


@pytest.mark.parametrize("category", STARTER_CATEGORIES)
def test_starter_lists_are_valid_rules(category: str) -> None:
    from rules.syntax import parse_rules_text

    parsed = parse_rules_text(starter_text(category), f"{category}.txt")

    assert parsed.rejected == []
    assert len(parsed.rules) >= 30
    texts = [r.text for r in parsed.rules]
    assert len(texts) == len(set(texts)), "duplicate rules"
    header = starter_text(category).splitlines()[:6]
    assert any("candor rules import" in line for line in header)


@pytest.mark.parametrize(
    "host",
    [
        # Filtering resolvers: they block more, so they are never a way around Candor.
        "family.cloudflare-dns.com",
        "doh.familyshield.opendns.com",
        "family.adguard-dns.com",
        "family.dns.mullvad.net",
        "doh.cleanbrowsing.org",
        "family-filter-dns.cleanbrowsing.org",
        # Platforms people need.
        "proton.me",
        "mail.proton.me",
        "account.proton.me",
        "google.com",
        "www.google.com",
        "cloudflare.com",
        "translate.google.com",
        "reddit.com",
        "x.com",
        "github.com",
    ],
)
def test_starter_lists_leave_needed_hosts_alone(host: str) -> None:
    from rules.model import RuleKind
    from rules.syntax import parse_rules_text

    for category in STARTER_CATEGORIES:
        for rule in parse_rules_text(starter_text(category), category).rules:
            if rule.kind is RuleKind.DOMAIN:
                assert rule.value not in parent_domains(host), (category, rule.text)
            if rule.kind is RuleKind.EXACT:
                assert rule.value != host, (category, rule.text)
