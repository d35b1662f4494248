"""Install plans as data: the exact files and commands for macOS, Windows and Linux, pinned by
snapshots, and the plan's round trip through the install record.

A missing or different snapshot fails. Refresh the snapshots after an intended change with
`pytest tests/test_install_plans.py --update-snapshots`, and review the diff.
"""

from __future__ import annotations

import json
import plistlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from agent.config import Home
from installers.plan import step_from_json, step_to_json
from installers.platforms import linux, macos, windows
from installers.printer import format_plan, format_undo
from installers.settings import parse_proxy, parse_reg_value, parse_services
from installers.target import Target
from tests.snapshot_compare import UPDATE_FLAG, compare_snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"
CA = (SNAPSHOTS / "install-ca-cert.pem").read_bytes()


Snapshot = Callable[[str, bytes | str], None]


@pytest.fixture
def snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """Compare with tests/snapshots/NAME; rewrite it only under `--update-snapshots`."""
    update = bool(request.config.getoption(UPDATE_FLAG))
    return lambda name, data: compare_snapshot(SNAPSHOTS / name, data, update=update)


def mac_target() -> Target:
    user = PurePosixPath("/Users/sam")
    return Target(
        home=Home.at(user / "Library" / "Application Support" / "candor"),
        root=PurePosixPath("/"),
        user_home=user,
        config_dir=user / ".config",
        data_dir=user / "Library" / "Application Support",
        host="127.0.0.1",
        port=8080,
        program=("/Applications/Candor.app/Contents/MacOS/candor",),
        ca_pem=CA,
    )


def windows_target() -> Target:
    user = PureWindowsPath("C:/Users/sam")
    local = user / "AppData" / "Local"
    return Target(
        home=Home.at(local / "candor"),  # type: ignore[arg-type]
        root=PureWindowsPath("C:/"),
        user_home=user,
        config_dir=user / "AppData" / "Roaming",
        data_dir=local,
        host="127.0.0.1",
        port=8080,
        program=(str(local / "Programs" / "Candor" / "candor.exe"),),
        ca_pem=CA,
    )


def linux_target() -> Target:
    user = PurePosixPath("/home/sam")
    return Target(
        home=Home.at(user / ".local" / "share" / "candor"),
        root=PurePosixPath("/"),
        user_home=user,
        config_dir=user / ".config",
        data_dir=user / ".local" / "share",
        host="127.0.0.1",
        port=8080,
        program=("/opt/candor/venv/bin/candor",),
        ca_pem=CA,
    )


LINUX_FACTS = linux.LinuxFacts(
    trust_store="debian",
    gnome=True,
    kde="kwriteconfig5",
    nss_dbs=(PurePosixPath("/home/sam/.pki/nssdb"),),
    chromium_policy_dirs=(("Chromium", PurePosixPath("/etc/chromium/policies/managed")),),
    firefox=True,
    profiles=(PurePosixPath("/home/sam/.profile"),),
)


def test_macos_plan_is_pinned(snapshot: Snapshot) -> None:
    plan = macos.build(mac_target(), uid=501)
    snapshot("install-macos-plan.txt", format_plan(plan))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    agent = files["/Users/sam/Library/LaunchAgents/org.candor.agent.plist"]
    snapshot("install-macos-agent.plist", agent)
    snapshot(
        "install-macos-report.plist",
        files["/Users/sam/Library/LaunchAgents/org.candor.report.plist"],
    )
    parsed = plistlib.loads(agent)
    assert parsed["ProgramArguments"][-1] == "run"
    assert parsed["KeepAlive"] is True and parsed["RunAtLoad"] is True


def test_macos_commands() -> None:
    plan = macos.build(mac_target(), uid=501)
    text = format_plan(plan)
    assert (
        "security add-trusted-cert -r trustRoot -k "
        "/Users/sam/Library/Keychains/login.keychain-db" in text
    )
    assert "networksetup -setwebproxy {service} 127.0.0.1 8080" in text
    assert "networksetup -setsecurewebproxy {service} 127.0.0.1 8080" in text
    assert (
        "launchctl bootstrap gui/501 /Users/sam/Library/LaunchAgents/org.candor.agent.plist" in text
    )


def test_windows_plan_is_pinned(snapshot: Snapshot) -> None:
    plan = windows.build(windows_target(), user="PC\\sam")
    snapshot("install-windows-plan.txt", format_plan(plan))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    task = files["C:\\Users\\sam\\AppData\\Local\\Candor\\agent-task.xml"]
    snapshot("install-windows-agent-task.xml", task)
    snapshot(
        "install-windows-report-task.xml",
        files["C:\\Users\\sam\\AppData\\Local\\Candor\\report-task.xml"],
    )
    assert task.startswith(b"\xff\xfe")  # UTF-16 with a BOM, as schtasks expects
    root = ET.fromstring(task.decode("utf-16").replace('encoding="UTF-16"', ""))
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"
    assert root.find("t:Triggers/t:LogonTrigger", ns) is not None
    assert root.find("t:Actions/t:Exec/t:Arguments", ns).text.endswith("run")


