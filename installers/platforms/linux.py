"""The Linux plan: a systemd user service, the CA in every trust store, browser policies, and the
desktop and terminal proxy settings.

`detect` looks at the machine once; `build` turns what it found into a plan without touching
anything, so the plan for any combination of desktops and browsers can be printed and tested.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from installers import browsers, stores
from installers.plan import AddBlock, Plan, Run, Setting, Step, WriteFile
from installers.stores import TrustStore
from installers.target import Target, ca_sha256

UNIT = "candor.service"
REPORT_UNIT = "candor-report.service"
REPORT_TIMER = "candor-report.timer"
ALERTS_TIMER = "candor-alerts.timer"
"""Runs the report job every few minutes while the computer is awake: a stopped agent cannot
send, so this is what tells the partner (if they chose immediate alerts) that it stopped."""
ALERTS_EVERY = "5min"
REPORT_SCHEDULE = "Sun *-*-* 18:00:00"

NO_PROXY_ENV = "http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY"
"""Candor itself must not send its own traffic through the proxy variables it sets."""


@dataclass(frozen=True, slots=True)
class LinuxFacts:
    """What is on this machine, as far as the plan cares."""

    trust_store: TrustStore | None
    gnome: bool
    kde: str | None
    """`kwriteconfig6` or `kwriteconfig5`, when KDE's config tool is installed."""
    nss_dbs: tuple[PurePath, ...]
    chromium_policy_dirs: tuple[tuple[str, PurePath], ...]
    firefox: bool
    profiles: tuple[PurePath, ...] = ()
    """Login shell profiles that get a snippet reading the proxy variables."""
    gsettings_file: PurePath | None = None
    """GLib's keyfile backend file when GSETTINGS_BACKEND=keyfile (tests), else dconf."""


def detect(target: Target, env: Mapping[str, str] | None = None) -> LinuxFacts:
    """Look at this machine once: trust store, desktops, NSS databases, browsers, profiles."""
    env = os.environ if env is None else env
    root = target.system

    def exists(path: PurePath) -> bool:
        return Path(path).exists()

    browser_dirs = []
    for name, folder in browsers.CHROMIUM_POLICY_DIRS.items():
        base = root(folder.split("/policies")[0])
        if exists(base) or (name == "Chromium" and _on_path("chromium", "chromium-browser")):
            browser_dirs.append((name, root(folder)))
    kde = next((tool for tool in ("kwriteconfig6", "kwriteconfig5") if shutil.which(tool)), None)
    keyfile = env.get("GSETTINGS_BACKEND") == "keyfile"
    profiles = [target.user_home / ".profile"]
    profiles += [
        target.user_home / name for name in (".bash_profile", ".zprofile")
        if exists(target.user_home / name)
    ]  # fmt: skip
    return LinuxFacts(
        trust_store=stores.detect_trust_store(target),
        gnome=shutil.which("gsettings") is not None,
        kde=kde,
        nss_dbs=stores.nss_databases(target),
        chromium_policy_dirs=tuple(browser_dirs),
        firefox=exists(root("/etc/firefox")) or _on_path("firefox", "firefox-esr"),
        profiles=tuple(profiles),
        gsettings_file=target.config_dir / "glib-2.0" / "settings" / "keyfile" if keyfile else None,
    )


def _on_path(*names: str) -> bool:
    return any(shutil.which(name) for name in names)


def build(target: Target, facts: LinuxFacts) -> Plan:
    """The Linux plan for what `detect` found (or facts a test made up)."""
    steps = [*_service(target), *_trust(target, facts), *_browsers(target, facts)]
    steps += _proxy(target, facts)
    notes = ["Restart your browsers afterwards: they read certificates and policies at start."]
    if target.relocated:
        notes.append(
            f"Relocated to {target.root}: commands that act on the running session "
            "(systemctl --user) are left out."
        )
    return Plan(
        os="linux",
        root=target.root,
        steps=tuple(steps),
        notes=tuple(notes),
        proxy=target.proxy,
        trust_bundle=stores.system_bundle(target, facts.trust_store),
        ca_sha256=ca_sha256(target.ca_pem),
    )


# --- the background service -------------------------------------------------------------------


