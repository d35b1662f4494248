"""CPU cost of short `candor` commands against `python -c "import rules.matcher"`, in one run.

    .venv/bin/python bench/bench_cli.py              # 11 interleaved rounds, about 30 s
    .venv/bin/python bench/bench_cli.py --runs 21    # steadier figures on a busy machine
    .venv/bin/python bench/bench_cli.py --breakdown  # also: where `rules test` spends its CPU

A person types `candor rules test URL` to ask why a page is blocked; it should answer about as
fast as Python can load the matcher. Each round runs every case once, in a fresh process, in the
same order (baseline first); the figure of a case is the median over the rounds of the child's
CPU time, user + system, from `os.wait4`. Wall time is shown too but judged by nothing: it
depends on what else the machine does. The target is CPU over the baseline ≤ 0.15 s for
`candor --help` and `candor rules test URL`.

The home is a temporary folder that `candor rules list` has run in once (starter lists copied,
state written), as a person's home is after the first command. It is the default home, as a
person types the command (no `--home`): `XDG_DATA_HOME` points into the temporary folder (on
Linux; elsewhere `--home` is passed). `rules test` runs twice: without a config.toml (defaults)
and with a full one (every section set, so the whole settings model is validated). Before
timing, every case runs once untimed and its answer is checked; that run also writes Python's
bytecode caches (`__pycache__`, as any first run does; `PYTHONDONTWRITEBYTECODE` is removed from
the children's environment), so the rounds measure what a person's second run costs. Commands
are the venv's `candor` script beside this interpreter. Never run by the test suite.

`--breakdown` then runs what `candor rules test URL` does, step by step, in one child process
(the steps of `BREAKDOWN`, in the command's order, `rules.matcher` first so that the rest is what
comes on top of the baseline) and prints each step's CPU time (`time.process_time`), median over
the rounds; a module both steps need is charged to the first. What the process spent besides
(`os.wait4`) is the interpreter's start and exit. It runs once as a person's machine
does and once with `PYDANTIC_DISABLE_PLUGINS=1`, which shows what pydantic's scan of installed
packages for plugins costs (Candor does not set it: that is the person's choice).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_CPU_OVER_BASELINE = 0.15
URL = "https://example.com/"

CONFIG = """\
detail_level = "domains"
cooling_off = "24h"
allowlist = ["example.org", "=www.example.net"]
never_inspect = ["bank.example"]

[categories.adult]
action = "block"

[categories.gambling]
action = "warn"

[partner]
name = "Sam"
email = "sam@example.org"

[device]
name = "laptop"

[report]
day = "sunday"
time = "18:00"
timezone = "Europe/London"

[delivery.smtp]
host = "smtp.example.org"
port = 587
security = "starttls"
username = "me@example.org"
password_source = "keyring"
sender = "me@example.org"

[delivery.webhook]
url = "https://hooks.example.org/candor"

[safesearch]
enabled = true

[search_capture]
enabled = true

[journal]
retention_days = 365

[agent]
listen = "127.0.0.1:8080"
"""


BREAKDOWN: tuple[tuple[str, str], ...] = (
    ("rules.matcher (what the baseline imports)", "import rules.matcher"),
    (
        "argparse, agent.cli.main",
        "import agent.cli.main\nagent.cli.main.leave_memory_to_the_system_at_exit()",
    ),
    (
        "pydantic: BaseModel, fields, validators",
        "from pydantic import BaseModel, BeforeValidator, Field, ValidationError",
    ),
    ("importlib.metadata (for pydantic's plugins)", "import importlib.metadata"),
    ("agent.config: 13 settings models built", "import agent.config.model"),
    ("agent.config: the rest (home, loading)", "import agent.config.loading"),
    ("agent.policy: rulebook, cooling-off, lists", "import agent.policy.rulebook"),
    ("agent.cli.rules, agent.cli.console", "import agent.cli.rules, agent.cli.console"),
    (
        "find the home and ensure it",
        "import agent.config as c\nhome = c.resolve_home()\nhome.ensure()",
    ),
    ("load config.toml", "config = c.load_config(home)"),
    (
        "load and compile the rules",
        "from agent.policy.rulebook import load_rules\nloaded = load_rules(home, config)",
    ),
    (
        "decide, explain, print",
        "from agent.policy.decision_words import explain\nfrom agent.cli.console import out\n"
        f"out.line(explain(loaded.matcher.decide({URL!r})))",
    ),
)
"""What `candor rules test URL` does, in its order, as (label, Python code) steps."""


@dataclass(frozen=True, slots=True)
class Case:
    """One command to time, its environment, and a piece of what it must print (checked first)."""

    key: str
    argv: tuple[str, ...]
    env: dict[str, str]
    expect: str
    judged: bool = True


@dataclass(slots=True)
class Figures:
    """Every round's CPU and wall seconds of one case."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)