def test_windows_commands() -> None:
    text = format_plan(windows.build(windows_target(), user="PC\\sam"))
    assert "certutil -user -addstore Root" in text
    assert (
        "reg add 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings' "
        "/v ProxyEnable /t REG_DWORD /d 1 /f" in text
    )
    assert "ProxyServer /t REG_SZ /d 127.0.0.1:8080 /f" in text
    assert "schtasks /Create /TN 'Candor\\Agent' /XML" in text


def test_macos_system_plan_captures_every_app_and_is_pinned(snapshot: Snapshot) -> None:
    plan = macos.build_system(mac_target())
    text = format_plan(plan)
    snapshot("install-macos-system-plan.txt", text)
    snapshot("install-macos-system-undo.txt", format_undo(plan.steps))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    agent = files["/Library/LaunchDaemons/org.candor.agent.plist"]
    snapshot("install-macos-system-agent.plist", agent)
    parsed = plistlib.loads(agent)
    assert parsed["ProgramArguments"] == [
        "/Applications/Candor.app/Contents/MacOS/candor",
        "--home",
        "/Users/sam/Library/Application Support/candor",
        "run",
        "--local",
    ]
    assert parsed["KeepAlive"] is True and "UserName" not in parsed  # root, from boot
    # Every app is captured: no proxy setting, no per-user agent, the CA trusted machine-wide.
    assert "networksetup" not in text and "gui/501" not in text
    assert "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain" in text
    # The self-check names what it looks at on macOS.
    assert "`launchctl print system/org.candor.agent` shows state = running" in text
    assert (
        "`systemextensionsctl list` lists org.mitmproxy.macos-redirector.network-extension" in text
    )
    assert "Self-check, the canary reaches Candor" in text
    assert "Not verified on a Mac yet" in text
    # Uninstall stops the daemons before it removes the redirector app they started.
    undo = format_undo(plan.steps)
    assert undo.index("launchctl bootout system/org.candor.agent") < undo.index(
        "rm -rf '/Applications/Mitmproxy Redirector.app'"
    )


def test_windows_system_plan_captures_every_program_and_is_pinned(snapshot: Snapshot) -> None:
    plan = windows.build_system(windows_target())
    text = format_plan(plan)
    snapshot("install-windows-system-plan.txt", text)
    snapshot("install-windows-system-undo.txt", format_undo(plan.steps))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    task = files["C:\\ProgramData\\Candor\\system-agent-task.xml"]
    snapshot("install-windows-system-agent-task.xml", task)
    assert task.startswith(b"\xff\xfe")
    root = ET.fromstring(task.decode("utf-16").replace('encoding="UTF-16"', ""))
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Triggers/t:BootTrigger", ns) is not None
    assert root.find("t:Principals/t:Principal/t:UserId", ns).text == "S-1-5-18"
    assert root.find("t:Principals/t:Principal/t:RunLevel", ns).text == "HighestAvailable"
    assert root.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"
    assert root.find("t:Actions/t:Exec/t:Arguments", ns).text.endswith(" run --local")
    assert "reg add" not in text and "-user" not in text  # no proxy setting, machine-wide CA
    assert "certutil -addstore Root" in text
    assert "`sc query WinDivert` shows STATE: RUNNING" in text
    assert "IMAGENAME eq windows-redirector.exe" in text
    assert "Self-check, the canary reaches Candor" in text
    assert "Not verified on Windows yet" in text


def test_the_per_user_task_is_unchanged_by_the_system_task() -> None:
    # The two share one XML writer: the per-user task still runs as the person, at logon.
    task = windows.task_xml(windows_target(), "PC\\sam").decode("utf-16")
    assert "<LogonType>InteractiveToken</LogonType>" in task and "S-1-5-18" not in task
    assert "<Arguments>--home C:/Users/sam/AppData/Local/candor run</Arguments>" in task


