"""What the macOS and Windows system plans share: mitmproxy's local capture of every process but
the agent's own, and the self-checks that say it still holds, in words and commands.

The agent runs `candor run --local` (mitmproxy's `--mode local`): mitmproxy itself leaves out
the agent's own process id, so its upstream connections are not captured again. No process name
is exempt: the redirector matches names as substrings (Windows) or patterns (macOS) of the
executable's path, so an exempt name would be a way around Candor for any program renamed to
match it. Candor's other processes (the weekly report) are captured like any app and passed
through by the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from installers.plan import Argv
from installers.printer import command_text

RUN_ARGS = ("run", "--local")
"""The agent's arguments in a system service: local capture of every process but its own."""

CANARY_ADDRESS = "192.0.2.1"
"""Where the self-check's canary child connects (TEST-NET-1: nothing answers there but Candor)."""


@dataclass(frozen=True, slots=True)
class SystemCheck:
    """One thing the self-check looks at on the installed system, and how a person can look too."""

    what: str
    argv: Argv
    """The command that shows it; empty when the agent checks it from inside."""
    expect: str


def canary_check() -> SystemCheck:
    """The end-to-end check: a connection from another process reaches Candor with no proxy."""
    return SystemCheck(
        "the canary reaches Candor",
        (),
        "the agent's self-check starts a short-lived child process (another process id, so the "
        f"redirector takes it) that opens the canary's name on {CANARY_ADDRESS}:443 with no proxy "
        "setting; only Candor can answer it",
    )


def check_notes(checks: tuple[SystemCheck, ...]) -> tuple[str, ...]:
    """The plan's notes naming each self-check, so the printed plan says what is watched."""
    notes = []
    for check in checks:
        how = f" `{command_text(check.argv)}`" if check.argv else ""
        notes.append(f"Self-check, {check.what}:{how} {check.expect}.")
    return tuple(notes)