def candor_command() -> list[str]:
    """The `candor` script of this venv, run by this interpreter (or `-m agent.cli`)."""
    script = Path(sys.executable).parent / "candor"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "agent.cli"]


def in_home(data_home: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment that make `candor` use `data_home`/candor as its default home."""
    if sys.platform == "linux":
        return [], {**env, "XDG_DATA_HOME": str(data_home)}
    return ["--home", str(data_home / "candor")], env


def cases(plain: Path, configured: Path, env: dict[str, str]) -> list[Case]:
    """The baseline first, then the commands judged against it."""
    candor = candor_command()
    plain_args, plain_env = in_home(plain, env)
    configured_args, configured_env = in_home(configured, env)
    allowed = "Allowed: no rule matches."
    return [
        Case("baseline", (sys.executable, "-c", "import rules.matcher"), env, "", judged=False),
        Case("help", (*candor, "--help"), env, "usage: candor"),
        Case("rules test", (*candor, *plain_args, "rules", "test", URL), plain_env, allowed),
        Case(
            "rules test, config.toml",
            (*candor, *configured_args, "rules", "test", URL),
            configured_env,
            allowed,
        ),
        Case(
            "rules test --json",
            (*candor, *plain_args, "rules", "test", URL, "--json"),
            plain_env,
            '"decision": "allow"',
            judged=False,
        ),
    ]


def child_env() -> dict[str, str]:
    """This environment, with bytecode caches allowed and no home chosen."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("CANDOR_HOME", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_once(argv: Sequence[str], env: dict[str, str], capture: Path | None) -> tuple[float, float]:
    """Run `argv` to the end; (CPU seconds user + system, wall seconds). Fails on exit ≠ 0."""
    stdout = os.open(capture or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stdout, 2),
        ]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], list(argv), env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.close(stdout)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        shown = capture.read_text() if capture else ""
        raise SystemExit(f"{' '.join(argv)} exited with {code}\n{shown}")
    return usage.ru_utime + usage.ru_stime, wall