def test_linux_plan_is_pinned(snapshot: Snapshot) -> None:
    plan = linux.build(linux_target(), LINUX_FACTS)
    snapshot("install-linux-plan.txt", format_plan(plan))
    snapshot("install-linux-undo.txt", format_undo(plan.steps))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    unit = files["/home/sam/.config/systemd/user/candor.service"].decode()
    snapshot("install-linux-candor.service", unit)
    firefox = next(s.action for s in plan.steps if s.id == "browsers.firefox")
    policies = json.dumps({firefox.section: firefox.values}, indent=2, sort_keys=True) + "\n"
    snapshot("install-linux-firefox-policies.json", policies)
    assert "Restart=always" in unit
    assert "ExecStart=/opt/candor/venv/bin/candor --home /home/sam/.local/share/candor run" in unit
    assert "WantedBy=default.target" in unit


def test_unit_quoting_keeps_spaces_and_percent() -> None:
    spaced = replace(
        linux_target(), home=Home.at("/home/sam/My 100% files"), program=("/opt/c/candor",)
    )
    line = next(x for x in linux.agent_unit(spaced).splitlines() if x.startswith("ExecStart="))
    assert line == 'ExecStart=/opt/c/candor --home "/home/sam/My 100%% files" run'


def test_steps_round_trip_through_the_record() -> None:
    for plan in (
        linux.build(linux_target(), LINUX_FACTS),
        macos.build(mac_target(), uid=501),
        windows.build(windows_target(), user="PC\\sam"),
        macos.build_system(mac_target()),
        windows.build_system(windows_target()),
    ):
        for step in plan.steps:
            assert step_from_json(step_to_json(step), plan.os) == step


def test_relocated_plan_leaves_out_live_session_commands() -> None:
    target = replace(linux_target(), root=PurePosixPath("/tmp/root"))
    plan = linux.build(target, LINUX_FACTS)
    argvs = [s.action.argv for s in plan.steps if hasattr(s.action, "argv")]
    assert not any(a and a[0] == "systemctl" for a in argvs)
    refresh = next(a for a in argvs if a and a[0] == "update-ca-certificates")
    assert "--localcertsdir" in refresh and "/tmp/root/usr/local/share/ca-certificates" in refresh


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n*Bluetooth PAN\n"
            "Thunderbolt Bridge\n",
            ["Wi-Fi", "Thunderbolt Bridge"],
        ),
    ],
)
def test_networksetup_services(text: str, expected: list[str]) -> None:
    assert parse_services(text) == expected


def test_networksetup_and_registry_readers() -> None:
    got = parse_proxy(
        "Enabled: Yes\nServer: proxy.corp\nPort: 3128\nAuthenticated Proxy Enabled: 0\n"
    )
    assert got == {"enabled": True, "server": "proxy.corp", "port": 3128}
    reg = (
        "\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\n"
        "    ProxyEnable    REG_DWORD    0x1\n"
    )
    assert parse_reg_value(reg, "ProxyEnable") == "1"
    assert parse_reg_value(reg, "ProxyServer") is None


def test_fedora_trust_store_and_no_desktop() -> None:
    facts = replace(LINUX_FACTS, trust_store="fedora", gnome=False, kde=None, firefox=False)
    plan = linux.build(linux_target(), facts)
    text = format_plan(plan)
    assert "write /etc/pki/ca-trust/source/anchors/candor.pem" in text
    assert "run: update-ca-trust" in text and "undo: update-ca-trust" in text
    assert "gsettings" not in text and "kwriteconfig" not in text
    assert str(plan.trust_bundle) == "/etc/pki/tls/certs/ca-bundle.crt"


def test_profile_block_comes_out_exactly() -> None:
    from installers.executor import without_block
    from installers.plan import BLOCK_END, BLOCK_START

    original = "export EDITOR=vi\n# mine\n"
    added = original + BLOCK_START + "x=1\n" + BLOCK_END
    assert without_block(added) == original
    assert without_block(added + "tail\n") == original + "tail\n"
    assert without_block(original) == original


def test_self_check_sees_a_new_mac_network_service_without_the_proxy() -> None:
    from installers.plan import Setting
    from installers.settings import NetworkSetup

    answers = {
        ("networksetup", "-listallnetworkservices"): "An asterisk...\nWi-Fi\niPhone USB\n",
        ("networksetup", "-getwebproxy", "Wi-Fi"): "Enabled: Yes\nServer: 127.0.0.1\nPort: 8080\n",
        ("networksetup", "-getwebproxy", "iPhone USB"): "Enabled: No\nServer: \nPort: 0\n",
    }
    setting = Setting("networksetup", ("web",), "127.0.0.1:8080")
    problem = NetworkSetup().mismatch(setting, lambda argv: answers[argv])
    assert problem == "the web proxy of iPhone USB does not point at Candor"
    answers[("networksetup", "-getwebproxy", "iPhone USB")] = answers[
        ("networksetup", "-getwebproxy", "Wi-Fi")
    ]
    assert NetworkSetup().mismatch(setting, lambda argv: answers[argv]) is None
