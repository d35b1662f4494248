"""The macOS plan: a LaunchAgent, the CA in the login keychain, the proxy on every network service.

Generated and pinned by snapshot tests on Linux; the commands are the documented ones
(`launchctl bootstrap`, `security add-trusted-cert`, `networksetup`), to be run on a Mac.
"""

from __future__ import annotations

import hashlib
import plistlib
import ssl
from pathlib import PurePath

from installers import browsers
from installers.plan import Plan, Run, Setting, Step, WriteFile
from installers.platforms import local_capture
from installers.target import Target, ca_sha256

LABEL = "org.candor.agent"
REPORT_LABEL = "org.candor.report"


def agent_plist(target: Target) -> bytes:
    """The LaunchAgent that starts the agent at every login and keeps it running."""
    logs = target.user_home / "Library" / "Logs" / "Candor"
    return plistlib.dumps(
        {
            "Label": LABEL,
            "ProgramArguments": [*target.candor, "run"],
            "RunAtLoad": True,
            "KeepAlive": True,
            "ProcessType": "Background",
            "StandardOutPath": str(logs / "agent.log"),
            "StandardErrorPath": str(logs / "agent.log"),
        }
    )


def report_plist(target: Target) -> bytes:
    """The LaunchAgent that sends the weekly report if it is due, as a backstop, and runs
    every 5 minutes too, so the immediate alerts' check for a stopped agent runs without it."""
    return plistlib.dumps(
        {
            "Label": REPORT_LABEL,
            "ProgramArguments": [*target.candor, "report", "send-due"],
            "StartCalendarInterval": {"Weekday": 0, "Hour": 18, "Minute": 0},
            "StartInterval": 300,  # immediate alerts: a stopped agent is noticed from here
        }
    )


def build(target: Target, *, uid: int, firefox: bool = True) -> Plan:
    """The macOS plan for the person with `uid`; Firefox's policies only if it is installed."""
    agents = target.user_home / "Library" / "LaunchAgents"
    keychain = str(target.user_home / "Library" / "Keychains" / "login.keychain-db")
    cert = str(target.ca_file)
    domain = f"gui/{uid}"
    steps: list[Step] = []
    for label, data, summary in (
        (LABEL, agent_plist(target), "The agent, started at every login and kept running"),
        (REPORT_LABEL, report_plist(target), "The weekly report job, as a backstop"),
    ):
        plist = agents / f"{label}.plist"
        steps += [
            Step(f"service.{label}.file", summary, WriteFile(plist, data), group="service"),
            Step(
                f"service.{label}.stop-old",
                f"Stop an earlier copy of {label} if one is loaded",
                Run(("launchctl", "bootout", f"{domain}/{label}"), check=False),
                group="service",
            ),
            Step(
                f"service.{label}.load",
                f"Load {label}",
                Run(
                    ("launchctl", "bootstrap", domain, str(plist)),
                    (("launchctl", "bootout", f"{domain}/{label}"),),
                ),
                group="service",
            ),
        ]
    steps.append(
        Step(
            "trust.login-keychain",
            "Trust Candor's certificate in your login keychain (macOS asks for your password)",
            Run(
                ("security", "add-trusted-cert", "-r", "trustRoot", "-k", keychain, cert),
                (
                    ("security", "remove-trusted-cert", cert),
                    ("security", "delete-certificate", "-Z", _sha1(target.ca_pem), keychain),
                ),
            ),
            group="trust",
        )
    )
    if firefox:
        steps.append(browsers.firefox_step(target, browsers.FIREFOX_POLICIES_MACOS, PurePath(cert)))
    for kind, what in (("web", "web"), ("secure", "secure web")):
        steps.append(
            Step(
                f"proxy.networksetup.{kind}",
                f"Every network service: {what} proxy = {target.proxy}",
                Setting("networksetup", (kind,), f"{target.host}:{target.port}"),
                admin=True,
                group="proxy",
            )
        )
    return Plan(
        os="macos",
        root=target.root,
        steps=tuple(steps),
        notes=(
            "Network services are listed when the plan runs (networksetup "
            "-listallnetworkservices); a new adapter is caught by the self-check.",
            "Restart your browsers afterwards: they read certificates and policies at start.",
        ),
        proxy=target.proxy,
        ca_sha256=ca_sha256(target.ca_pem),
    )


# --- the system install: mitmproxy's local capture (a network extension) for every process ---

SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
REDIRECTOR_APP = "/Applications/Mitmproxy Redirector.app"
"""mitmproxy copies its signed redirector here at the first start and runs it from here."""
REDIRECTOR_EXTENSION = "org.mitmproxy.macos-redirector.network-extension"
"""The network extension inside the redirector app, which hands every flow to the agent."""


def daemon_plist(target: Target, *, weekly: bool = False) -> bytes:
    """The LaunchDaemon: the agent as root from boot, kept running; or the weekly report."""
    if weekly:
        return plistlib.dumps(
            {
                "Label": REPORT_LABEL,
                "ProgramArguments": [*target.candor, "report", "send-due"],
                "StartCalendarInterval": {"Weekday": 0, "Hour": 18, "Minute": 0},
            }
        )
    log = str(target.system("/Library/Logs/Candor/agent.log"))
    return plistlib.dumps(
        {
            "Label": LABEL,
            "ProgramArguments": [*target.candor, *local_capture.RUN_ARGS],
            "RunAtLoad": True,
            "KeepAlive": True,
            "StandardOutPath": log,
            "StandardErrorPath": log,
        }
    )


def system_checks() -> tuple[local_capture.SystemCheck, ...]:
    """What the self-check looks at on macOS: the daemon runs, the network extension is
    active, and the canary reaches Candor."""
    return (
        local_capture.SystemCheck(
            "the service runs",
            ("launchctl", "print", f"system/{LABEL}"),
            "shows state = running",
        ),
        local_capture.SystemCheck(
            "the redirector is active",
            ("systemextensionsctl", "list"),
            f"lists {REDIRECTOR_EXTENSION} as [activated enabled]",
        ),
        local_capture.canary_check(),
    )


def build_system(target: Target) -> Plan:
    """The macOS system plan: LaunchDaemons running `candor run --local`, the CA in the System
    keychain; no proxy setting is needed."""
    daemons = target.system("/Library/LaunchDaemons")
    cert = str(target.ca_file)
    steps: list[Step] = [
        Step(
            "capture.redirector-app",
            "At uninstall, once the agent has stopped, remove the redirector app it installs",
            Run(None, (("rm", "-rf", str(target.system(REDIRECTOR_APP))),)),
            admin=True,
            group="capture",
        ),
    ]
    for label, weekly, summary in (
        (LABEL, False, "The agent, capturing every app, started at boot and kept running"),
        (REPORT_LABEL, True, "The weekly report job, as a backstop"),
    ):
        plist = daemons / f"{label}.plist"
        data = daemon_plist(target, weekly=weekly)
        steps += [
            Step(f"service.{label}.file", summary, WriteFile(plist, data), True, "service"),
            Step(
                f"service.{label}.stop-old",
                f"Stop an earlier copy of {label} if one is loaded",
                Run(("launchctl", "bootout", f"system/{label}"), check=False),
                admin=True,
                group="service",
            ),
            Step(
                f"service.{label}.load",
                f"Load {label}",
                Run(
                    ("launchctl", "bootstrap", "system", str(plist)),
                    (("launchctl", "bootout", f"system/{label}"),),
                ),
                admin=True,
                group="service",
            ),
        ]
    keychain = str(target.system(SYSTEM_KEYCHAIN))
    steps += [
        Step(
            "trust.system-keychain",
            "Trust Candor's certificate for every account on this Mac",
            Run(
                ("security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", keychain, cert),
                (
                    ("security", "remove-trusted-cert", "-d", cert),
                    ("security", "delete-certificate", "-Z", _sha1(target.ca_pem), keychain),
                ),
            ),
            admin=True,
            group="trust",
        ),
    ]
    return Plan(
        os="macos",
        root=target.root,
        steps=tuple(steps),
        notes=(
            "Every app's connections are captured by mitmproxy's local mode (its signed "
            "redirector and network extension); the agent's own are left out by its process id. "
            "No proxy setting is changed.",
            'At the first start macOS asks to allow "Mitmproxy Redirector" in System Settings '
            "(General, Login Items & Extensions, Network Extensions); nothing is captured until "
            "you do, and the self-check says so. Only you can remove it there after uninstall.",
            *local_capture.check_notes(system_checks()),
            "Not verified on a Mac yet: this plan is generated and pinned on Linux.",
        ),
        proxy=target.proxy,
        mode="system",
        ca_sha256=ca_sha256(target.ca_pem),
    )


def _sha1(pem: bytes) -> str:
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))).hexdigest().upper()