def prepare(work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """Two data folders whose Candor home has run once: one without config.toml, one with."""
    plain, configured = work / "plain", work / "configured"
    for data_home in (plain, configured):
        args, home_env = in_home(data_home, env)
        run_once((*candor_command(), *args, "rules", "list"), home_env, None)
    (configured / "candor" / "config.toml").write_text(CONFIG, "utf-8")
    return plain, configured


def check(case_list: Sequence[Case], work: Path) -> None:
    """Run every case once untimed (writing bytecode caches) and check what it printed."""
    for case in case_list:
        capture = work / "output.txt"
        run_once(case.argv, case.env, capture)
        shown = capture.read_text()
        if case.expect not in shown:
            raise SystemExit(f"{case.key}: expected {case.expect!r} in its output, got:\n{shown}")


def measure(case_list: Sequence[Case], runs: int) -> dict[str, Figures]:
    """`runs` rounds of every case in order; each case's CPU and wall time per round."""
    figures = {case.key: Figures() for case in case_list}
    for _ in range(runs):
        for case in case_list:
            cpu, wall = run_once(case.argv, case.env, None)
            figures[case.key].cpu.append(cpu)
            figures[case.key].wall.append(wall)
    return figures


def report(case_list: Sequence[Case], figures: dict[str, Figures]) -> list[str]:
    """The table: medians, the difference and ratio to the baseline, and the target."""
    base = statistics.median(figures["baseline"].cpu)
    lines = [
        "| command | CPU median (s) | CPU min–max (s) | wall median (s) "
        "| CPU − baseline (s) | ratio | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for case in case_list:
        f = figures[case.key]
        cpu = statistics.median(f.cpu)
        over = cpu - base
        target = f"≤ +{TARGET_CPU_OVER_BASELINE:.2f}" if case.judged else ""
        met = ("yes" if over <= TARGET_CPU_OVER_BASELINE else "**no**") if case.judged else ""
        lines.append(
            f"| {case.key} | {cpu:.3f} | {min(f.cpu):.3f}–{max(f.cpu):.3f} "
            f"| {statistics.median(f.wall):.3f} "
            f"| {'' if case.key == 'baseline' else f'{over:+.3f}'} "
            f"| {cpu / base:.2f}× | {target} | {met} |"
        )
    return lines


def breakdown_program() -> str:
    """A program that runs the `BREAKDOWN` steps and prints each one's CPU seconds last."""
    lines = ["import time", "spent = []"]
    for _, code in BREAKDOWN:
        lines += ["start = time.process_time()", code, "spent.append(time.process_time() - start)"]
    lines.append("print(*spent)")
    return "\n".join(lines)


def breakdown(data_home: Path, env: dict[str, str], runs: int) -> list[str]:
    """Each step's median CPU (ms), with pydantic's plugins as installed and turned off."""
    _, home_env = in_home(data_home, env)
    if sys.platform != "linux":
        home_env = {**home_env, "CANDOR_HOME": str(data_home / "candor")}
    columns = []
    for plugins_env in ({}, {"PYDANTIC_DISABLE_PLUGINS": "1"}):
        rounds, whole = [], []
        capture = data_home / "breakdown.txt"
        for _ in range(runs):
            argv = (sys.executable, "-c", breakdown_program())
            cpu, _ = run_once(argv, {**home_env, **plugins_env}, capture)
            rounds.append([float(x) for x in capture.read_text().split()[-len(BREAKDOWN) :]])
            whole.append(cpu - sum(rounds[-1]))
        medians = [statistics.median(r[i] for r in rounds) for i in range(len(BREAKDOWN))]
        columns.append([m * 1000 for m in (*medians, statistics.median(whole))])
    labels = [label for label, _ in BREAKDOWN] + ["the interpreter's start and exit"]
    lines = [
        "| step of `candor rules test URL` | CPU (ms) | with PYDANTIC_DISABLE_PLUGINS=1 (ms) |",
        "|---|---:|---:|",
    ]
    for i, label in enumerate(labels):
        lines.append(f"| {label} | {columns[0][i]:.1f} | {columns[1][i]:.1f} |")
    lines.append(f"| sum | {sum(columns[0]):.1f} | {sum(columns[1]):.1f} |")
    return lines


def shown_command(argv: Sequence[str]) -> str:
    """A command as a person would type it: `candor ...` or `python -c ...`, temp paths hidden."""
    words = list(argv)
    if words[0] == sys.executable:
        words[0] = "python"
    if len(words) > 1 and words[1].endswith(("/candor", "agent.cli")):
        words = ["candor", *words[2:]]
    words = ["H" if "candor-bench-cli-" in w else w for w in words]
    return " ".join(f'"{w}"' if " " in w else w for w in words)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="interleaved rounds (≥ 7)")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each step of `rules test`"
    )
    args = parser.parse_args(argv)
    if args.runs < 7:
        parser.error("--runs must be at least 7")
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="candor-bench-cli-") as tmp:
        work = Path(tmp)
        plain, configured = prepare(work, env)
        case_list = cases(plain, configured, env)
        check(case_list, work)
        loads = [os.getloadavg()[0]]
        figures = measure(case_list, args.runs)
        loads.append(os.getloadavg()[0])
        steps = breakdown(plain, env, args.runs) if args.breakdown else []
    lines = report(case_list, figures)
    lines += [
        "",
        f"{args.runs} interleaved rounds; Python {sys.version.split()[0]}; "
        f"load average (1 min) before/after: {loads[0]:.2f}/{loads[1]:.2f}",
        *(f"{c.key}: {shown_command(c.argv)}" for c in case_list),
    ]
    if steps:
        lines += ["", *steps, "", f"load average (1 min) after: {os.getloadavg()[0]:.2f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
