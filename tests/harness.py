"""The one test harness: a made-up clock, crash points and short intervals, injected through the
Python API into this process or into a real child process. Test-only; never installed.

A shipped Candor obeys no variable, option or file that changes its clock, stops it at a crash
point or shortens its self-check: tests reach those only here.

* In this process: the `simulated_clock` fixture (`clock.at(moment, speed)`).
* In a child process: `python -m tests.harness SPEC -- CANDOR-ARGS...` runs the real `candor`
  command (or, for `run`, the real agent) after installing what SPEC (JSON) asks for:
  `{"now": ISO time, "speed": simulated seconds per real second, "crash_at": a crash point,
  "selfcheck_interval": seconds, "anchor_interval": seconds}`. `child_command()` builds that
  command line; when a test has a simulated clock, the child starts from the same moment, at
  the same speed.
* The real wall clock moved, for a real agent: `faked_wall_clock(offset)` is the environment
  that runs it under Debian's libfaketime with its monotonic and boot clocks left true.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.journal import clock


class SimulatedClock:
    """Starts at a given moment and runs at `speed` simulated seconds per real second (0 stops
    it), so a week of retries can pass in seconds."""

    def __init__(self, start: datetime, speed: float = 0.0) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if speed < 0:
            raise ValueError("a clock's speed is zero or more")
        self._lock = threading.Lock()
        self._start = start.astimezone(UTC)
        self._began = time.monotonic()
        self.speed = speed
        self._boot = clock.read_uptime()
        self._boot_wall = self._start
        """Simulated time passes on the uptime clock too: a simulated day is a day of uptime."""

    def now(self) -> datetime:
        """The simulated time."""
        with self._lock:
            elapsed = (time.monotonic() - self._began) * self.speed
            return self._start + timedelta(seconds=elapsed)

    def real_seconds(self, simulated: float) -> float:
        """Real seconds for `simulated` seconds of this clock (a stopped clock: as many)."""
        simulated = max(simulated, 0.0)
        return simulated if self.speed == 0 else simulated / self.speed

    def uptime(self) -> clock.Uptime:
        """This computer's boot, as if the simulated time since this clock started had passed."""
        passed = (self.now() - self._boot_wall).total_seconds()
        return clock.Uptime(self._boot.boot_id, self._boot.seconds + passed)

    def set(self, moment: datetime, speed: float | None = None) -> None:
        """Jump to `moment` (and change speed), from now on."""
        with self._lock:
            self._start = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
            self._began = time.monotonic()
            if speed is not None:
                self.speed = speed


class ClockControl:
    """What the `simulated_clock` fixture hands a test."""

    def __init__(self) -> None:
        self.current: SimulatedClock | None = None

    def at(self, moment: datetime | str, speed: float = 0.0) -> SimulatedClock:
        """From now on, this process (and the children `child_command` starts) reads `moment`."""
        when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        if self.current is None:
            self.current = SimulatedClock(when, speed)
            clock.use(self.current)
        else:
            self.current.set(when, speed)
        return self.current

    def real(self) -> None:
        """The real clock again."""
        self.current = None
        clock.use(None)


_active: ClockControl | None = None


CHEAP_UNLOCK_HASHES_N = 2**4
"""scrypt's n for unlock-code sheets made in tests: a sheet in milliseconds, not seconds."""


def cheap_unlock_hashes() -> None:
    """Hash new unlock-code sheets cheaply in this process (the shipped costs stay the default)."""
    from reporter import unlock_sheet

    unlock_sheet.use_hash_params(unlock_sheet.HashParams(n=CHEAP_UNLOCK_HASHES_N, r=1, p=1))


@pytest.fixture(autouse=True)
def cheap_unlock_sheets() -> Iterator[None]:
    """Every test: cheap unlock-code hashes, the shipped ones again afterwards."""
    from reporter import unlock_sheet

    cheap_unlock_hashes()
    try:
        yield
    finally:
        unlock_sheet.use_hash_params(None)


@pytest.fixture
def simulated_clock() -> Iterator[ClockControl]:
    """This test's clock; the real one again afterwards."""
    global _active
    control = ClockControl()
    _active = control
    try:
        yield control
    finally:
        control.real()
        _active = None


