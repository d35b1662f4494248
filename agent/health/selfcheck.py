"""The agent checks, every few minutes, after every wake and as soon as a watched setting or file
changes (agent/health/watch.py), that the computer still sends its traffic through Candor: the
system proxy points here and this agent is what answers there, Candor's certificate is still
trusted, the browser policies are in place, and a request to a host only Candor answers arrives.

What to check is handed in by the composition root (for an install: `installers.checks`, which
follows the install record); the canary probe the checks use is here, as it is about Candor's own
proxy. A finding is journaled as `bypass_suspected` once, when what is found changes, not every
time it is seen. `candor status` reads the last result from `state/selfcheck.json`.

Under the system capture (`--capture-table`) each round also checks the capture
(agent/health/capture_guard.py, which journals its own findings and their end); its findings
are saved with the others for `candor status`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agent.config import Home, rough_duration_words, write_atomic
from agent.journal.events import CAPTURE_FINDINGS, BypassSuspected, EventBody
from agent.proxy.addons.canary import CANARY_HEADER

log = logging.getLogger(__name__)

STATE_FILE = "selfcheck.json"

CHECK_EVERY = 300.0
"""Seconds between checks: fixed in shipped code; a test may only make it shorter."""
QUIET_AFTER = 4 * 3600.0
"""Awake this long with no traffic through Candor is worth a neutral note."""
WAKE_GAP = 30.0

RecordEvent = Callable[[EventBody], None]
"""Appends one journal event (the runner's `Agent.record`)."""


class FindingLike(Protocol):
    """One problem a check found: what kind (proxy unset, CA untrusted, policy missing, canary
    failed) and the detail in words. Hashable, so a repeated finding is journaled once."""

    @property
    def what(self) -> str:
        """The kind of problem, for the journal's `what`."""
        ...

    @property
    def detail(self) -> str:
        """The problem in words, for the person and their partner."""
        ...


Check = Callable[[], Sequence[FindingLike] | None]
"""Runs the checks once: None when there is nothing to check (no install), else the findings.
Raises ValueError, with a message for the person, when what it checks cannot be read."""


# --- the canary -------------------------------------------------------------------------------


def canary(proxy: str, cafile: str | None, *, url: str, timeout: float = 5.0) -> str | None:
    """None when Candor answered its canary `url` through `proxy`, trusting only the system
    store. The URL names this agent's secret canary host (`Canary.url`)."""
    import httpx

    context = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    try:
        with httpx.Client(proxy=proxy, verify=context, timeout=timeout, trust_env=False) as c:
            response = c.get(url)
    except httpx.HTTPError as exc:
        return f"Candor's test page through {proxy}: {exc or type(exc).__name__}"
    if response.headers.get(CANARY_HEADER) != "1":
        return f"Candor's test page through {proxy} was answered by something other than Candor"
    return None


# --- the loop ---------------------------------------------------------------------------------


class SelfCheck:
    """A daemon thread: checks every `interval` seconds and right after the computer wakes.

    `record` appends a journal event (the runner's `Agent.record`); `check` runs the checks once
    (see `Check`); `capture` checks the system capture and journals what it finds itself
    (`CaptureGuard.check_now`); `last_traffic` returns the monotonic time real traffic last went
    through Candor (`Canary.last_traffic`), or None.
    """

    def __init__(
        self,
        home: Home,
        record: RecordEvent,
        *,
        check: Check,
        capture: Callable[[], Sequence[FindingLike]] | None = None,
        last_traffic: Callable[[], float | None] = lambda: None,
        interval: float = CHECK_EVERY,
        quiet_after: float = QUIET_AFTER,
        tick: float = 5.0,
        first_delay: float = 5.0,
    ) -> None:
        self.home = home
        self._record = record
        self._check = check
        self._capture = capture
        self._last_traffic = last_traffic
        self.interval = min(interval, CHECK_EVERY)
        self.quiet_after = quiet_after
        self.tick = min(tick, self.interval)
        self.first_delay = min(first_delay, self.interval)
        self._reported: frozenset[FindingLike] = frozenset()
        self.installed = False
        """The check had something to check (an install record exists): only then is quiet
        worth noting (`candor run` by hand is not a bypass)."""
        self._quiet_reported = False
        self._awake_since = time.monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._soon = False
        self._thread: threading.Thread | None = None

    @property
    def awake_since(self) -> float:
        """Monotonic time the current awake stretch began (start, or the last wake)."""
        return self._awake_since

    def start(self) -> None:
        """Start checking in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="candor-selfcheck", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting for a check in progress to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_soon(self) -> None:
        """Something the checks look at changed (a watched file or setting): check at once."""
        self._soon = True
        self._wake.set()

    def check_now(self) -> list[FindingLike]:
        """Run the checks once; journal `bypass_suspected` if what is found has changed."""
        capture = list(self._capture()) if self._capture is not None else []
        try:
            checked = self._check()
        except ValueError as exc:
            log.warning("%s", exc)
            if self._capture is None:
                return []
            checked = None
        self.installed = checked is not None or self._capture is not None
        if checked is None and self._capture is None:
            return []
        findings = list(checked or ())
        found = frozenset(findings)
        if found and found != self._reported:
            self._record(
                BypassSuspected(
                    what=findings[0].what,
                    problems=[_problem(f) for f in findings],
                    source="self-check",
                )
            )
        self._reported = found
        _save_state(self.home, [*findings, *capture])
        return [*findings, *capture]

    def check_quiet(self, now: float | None = None) -> bool:
        """Journal a long awake stretch with no traffic through Candor, once per stretch."""
        now = time.monotonic() if now is None else now
        last = self._last_traffic()
        since = max(self._awake_since, last if last is not None else self._awake_since)
        if last is not None and last > self._awake_since:
            self._quiet_reported = False
        if now - since < self.quiet_after or self._quiet_reported:
            return False
        self._quiet_reported = True
        quiet = rough_duration_words(dt.timedelta(seconds=now - since))
        self._record(
            BypassSuspected(
                what="no traffic while awake",
                detail=f"No web traffic went through Candor for {quiet} while the "
                "computer was awake. This can be a quiet time, or traffic taking another route.",
                source="self-check",
            )
        )
        return True

    def woke(self) -> None:
        """The computer resumed from sleep: a fresh awake stretch, and check at once."""
        self._awake_since = time.monotonic()
        self._quiet_reported = False

    def _loop(self) -> None:
        self._wake.wait(self.first_delay)
        next_check = 0.0
        mono, boot = time.monotonic(), _boottime()
        while not self._stop.is_set():
            self._wake.clear()
            now_mono, now_boot = time.monotonic(), _boottime()
            if (now_boot - boot) - (now_mono - mono) > WAKE_GAP:
                self.woke()
                next_check = 0.0
            mono, boot = now_mono, now_boot
            if self._soon:
                self._soon = False
                next_check = 0.0
            if now_mono >= next_check:
                try:
                    self.check_now()
                    if self.installed:
                        self.check_quiet()
                except Exception:  # a broken check must never stop the agent
                    log.exception("self-check failed")
                next_check = now_mono + self.interval
            self._wake.wait(self.tick)


def _boottime() -> float:
    """Seconds including suspend; wall time where CLOCK_BOOTTIME is not available."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.time()


def _problem(finding: FindingLike) -> dict[str, str]:
    """A finding as the journal and `state/selfcheck.json` hold it."""
    return {"what": finding.what, "detail": finding.detail}


def _save_state(home: Home, findings: list[FindingLike]) -> None:
    state = {
        "checked_at": dt.datetime.now(dt.UTC).isoformat(),
        "ok": not findings,
        "problems": [_problem(f) for f in findings],
    }
    path = home.state_dir / STATE_FILE
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps(state, indent=2) + "\n")
    except OSError:
        log.warning("could not save the self-check result under %s", home.state_dir)


def last_result(home: Home) -> dict[str, Any] | None:
    """The last self-check for `candor status`: {checked_at, ok, problems: [{what, detail}]}."""
    try:
        return json.loads((home.state_dir / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def status_lines(home: Home) -> list[str]:
    """What `candor status` says about the wiring: one line when fine, one per problem if not."""
    result = last_result(home)
    if result is None:
        return []
    when = result.get("checked_at", "")[:16].replace("T", " ")
    if result.get("ok"):
        return [f"Self-check passed at {when} UTC: traffic goes through Candor."]
    lines = [f"Self-check at {when} UTC found a problem:"]
    problems = result.get("problems", [])
    lines += [f"  {p['what']}: {p['detail']}" for p in problems]
    if any(p.get("what") in CAPTURE_FINDINGS for p in problems):
        lines.append("  Run `sudo candor install --system` again to put the capture back.")
    else:
        lines.append("  Run `candor install` again to put the wiring back.")
    return lines
