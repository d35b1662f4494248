"""The Windows plan: a per-user logon task, the CA in the user's root store, the WinINET proxy.

Generated and pinned by snapshot tests on Linux; the commands are the documented ones
(`schtasks /Create /XML`, `certutil -user -addstore Root`, `reg add HKCU\\...`).
"""

from __future__ import annotations

import ssl
import subprocess
from xml.sax.saxutils import escape

from installers.plan import Plan, Run, Setting, Step, WriteFile
from installers.target import Target, ca_sha256

TASK = "Candor\\Agent"
REPORT_TASK = "Candor\\Weekly report"
INTERNET_SETTINGS = "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"

_SETTINGS = """\
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <Hidden>false</Hidden>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
"""


def task_xml(target: Target, user: str, *, weekly: bool = False) -> bytes:
    """Task Scheduler XML, UTF-16 with a BOM as schtasks expects. No time limit (PT0S): by
    default a task is stopped after 72 hours."""
    if weekly:
        description = "Candor: send the weekly report if it is due"
        trigger = (
            "    <CalendarTrigger>\n"
            "      <StartBoundary>2024-01-07T18:00:00</StartBoundary>\n"
            "      <Enabled>true</Enabled>\n"
            "      <ScheduleByWeek>\n"
            "        <DaysOfWeek><Sunday /></DaysOfWeek>\n"
            "        <WeeksInterval>1</WeeksInterval>\n"
            "      </ScheduleByWeek>\n"
            "    </CalendarTrigger>\n"
        )
        args = ("report", "send-due")
    else:
        description = "Candor agent (local filtering proxy)"
        trigger = (
            "    <LogonTrigger>\n"
            "      <Enabled>true</Enabled>\n"
            f"      <UserId>{escape(user)}</UserId>\n"
            "    </LogonTrigger>\n"
        )
        args = ("run",)
    command, *rest = (*target.candor, *args)
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        f"    <Description>{description}</Description>\n"
        "  </RegistrationInfo>\n"
        f"  <Triggers>\n{trigger}  </Triggers>\n"
        "  <Principals>\n"
        '    <Principal id="Author">\n'
        f"      <UserId>{escape(user)}</UserId>\n"
        "      <LogonType>InteractiveToken</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
        "    </Principal>\n"
        "  </Principals>\n"
        f"{_SETTINGS}"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        f"      <Command>{escape(command)}</Command>\n"
        f"      <Arguments>{escape(subprocess.list2cmdline(rest))}</Arguments>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )
    return text.replace("\n", "\r\n").encode("utf-16")


def build(target: Target, *, user: str) -> Plan:
    """The Windows plan for `user` (DOMAIN\\name, as the logon task names it)."""
    folder = target.data_dir / "Candor"
    cert = str(target.ca_file)
    steps: list[Step] = []
    for name, weekly, summary in (
        (TASK, False, "The agent, started at every logon, no time limit"),
        (REPORT_TASK, True, "The weekly report job, as a backstop"),
    ):
        file = folder / ("agent-task.xml" if not weekly else "report-task.xml")
        steps += [
            Step(
                f"service.{name}.file",
                f"{summary}: task definition",
                WriteFile(file, task_xml(target, user, weekly=weekly)),
                group="service",
            ),
            Step(
                f"service.{name}.register",
                f"{summary}: register the task",
                Run(
                    ("schtasks", "/Create", "/TN", name, "/XML", str(file), "/F"),
                    (("schtasks", "/Delete", "/TN", name, "/F"),),
                ),
                group="service",
            ),
        ]
    steps.append(
        Step(
            "service.start",
            "Start the agent now",
            Run(("schtasks", "/Run", "/TN", TASK)),
            group="service",
        )
    )
    steps.append(
        Step(
            "trust.user-root",
            "Trust Candor's certificate for your account (Windows asks you to confirm)",
            Run(
                ("certutil", "-user", "-addstore", "Root", cert),
                (("certutil", "-user", "-delstore", "Root", serial_number(target.ca_pem)),),
            ),
            group="trust",
        )
    )
    for name, kind, value in (
        ("ProxyServer", "REG_SZ", target.proxy),
        ("ProxyOverride", "REG_SZ", "<local>"),
        ("ProxyEnable", "REG_DWORD", "1"),
    ):
        steps.append(
            Step(
                f"proxy.registry.{name}",
                f"Internet settings: {name} = {value}",
                Setting("registry", (INTERNET_SETTINGS, name, kind), value),
                group="proxy",
            )
        )
    return Plan(
        os="windows",
        root=target.root,
        steps=tuple(steps),
        notes=(
            "Programs read the proxy setting when they start: restart your browsers.",
            "WinHTTP (some services) keeps its own proxy; Candor leaves it unchanged.",
        ),
        proxy=target.proxy,
        ca_sha256=ca_sha256(target.ca_pem),
    )


def serial_number(pem: bytes) -> str:
    """The certificate's serial in hex, as `certutil -delstore` accepts it."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(ssl.PEM_cert_to_DER_cert(pem.decode("ascii")))
    return f"{cert.serial_number:x}"
