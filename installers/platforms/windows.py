"""The Windows plan: a per-user logon task, the CA in the user's root store, the WinINET proxy.

Generated and pinned by snapshot tests on Linux; the commands are the documented ones
(`schtasks /Create /XML`, `certutil -user -addstore Root`, `reg add HKCU\\...`).
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import PurePath
from xml.sax.saxutils import escape

from installers.plan import Plan, Run, Setting, Step, WriteFile
from installers.platforms import local_capture
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


WEEKLY_TRIGGER = (
    "    <CalendarTrigger>\n"
    "      <StartBoundary>2024-01-07T18:00:00</StartBoundary>\n"
    "      <Enabled>true</Enabled>\n"
    "      <ScheduleByWeek>\n"
    "        <DaysOfWeek><Sunday /></DaysOfWeek>\n"
    "        <WeeksInterval>1</WeeksInterval>\n"
    "      </ScheduleByWeek>\n"
    "    </CalendarTrigger>\n"
    "    <TimeTrigger>\n"
    "      <Repetition><Interval>PT5M</Interval></Repetition>\n"
    "      <StartBoundary>2024-01-07T00:00:00</StartBoundary>\n"
    "      <Enabled>true</Enabled>\n"
    "    </TimeTrigger>\n"
)
"""Sundays at 18:00 (the report), and every 5 minutes (immediate alerts: a stopped agent is
noticed by this task, since it cannot send itself)."""


def task_xml(target: Target, user: str, *, weekly: bool = False) -> bytes:
    """Task Scheduler XML, UTF-16 with a BOM as schtasks expects. No time limit (PT0S): by
    default a task is stopped after 72 hours."""
    if weekly:
        description = "Candor: send the weekly report if it is due"
        trigger = WEEKLY_TRIGGER
        args: tuple[str, ...] = ("report", "send-due")
    else:
        description = "Candor agent (local filtering proxy)"
        trigger = (
            "    <LogonTrigger>\n"
            "      <Enabled>true</Enabled>\n"
            f"      <UserId>{escape(user)}</UserId>\n"
            "    </LogonTrigger>\n"
        )
        args = ("run",)
    principal = (
        f"      <UserId>{escape(user)}</UserId>\n"
        "      <LogonType>InteractiveToken</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
    )
    return _task(description, trigger, principal, (*target.candor, *args))


def _task(description: str, trigger: str, principal: str, argv: tuple[str, ...]) -> bytes:
    command, *rest = argv
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        f"    <Description>{description}</Description>\n"
        "  </RegistrationInfo>\n"
        f"  <Triggers>\n{trigger}  </Triggers>\n"
        "  <Principals>\n"
        '    <Principal id="Author">\n'
        f"{principal}"
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


def task_steps(
    name: str, summary: str, file: PurePath, xml: bytes, *, admin: bool = False
) -> list[Step]:
    """Write a scheduled task's definition and register it (undone: the task deleted)."""
    return [
        Step(
            f"service.{name}.file",
            f"{summary}: task definition",
            WriteFile(file, xml),
            admin=admin,
            group="service",
        ),
        Step(
            f"service.{name}.register",
            f"{summary}: register the task",
            Run(
                ("schtasks", "/Create", "/TN", name, "/XML", str(file), "/F"),
                (("schtasks", "/Delete", "/TN", name, "/F"),),
            ),
            admin=admin,
            group="service",
        ),
    ]


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
        steps += task_steps(name, summary, file, task_xml(target, user, weekly=weekly))
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


# --- the system install: mitmproxy's local capture (WinDivert) for every process ------------

SYSTEM_TASK = "Candor\\System agent"
SYSTEM_REPORT_TASK = "Candor\\System weekly report"
SYSTEM_ACCOUNT = "S-1-5-18"
"""LocalSystem: the agent starts WinDivert's redirector, which needs an administrator."""
REDIRECTOR = "windows-redirector.exe"
"""mitmproxy's redirector (from the mitmproxy-windows package), started by the agent."""


def system_task_xml(target: Target, *, weekly: bool = False) -> bytes:
    """The system task: at boot (or weekly), as LocalSystem with the highest privileges, so no
    one has to be logged on and the redirector starts without a UAC prompt."""
    if weekly:
        description = "Candor: send the weekly report if it is due"
        trigger = WEEKLY_TRIGGER
        args: tuple[str, ...] = ("report", "send-due")
    else:
        description = "Candor agent: local capture of every program (mitmproxy, WinDivert)"
        trigger = "    <BootTrigger>\n      <Enabled>true</Enabled>\n    </BootTrigger>\n"
        args = local_capture.RUN_ARGS
    principal = (
        f"      <UserId>{SYSTEM_ACCOUNT}</UserId>\n      <RunLevel>HighestAvailable</RunLevel>\n"
    )
    return _task(description, trigger, principal, (*target.candor, *args))


def system_checks() -> tuple[local_capture.SystemCheck, ...]:
    """What the self-check looks at on Windows: the task runs, the redirector and WinDivert are
    active, and the canary reaches Candor."""
    return (
        local_capture.SystemCheck(
            "the service runs",
            ("schtasks", "/Query", "/TN", SYSTEM_TASK, "/FO", "LIST", "/V"),
            "shows Status: Running",
        ),
        local_capture.SystemCheck(
            "the redirector is active",
            ("tasklist", "/FI", f"IMAGENAME eq {REDIRECTOR}"),
            f"lists {REDIRECTOR}, and `sc query WinDivert` shows STATE: RUNNING",
        ),
        local_capture.canary_check(),
    )


def build_system(target: Target) -> Plan:
    """The Windows system plan: a boot task as LocalSystem running `candor run --local`, and the
    CA in the machine's root store; no proxy setting is needed."""
    folder = target.system("/ProgramData/Candor")
    cert = str(target.ca_file)
    steps: list[Step] = []
    for name, weekly, summary in (
        (SYSTEM_TASK, False, "The agent, capturing every program, started at boot"),
        (SYSTEM_REPORT_TASK, True, "The weekly report job, as a backstop"),
    ):
        file = folder / ("system-agent-task.xml" if not weekly else "system-report-task.xml")
        xml = system_task_xml(target, weekly=weekly)
        steps += task_steps(name, summary, file, xml, admin=True)
    steps += [
        Step(
            "service.start",
            "Start the agent now",
            Run(
                ("schtasks", "/Run", "/TN", SYSTEM_TASK),
                (("schtasks", "/End", "/TN", SYSTEM_TASK),),
            ),
            admin=True,
            group="service",
        ),
        Step(
            "trust.machine-root",
            "Trust Candor's certificate for every account on this computer",
            Run(
                ("certutil", "-addstore", "Root", cert),
                (("certutil", "-delstore", "Root", serial_number(target.ca_pem)),),
            ),
            admin=True,
            group="trust",
        ),
    ]
    return Plan(
        os="windows",
        root=target.root,
        steps=tuple(steps),
        notes=(
            "Every program's connections are captured by mitmproxy's local mode (WinDivert); "
            "the agent's own are left out by its process id. No proxy setting is changed.",
            f"The task runs {target.program[0]}: keep Candor where only administrators can "
            "change it (Program Files).",
            *local_capture.check_notes(system_checks()),
            "Not verified on Windows yet: this plan is generated and pinned on Linux.",
        ),
        proxy=target.proxy,
        mode="system",
        ca_sha256=ca_sha256(target.ca_pem),
    )