def agent_unit(target: Target) -> str:
    """The systemd user unit that starts the agent at every login and restarts it."""
    return (
        "[Unit]\n"
        "Description=Candor agent (local filtering proxy)\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"UnsetEnvironment={NO_PROXY_ENV}\n"
        f"ExecStart={unit_command(*target.candor, 'run')}\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def report_unit(target: Target, run_as: str = "") -> str:
    """The systemd unit that sends the weekly report if it is due: the person's user unit, or
    with `run_as` (its `User=`… lines) the system install's."""
    return (
        "[Unit]\n"
        "Description=Candor: send the weekly report if it is due\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"{run_as}"
        f"UnsetEnvironment={NO_PROXY_ENV}\n"
        f"ExecStart={unit_command(*target.candor, 'report', 'send-due')}\n"
    )


def report_timer() -> str:
    """The weekly timer for the report unit, a backstop for when the agent was not running."""
    return (
        "[Unit]\n"
        "Description=Candor: weekly report backstop\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={REPORT_SCHEDULE}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=15min\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def alerts_timer() -> str:
    """Runs the report job (`report send-due`) every ALERTS_EVERY while the computer is awake,
    so the immediate alerts' check for a stopped agent runs without the agent."""
    return (
        "[Unit]\n"
        "Description=Candor: immediate alerts' check, every few minutes\n"
        "\n"
        "[Timer]\n"
        f"Unit={REPORT_UNIT}\n"
        "OnBootSec=5min\n"
        f"OnUnitActiveSec={ALERTS_EVERY}\n"
        "AccuracySec=30s\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def unit_command(*argv: str) -> str:
    """A systemd command line: quoted where needed, `%` and `$` escaped."""
    out = []
    for arg in argv:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if any(c in arg for c in " \t\"'\\;"):
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(arg)
    return " ".join(out)


TIMED = (UNIT, REPORT_TIMER, ALERTS_TIMER)
"""What the user install enables: the agent and the two timers of the report job."""


def _service(target: Target) -> list[Step]:
    units = target.config_dir / "systemd" / "user"
    live = not target.relocated
    steps = []
    if live:
        steps.append(
            Step(
                "service.reload-after-removal",
                "Tell systemd the Candor units are gone (on uninstall)",
                Run(None, (("systemctl", "--user", "daemon-reload"),)),
                group="service",
            )
        )
    files = (
        (UNIT, agent_unit(target), "The agent's service, started at every login"),
        (REPORT_UNIT, report_unit(target), "The weekly report job"),
        (REPORT_TIMER, report_timer(), "A weekly timer for the report job, as a backstop"),
        (ALERTS_TIMER, alerts_timer(), "A timer that runs the report job every 5 minutes"),
    )
    for name, text, summary in files:
        steps.append(
            Step(
                f"service.{name}", summary, WriteFile(units / name, text.encode()), group="service"
            )
        )
    if live:
        steps += [
            Step(
                "service.reload",
                "Tell systemd about the Candor units",
                Run(("systemctl", "--user", "daemon-reload")),
                group="service",
            ),
            Step(
                "service.enable",
                "Start the agent now and at every login; start the report job's timers",
                Run(
                    ("systemctl", "--user", "enable", "--now", *TIMED),
                    (("systemctl", "--user", "disable", "--now", *TIMED),),
                ),
                group="service",
            ),
            Step(
                "service.restart",
                "Restart the agent so it runs this version",
                Run(("systemctl", "--user", "restart", UNIT)),
                group="service",
            ),
        ]
    return steps


# --- certificates -----------------------------------------------------------------------------


def _trust(target: Target, facts: LinuxFacts) -> list[Step]:
    return [
        *stores.system_trust_steps(target, facts.trust_store),
        *stores.nss_trust_steps(target, facts.nss_dbs),
    ]


# --- browsers ---------------------------------------------------------------------------------


def _browsers(target: Target, facts: LinuxFacts) -> list[Step]:
    steps = browsers.chromium_steps(target, facts.chromium_policy_dirs)
    if facts.firefox:
        cert = (
            target.system(stores.DEBIAN_ANCHOR) if facts.trust_store == "debian" else target.ca_file
        )
        steps.append(browsers.firefox_step(target, browsers.FIREFOX_POLICIES_LINUX, cert))
    return steps


# --- proxy settings ---------------------------------------------------------------------------


def gnome_settings(target: Target) -> list[tuple[str, str, str]]:
    """GNOME's proxy settings (schema, key, GVariant value) that point the desktop at Candor."""
    host = f"'{target.host}'"
    port = str(target.port)
    return [
        ("org.gnome.system.proxy.http", "host", host),
        ("org.gnome.system.proxy.http", "port", port),
        ("org.gnome.system.proxy.https", "host", host),
        ("org.gnome.system.proxy.https", "port", port),
        ("org.gnome.system.proxy", "mode", "'manual'"),
    ]


def environment_file(target: Target) -> str:
    """The environment.d file that points terminal programs at Candor."""
    url = f"http://{target.proxy}"
    lines = [f"{name}={url}" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")]
    lines += ["no_proxy=localhost,127.0.0.1,::1", "NO_PROXY=localhost,127.0.0.1,::1"]
    return (
        "# Written by Candor: terminal programs use the local filter too.\n"
        + "\n".join(lines)
        + "\n"
    )


def _proxy(target: Target, facts: LinuxFacts) -> list[Step]:
    steps = []
    if facts.gnome:
        for schema, key, value in gnome_settings(target):
            steps.append(
                Step(
                    f"proxy.gnome.{schema}.{key}",
                    f"Desktop proxy (GNOME): {schema.removeprefix('org.gnome.')} {key} = {value}",
                    Setting("gsettings", (schema, key), value, facts.gsettings_file),
                    group="proxy",
                )
            )
    if facts.kde:
        url = f"http://{target.proxy}"
        for key, value in (("httpProxy", url), ("httpsProxy", url), ("ProxyType", "1")):
            steps.append(
                Step(
                    f"proxy.kde.{key}",
                    f"Desktop proxy (KDE): {key} = {value}",
                    Setting(
                        facts.kde,
                        ("kioslaverc", "Proxy Settings", key),
                        value,
                        target.config_dir / "kioslaverc",
                    ),
                    group="proxy",
                )
            )
    env_file = target.config_dir / "environment.d" / "candor.conf"
    steps.append(
        Step(
            "proxy.environment",
            "Terminal programs: proxy variables for your login session (environment.d)",
            WriteFile(env_file, environment_file(target).encode()),
            group="proxy",
        )
    )
    for profile in facts.profiles:
        steps.append(
            Step(
                f"proxy.profile.{profile.name}",
                f"Terminal programs in login shells: read those variables from {profile.name}",
                AddBlock(profile, profile_snippet(env_file)),
                group="proxy",
            )
        )
    return steps


def profile_snippet(env_file: PurePath) -> str:
    """The shell profile block that reads `env_file`, for login shells environment.d misses."""
    quoted = "'" + str(env_file).replace("'", "'\\''") + "'"
    return (
        "# Candor: terminal programs use the local filter too (`candor uninstall` removes this).\n"
        f"if [ -f {quoted} ]; then set -a; . {quoted}; set +a; fi\n"
    )
