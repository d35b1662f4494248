"""The self-check of the system (transparent) capture: Candor's nftables table is in the kernel
as installed, this agent holds the ports the table sends traffic to, and the root timer's probe
(agent/health/probe.py) keeps arriving.

Each round (the self-check's, and one within seconds of any `nft monitor` line) finds what is
wrong now, at most one thing for each part (the table, the ports, the probe). A finding that
appears is journaled once, as `bypass_suspected` with its own `what` (`capture_removed`,
`capture_changed`, `capture_taken_over`, `probe_missing`); when a part is right again, one
`capture_restored` row names what cleared. Nothing is journaled while the state stays as it is.

The table's expected text is a file the system install keeps (`candor run --capture-table FILE`,
the text `installers.platforms.linux_nftables.render` gave); it is read again every round, so a
reinstall that changes it is followed. How the kernel's table is read and hashed is handed in by
the composition root (the installers own the table's text).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.health.proxy_owner import listener_problem
from agent.journal.events import (
    CAPTURE_CHANGED,
    CAPTURE_REMOVED,
    CAPTURE_RESTORED,
    CAPTURE_TAKEN_OVER,
    PROBE_MISSING,
    BypassSuspected,
    EventBody,
)

log = logging.getLogger(__name__)

PROBE_ROUNDS = 3
"""The probe is missing once this many self-check intervals pass without one (the root timer
runs it every interval): one late or failed run is not yet a finding."""

TABLE_WORDS = "Candor's firewall table, which sends every app's traffic through Candor,"
RESTORED_WORDS = {
    "table": "Candor's firewall table is back as it was installed",
    "ports": "Candor holds the ports its capture sends traffic to again",
    "probe": "the regular test connection made as an ordinary user reaches Candor again",
}
"""The detail of a `capture_restored` row, by the part that is right again."""

ListTable = Callable[[], str | None]
"""The table as the kernel holds it now, None when absent; OSError when it cannot be read."""
Digest = Callable[[str], str]
"""A table text's content hash (`ruleset_hash`)."""


@dataclass(frozen=True, slots=True)
class CaptureFinding:
    """One way the capture no longer leads every connection to Candor, in words."""

    what: str
    detail: str
    state: str = ""
    """Tells one wrong state of a part from another (a changed table's hash): a second, different
    change is a new finding, journaled too."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What the capture should be: the table file, and where this agent listens for it."""

    table_file: Path
    """The table's text as installed (`--capture-table FILE`)."""
    listeners: Sequence[tuple[str, int]] = ()
    """The transparent listeners (`--transparent`), which this process must own."""
    dns: Sequence[tuple[str, int]] = ()
    """The DNS listeners (`--dns`), whose UDP sockets this process must own too."""


class CaptureGuard:
    """Checks the capture when asked (`check_now`), journaling what changed since last time."""

    def __init__(
        self,
        expected: Expected,
        record: Callable[[EventBody], None],
        *,
        list_table: ListTable,
        digest: Digest,
        last_probe: Callable[[], float | None],
        probe_within: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.expected = expected
        self._record = record
        self._list_table = list_table
        self._digest = digest
        self._last_probe = last_probe
        self.probe_within = probe_within
        self._clock = clock
        self._started = clock()
        self._found: dict[str, CaptureFinding] = {}
        """Part ("table", "ports", "probe") -> what is wrong with it now."""
        self._lock = threading.Lock()
        """One round at a time: the monitor's trigger and the periodic round may meet."""

    def check_now(self) -> list[CaptureFinding]:
        """Find what is wrong now; journal a finding newly found, and the capture restored."""
        with self._lock:
            parts = {"table": self._table(), "ports": self._listeners(), "probe": self._probe()}
            now = {part: found for part, found in parts.items() if found is not None}
            for part, finding in now.items():
                before = self._found.get(part)
                if before is None or (before.what, before.state) != (finding.what, finding.state):
                    self._record(
                        BypassSuspected(
                            what=finding.what, detail=finding.detail, source="self-check"
                        )
                    )
            for part, finding in self._found.items():
                if part not in now:
                    self._record(
                        BypassSuspected(
                            what=CAPTURE_RESTORED,
                            detail=RESTORED_WORDS[part],
                            restored=[finding.what],
                            source="self-check",
                        )
                    )
            self._found = now
            return list(now.values())

    def _table(self) -> CaptureFinding | None:
        try:
            expected = self.expected.table_file.read_text("utf-8")
        except OSError as exc:
            log.warning("the installed capture table cannot be read: %s", exc)
            return self._found.get("table")
        try:
            listed = self._list_table()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("Candor's capture table cannot be read: %s", exc)
            return self._found.get("table")  # unknown: what was last found stands
        if listed is None:
            return CaptureFinding(CAPTURE_REMOVED, f"{TABLE_WORDS} is gone")
        digest = self._digest(listed)
        if digest != self._digest(expected):
            return CaptureFinding(CAPTURE_CHANGED, f"{TABLE_WORDS} was changed", digest)
        return None

    def _listeners(self) -> CaptureFinding | None:
        ports = [(a, "tcp") for a in self.expected.listeners]
        ports += [(a, "udp") for a in self.expected.dns]
        for (host, port), protocol in ports:
            shown = f"[{host}]" if ":" in host else host
            problem = listener_problem(f"{shown}:{port}", os.getpid(), protocol)
            if problem is not None:
                return CaptureFinding(CAPTURE_TAKEN_OVER, problem)
        return None

    def _probe(self) -> CaptureFinding | None:
        last = self._last_probe()
        since = last if last is not None else self._started
        if self._clock() - since < self.probe_within:
            return None
        return CaptureFinding(
            PROBE_MISSING, "the regular test connection made as an ordinary user did not arrive"
        )
