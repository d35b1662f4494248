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
from typing import Literal

from installers.plan import (
    NICKNAME,
    AddBlock,
    MergeJson,
    NssTrust,
    Plan,
    Run,
    Setting,
    Step,
    WriteFile,
)
from installers.plan import canonical_json as _json
from installers.target import Target, ca_sha256

UNIT = "candor.service"
REPORT_UNIT = "candor-report.service"
REPORT_TIMER = "candor-report.timer"
REPORT_SCHEDULE = "Sun *-*-* 18:00:00"

CHROMIUM_POLICY_DIRS = {
    "Chromium": "/etc/chromium/policies/managed",
    "Google Chrome": "/etc/opt/chrome/policies/managed",
    "Brave": "/etc/brave/policies/managed",
    "Microsoft Edge": "/etc/opt/edge/policies/managed",
}
FIREFOX_POLICIES = "/etc/firefox/policies/policies.json"
_NO_PROXY_ENV = "http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY"
"""Candor itself must not send its own traffic through the proxy variables it sets."""


@dataclass(frozen=True, slots=True)
class LinuxFacts:
    """What is on this machine, as far as the plan cares."""

    trust_store: Literal["debian", "fedora"] | None
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
    env = os.environ if env is None else env
    root = target.system

    def exists(path: PurePath) -> bool:
        return Path(path).exists()

    if exists(root("/usr/local/share/ca-certificates")) or (
        not target.relocated and shutil.which("update-ca-certificates")
    ):
        trust: Literal["debian", "fedora"] | None = "debian"
    elif exists(root("/etc/pki/ca-trust/source/anchors")):
        trust = "fedora"
    else:
        trust = None
    legacy = target.user_home / ".pki" / "nssdb"
    modern = target.data_dir / "pki" / "nssdb"
    dbs = tuple(db for db in (legacy, modern) if exists(db)) or (modern,)
    browsers = []
    for name, folder in CHROMIUM_POLICY_DIRS.items():
        base = root(folder.split("/policies")[0])
        if exists(base) or (name == "Chromium" and _on_path("chromium", "chromium-browser")):
            browsers.append((name, root(folder)))
    kde = next((tool for tool in ("kwriteconfig6", "kwriteconfig5") if shutil.which(tool)), None)
    keyfile = env.get("GSETTINGS_BACKEND") == "keyfile"
    profiles = [target.user_home / ".profile"]
    profiles += [
        target.user_home / name for name in (".bash_profile", ".zprofile")
        if exists(target.user_home / name)
    ]  # fmt: skip
    return LinuxFacts(
        trust_store=trust,
        gnome=shutil.which("gsettings") is not None,
        kde=kde,
        nss_dbs=dbs,
        chromium_policy_dirs=tuple(browsers),
        firefox=exists(root("/etc/firefox")) or _on_path("firefox", "firefox-esr"),
        profiles=tuple(profiles),
        gsettings_file=target.config_dir / "glib-2.0" / "settings" / "keyfile" if keyfile else None,
    )


def _on_path(*names: str) -> bool:
    return any(shutil.which(name) for name in names)


def build(target: Target, facts: LinuxFacts) -> Plan:
    steps = [*_service(target), *_trust(target, facts), *_browsers(target, facts)]
    steps += _proxy(target, facts)
    notes = ["Restart your browsers afterwards: they read certificates and policies at start."]
    if target.relocated:
        notes.append(
            f"Relocated to {target.root}: commands that act on the running session "
            "(systemctl --user) are left out."
        )
    bundle = None
    if facts.trust_store == "debian":
        bundle = target.system("/etc/ssl/certs/ca-certificates.crt")
    elif facts.trust_store == "fedora":
        bundle = target.system("/etc/pki/tls/certs/ca-bundle.crt")
    return Plan(
        os="linux",
        root=target.root,
        steps=tuple(steps),
        notes=tuple(notes),
        proxy=target.proxy,
        trust_bundle=bundle,
        ca_sha256=ca_sha256(target.ca_pem),
    )


# --- the background service -------------------------------------------------------------------