def set_time(moment: datetime | str, speed: float = 0.0) -> SimulatedClock:
    """The active `simulated_clock` reads `moment` from now on, at `speed`."""
    if _active is None:
        raise RuntimeError("use the simulated_clock fixture to set the time")
    return _active.at(moment, speed)


def simulated() -> bool:
    """Whether this test runs on a simulated clock."""
    return _active is not None and _active.current is not None


def faked_wall_clock(offset: str) -> dict[str, str]:
    """The environment that runs a real process under Debian's libfaketime with its wall clock
    moved by `offset` ("+2d", "-10d") and its monotonic clocks (uptime) left true, as a clock
    changed in the system settings would. It is preloaded into the process itself: the
    `faketime` wrapper would stand between the test and the agent and not pass on signals."""
    from tests.conftest import require_tool

    tool = Path(require_tool("faketime"))
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    found += sorted(tool.parent.parent.glob("lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail("faketime is installed but its library libfaketimeMT.so.1 was not found")
    return {"LD_PRELOAD": str(found[0]), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@dataclass(frozen=True)
class Injected:
    """What a child process gets instead of the real thing."""

    now: str | None = None
    speed: float = 0.0
    crash_at: str | None = None
    selfcheck_interval: float | None = None
    anchor_interval: float | None = None
    canary_secret: str | None = None
    """Names the agent's canary, so a test can ask for it (a shipped agent makes its own)."""
    first_request_seconds: float | None = None
    hold_build_until: str | None = None
    """A path: a start served by the rules last applied builds the rules on disk only once a
    file is there, so a test sees the port answer before the build."""


def child_command(*args: str, crash_at: str | None = None, **injected: float | str) -> list[str]:
    """The command line that runs `candor ARGS` through the harness, with this test's clock (if
    it has one), a crash point and intervals."""
    current = _active.current if _active else None
    spec = Injected(
        now=current.now().isoformat() if current else None,
        speed=current.speed if current else 0.0,
        crash_at=crash_at,
        **injected,
    )
    return [sys.executable, "-m", "tests.harness", json.dumps(asdict(spec)), "--", *args]


def install(spec: Injected) -> None:
    """Put what `spec` asks for into this process (and cheap unlock-code hashes, always)."""
    cheap_unlock_hashes()
    if spec.now is not None:
        clock.use(SimulatedClock(datetime.fromisoformat(spec.now), spec.speed))
    if spec.crash_at is not None:
        from reporter.delivery import sender

        if spec.crash_at not in sender.CRASH_POINTS:
            raise SystemExit(f"unknown crash point {spec.crash_at!r}")
        sender.on_crash_point(lambda name: _die_at(name, spec.crash_at))


def _die_at(name: str, wanted: str | None) -> None:
    if name == wanted:
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: Sequence[str]) -> int:
    """`python -m tests.harness SPEC -- CANDOR-ARGS...`."""
    if len(argv) < 2 or argv[1] != "--":
        raise SystemExit("usage: python -m tests.harness SPEC -- CANDOR-ARGS...")
    spec = Injected(**json.loads(argv[0]))
    install(spec)
    args = list(argv[2:])
    from agent.cli.main import build_parser, command_word
    from agent.cli.main import main as candor

    if command_word(args) != "run":
        return candor(args)
    parsed = build_parser(args).parse_args(args)
    from agent.config import resolve_home
    from agent.proxy.lean_start import register_bare_addons_package

    register_bare_addons_package()
    from agent.proxy.runner import run

    home = resolve_home(parsed.home)
    home.ensure()
    return run(
        home,
        listen=parsed.listen,
        transparent=parsed.transparent,
        resolve=parsed.resolve,
        upstream_ca=parsed.upstream_ca,
        dns=parsed.dns,
        dns_upstream=parsed.dns_upstream,
        capture_table=parsed.capture_table,
        selfcheck_interval=spec.selfcheck_interval,
        anchor_interval=spec.anchor_interval,
        canary_secret=spec.canary_secret,
        first_request_seconds=spec.first_request_seconds,
        before_build=_wait_for_file(spec.hold_build_until) if spec.hold_build_until else None,
    )


def _wait_for_file(path: str) -> Callable[[], None]:
    """A hook that returns once `path` exists (the test creates it to let the build go on)."""

    def wait() -> None:
        while not os.path.exists(path):
            time.sleep(0.02)

    return wait


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
