"""When a change the person just made takes effect, in one sentence after the command.

Loosening waits for the cooling-off delay; everything else applies at once, picked up by a
running agent within seconds or at its next start. The answer comes from the same reading of
the rules and the journal that the agent and `candor status` use, so the time said is the time
it will be.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.config import Home, format_duration, last_good_config
from agent.health.pidfile import is_candor, read_pid_file
from agent.policy.cooling_off import Pending
from agent.policy.rulebook import load_rules


def taking_effect(home: Home, concerns: Callable[[Pending], bool]) -> str:
    """When the change `concerns` picks out of the waiting loosenings takes effect."""
    config = last_good_config(home).config
    loaded = load_rules(home, config, with_grants=False)
    waiting = [p for p in loaded.pending if concerns(p)]
    running = is_running(home)
    if waiting:
        delay = format_duration((loaded.effective_config or config).cooling_off)
        if not running:
            return (
                f"It waits for your cooling-off time ({delay}), counted from when Candor next "
                "starts (it is not running now); until then the stricter rule stays. Your "
                "weekly report lists it."
            )
        until = max(loaded.cooling.due_of(p) for p in waiting).astimezone()
        return (
            f"It takes effect on {until:%A %d %B at %H:%M}, after your cooling-off time "
            f"({delay}); until then the stricter rule stays. Your weekly report lists it."
        )
    return f"{at_once(running)} Your weekly report lists it."


def at_once(running: bool) -> str:
    """A change with no wait: now, if Candor runs; else at its next start."""
    if running:
        return "It takes effect now: the running Candor picks it up within seconds."
    return "It takes effect when Candor next starts (it is not running now)."


def is_running(home: Home) -> bool:
    """Whether this home's agent runs (its pid file names a live Candor process)."""
    found = read_pid_file(home.pid_file)
    return found is not None and is_candor(found[0])