def agent_unit(target: Target) -> str:
    return (
        "[Unit]\n"
        "Description=Candor agent (local filtering proxy)\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"UnsetEnvironment={_NO_PROXY_ENV}\n"
        f"ExecStart={_exec(*target.candor, 'run')}\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def report_unit(target: Target) -> str:
    return (
        "[Unit]\n"
        "Description=Candor: send the weekly report if it is due\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"UnsetEnvironment={_NO_PROXY_ENV}\n"
        f"ExecStart={_exec(*target.candor, 'report', 'send-due')}\n"
    )


def report_timer() -> str:
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


def _exec(*argv: str) -> str:
    """A systemd command line: quoted where needed, `%` and `$` escaped."""
    out = []
    for arg in argv:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if any(c in arg for c in " \t\"'\\;"):
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(arg)
    return " ".join(out)


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
                "Start the agent now and at every login; start the weekly timer",
                Run(
                    ("systemctl", "--user", "enable", "--now", UNIT, REPORT_TIMER),
                    (("systemctl", "--user", "disable", "--now", UNIT, REPORT_TIMER),),
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
    steps: list[Step] = []
    if facts.trust_store == "debian":
        refresh = ("update-ca-certificates", *_debian_dirs(target))
        steps += [
            Step(
                "trust.system.refresh-after-removal",
                "Rebuild the system certificate bundle without Candor's (on uninstall)",
                Run(None, ((*refresh, "--fresh"),)),
                admin=True,
                group="trust",
            ),
            Step(
                "trust.system.file",
                "Add Candor's certificate to the system trust store",
                WriteFile(
                    target.system("/usr/local/share/ca-certificates/candor.crt"), target.ca_pem
                ),
                admin=True,
                group="trust",
            ),
            Step(
                "trust.system.refresh",
                "Rebuild the system certificate bundle",
                Run(refresh),
                admin=True,
                group="trust",
            ),
        ]
    elif facts.trust_store == "fedora":
        refresh = ("update-ca-trust",)
        live = not target.relocated
        if live:
            steps.append(
                Step(
                    "trust.system.refresh-after-removal",
                    "Rebuild the system certificate bundle without Candor's (on uninstall)",
                    Run(None, (refresh,)),
                    admin=True,
                    group="trust",
                )
            )
        steps.append(
            Step(
                "trust.system.file",
                "Add Candor's certificate to the system trust store",
                WriteFile(
                    target.system("/etc/pki/ca-trust/source/anchors/candor.pem"), target.ca_pem
                ),
                admin=True,
                group="trust",
            )
        )
        if live:
            steps.append(
                Step(
                    "trust.system.refresh",
                    "Rebuild the system certificate bundle",
                    Run(refresh),
                    admin=True,
                    group="trust",
                )
            )
    for db in facts.nss_dbs:
        steps.append(
            Step(
                f"trust.nss.{db}",
                f"Trust Candor's certificate in the browser certificate database {db}",
                NssTrust(db, NICKNAME, target.ca_pem),
                group="trust",
            )
        )
    return steps


def _debian_dirs(target: Target) -> tuple[str, ...]:
    if not target.relocated:
        return ()
    s = target.system
    return (
        "--certsconf", str(s("/etc/ca-certificates.conf")),
        "--certsdir", str(s("/usr/share/ca-certificates")),
        "--localcertsdir", str(s("/usr/local/share/ca-certificates")),
        "--etccertsdir", str(s("/etc/ssl/certs")),
        "--hooksdir", str(s("/etc/ca-certificates/update.d")),
    )  # fmt: skip


# --- browsers ---------------------------------------------------------------------------------


def chromium_policy(target: Target) -> dict[str, object]:
    return {
        "ProxySettings": {"ProxyMode": "fixed_servers", "ProxyServer": target.proxy},
        "QuicAllowed": False,
        "DnsOverHttpsMode": "off",
    }


def firefox_policies(target: Target, cert: PurePath) -> dict[str, object]:
    return {
        "Certificates": {"Install": [str(cert)]},
        "Proxy": {
            "Mode": "manual",
            "HTTPProxy": target.proxy,
            "SSLProxy": target.proxy,
            "UseHTTPProxyForAllProtocols": True,
            "Passthrough": "localhost, 127.0.0.1",
        },
        "DNSOverHTTPS": {"Enabled": False},
        "Preferences": {"network.http.http3.enable": {"Value": False, "Status": "locked"}},
    }


def _browsers(target: Target, facts: LinuxFacts) -> list[Step]:
    steps = []
    for name, folder in facts.chromium_policy_dirs:
        steps.append(
            Step(
                f"browsers.chromium.{folder}",
                f"{name}: use Candor as proxy; no QUIC, no DNS over HTTPS (managed policy)",
                WriteFile(folder / "candor.json", _json(chromium_policy(target))),
                admin=True,
                group="browsers",
            )
        )
    if facts.firefox:
        cert = (
            target.system("/usr/local/share/ca-certificates/candor.crt")
            if facts.trust_store == "debian"
            else target.ca_file
        )
        steps.append(
            Step(
                "browsers.firefox",
                "Firefox: trust Candor's certificate, use Candor as proxy, no DNS over HTTPS, "
                "no HTTP/3 (policies.json)",
                MergeJson(
                    target.system(FIREFOX_POLICIES), "policies", firefox_policies(target, cert)
                ),
                admin=True,
                group="browsers",
            )
        )
    return steps


# --- proxy settings ---------------------------------------------------------------------------


def gnome_settings(target: Target) -> list[tuple[str, str, str]]:
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
    quoted = "'" + str(env_file).replace("'", "'\\''") + "'"
    return (
        "# Candor: terminal programs use the local filter too (`candor uninstall` removes this).\n"
        f"if [ -f {quoted} ]; then set -a; . {quoted}; set +a; fi\n"
    )
