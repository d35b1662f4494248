"""What a new home still lacks before Candor can help, each with the one command that fixes it.

`candor run` says it once, under its listening line, and `candor status` lists it with the
problems: a newcomer following only the README otherwise meets a certificate error at the
first blocked HTTPS site and never hears of the partner.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.config import Home
from agent.proxy.ca import CA_CERT_FILE


@dataclass(frozen=True, slots=True)
class FirstStep:
    """Something missing, and how to put it right."""

    what: str
    fix: str


def first_steps(home: Home) -> list[FirstStep]:
    """What is missing in `home`: browsers not set up (no install record), no partner yet."""
    from installers.record import load_record

    steps: list[FirstStep] = []
    try:
        installed = load_record(home) is not None
    except ValueError:
        installed = True  # a record exists; the self-check speaks for its state
    if not installed:
        cert = home.confdir / CA_CERT_FILE
        steps.append(
            FirstStep(
                "Browsers do not trust Candor's certificate yet and are not pointed at it, so "
                "secure sites would show a certificate error instead of Candor's page.",
                "Run `candor install` (or by hand, as docs/install.md shows: trust "
                f"{cert} and set the proxy).",
            )
        )
    if not _has_partner(home):
        steps.append(
            FirstStep(
                "No accountability partner yet.",
                "When you are ready, `candor init` names one and shows what they would see.",
            )
        )
    return steps


def _has_partner(home: Home) -> bool:
    """Whether consent names a partner; when the journal cannot be read (a full disk, say),
    True: this hint is not worth a failure, and the agent says what is wrong itself."""
    if not home.journal_file.exists():
        return False
    from agent.journal import Journal, JournalError
    from reporter.consent import consent_state

    try:
        with Journal(home.journal_file) as journal:
            return consent_state(journal).status in ("given", "confirmed")
    except (JournalError, OSError, sqlite3.Error):
        return True


def setup_notes(home: Home) -> list[tuple[str, str]]:
    """The first steps as `agent.health.status.collect` takes them: (what, fix) pairs, for
    `candor status` and the status page alike."""
    return [(step.what, step.fix) for step in first_steps(home)]


def first_steps_lines(home: Home) -> list[str]:
    """The lines `candor run` prints under its listening line (none when nothing is missing)."""
    steps = first_steps(home)
    if not steps:
        return []
    lines = ["Before Candor can fully help:"]
    for step in steps:
        lines.append(f"  - {step.what}")
        lines.append(f"    {step.fix}")
    return lines
