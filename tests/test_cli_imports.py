"""What a short `candor` command loads: only what it uses, so it answers quickly (no timings here).

`python -X importtime` lists every module a process imports; these tests read that list for
`candor --help` and `candor rules test URL`, and check that printing a plain line without rich
prints exactly what rich prints. The CPU figures are measured by bench/bench_cli.py.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from agent.cli.console import prints_as_is
from tests.conftest import REPO, candor

URL = "https://example.com/"

NOT_FOR_RULES_TEST = (
    "mitmproxy",
    "agent.proxy",
    "agent.health",
    "reporter",
    "installers",
    "httpx",
    "watchdog",
    "cryptography",
    "rich",
    "sqlite3",
    "platformdirs",
    "agent.journal.store",
    "agent.journal.writer",
    "agent.journal.events",
    "agent.journal.chain",
    "agent.policy.live_rules",
    "agent.policy.watcher",
)
"""Modules (and packages, with everything under them) `candor --home H rules test URL` must not
load on a home with no journal yet: the agent, the reporter, the installers, the journal's
database, the rules watcher, the downloader, and rich (a one-line answer is written without it).
Once a journal exists, `rules test` reads what is in force from it (the newest `rules_applied`
row and the allow rows, through the kind index), so SQLite and the journal's store load then."""

NOT_FOR_HELP = ("pydantic", "rich", "agent.config", "agent.journal", "agent.policy", "rules")
"""`candor --help` parses arguments and prints; it reads no settings, rules or journal."""


RUN_AND_LIST = """\
import runpy, sys
sys.argv = ["candor", *sys.argv[1:]]
try:
    runpy.run_module("agent.cli", run_name="__main__", alter_sys=True)
finally:
    print("\\n".join("loaded: " + name for name in sys.modules), file=sys.stderr)
"""
"""`python -m agent.cli ARGS`, then the names of every module still loaded, on stderr."""


def imported_modules(*args: str, home: Path | None = None) -> tuple[set[str], str]:
    """Every module `python -X importtime -m agent.cli ARGS` imports, and what it printed.

    Both what `-X importtime` reports and what `sys.modules` holds at the end are counted, so a
    module loaded some other way (`importlib.import_module`) is not missed.
    """
    argv = [sys.executable, "-X", "importtime", "-c", RUN_AND_LIST]
    if home is not None:
        argv += ["--home", str(home)]
    proc = subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    modules = set()
    other_lines = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name != "package":  # the header line
                modules.add(name)
        elif line.startswith("loaded: "):
            modules.add(line.removeprefix("loaded: "))
        else:
            other_lines.append(line)
    assert "agent.cli.main" in modules, proc.stderr
    return modules, proc.stdout + "\n".join(other_lines)


def loaded_under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The modules that are one of `packages` or inside one of them."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_help_imports_only_the_parser() -> None:
    modules, printed = imported_modules("--help")
    assert "usage: candor" in printed
    assert loaded_under(modules, NOT_FOR_HELP) == []
    assert sorted(m for m in modules if m.startswith("agent")) == [
        "agent",
        "agent.cli",
        "agent.cli.main",
    ]


@pytest.mark.parametrize("config_toml", [None, 'detail_level = "domains"\ncooling_off = "1h"\n'])
def test_rules_test_imports_only_what_it_uses(home_dir: Path, config_toml: str | None) -> None:
    candor(home_dir, "rules", "list", check=True)  # a home that has run once
    if config_toml is not None:
        (home_dir / "config.toml").write_text(config_toml)
    modules, printed = imported_modules("rules", "test", URL, home=home_dir)
    assert "Allowed: no rule matches." in printed
    assert loaded_under(modules, NOT_FOR_RULES_TEST) == []
    commands = sorted(m for m in modules if m.startswith("agent.cli."))
    # list_import: the list formats and category names `rules` shares with `lists` (no imports
    # of its own beyond what `rules test` loads anyway)
    assert commands == [
        "agent.cli.console",
        "agent.cli.list_import",
        "agent.cli.main",
        "agent.cli.rules",
    ]
    assert {"agent.config.model", "agent.policy.rulebook", "rules.matcher"} <= modules


def test_a_config_error_is_told_without_loading_more(home_dir: Path) -> None:
    candor(home_dir, "rules", "list", check=True)
    (home_dir / "config.toml").write_text('detail_level = "everything"\n')
    modules, printed = imported_modules("rules", "test", URL, home=home_dir)
    assert 'detail_level must be one of "summary", "domains" or "detailed"' in printed
    assert loaded_under(modules, NOT_FOR_RULES_TEST) == []


@pytest.mark.parametrize("package", ["agent.config", "agent.journal"])
def test_every_public_name_comes_from_the_module_the_package_names(package: str) -> None:
    exports = importlib.import_module(package)
    assert sorted(exports.EXPORTED_FROM) == sorted(exports.__all__)
    for name, where in exports.EXPORTED_FROM.items():
        source = importlib.import_module(where)
        expected = source if where == f"{package}.{name}" else getattr(source, name)
        assert getattr(exports, name) is expected, name


def test_reading_paths_and_words_loads_no_model_and_no_database() -> None:
    code = (
        "import sys\n"
        "from agent.config import Home, ConfigError\n"
        "from agent.journal import JournalError, clock\n"
        "from agent.journal.loosening import held_until_words\n"
        "loaded = {'pydantic', 'sqlite3', 'agent.config.model', 'agent.journal.store'}\n"
        "print(sorted(loaded & set(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def rich_prints(text: str, *, terminal: bool, width: int) -> str:
    """What `agent.cli.console`'s rich console writes for `print(text, markup=False)`."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=terminal, width=width, highlight=False, soft_wrap=True
    )
    console.print(text, markup=False)
    return buffer.getvalue()


@settings(max_examples=400, deadline=None)
@given(st.text(), st.booleans(), st.sampled_from([8, 80, 200]))
def test_a_line_written_without_rich_is_what_rich_writes(
    text: str, terminal: bool, width: int
) -> None:
    if prints_as_is(text):
        assert rich_prints(text, terminal=terminal, width=width) == text + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "Allowed: no rule matches.",
        "Blocked by the rule 'examplebets.com' (gambling.txt:3) in category 'gambling'.",
        "candor: /home/zoë/config.toml, line 1: detail_level must be one of …",
        "trailing spaces   ",
        "x" * 300,
        "[bold]markup is text here[/bold]",
    ],
)
def test_candor_lines_are_written_as_rich_writes_them(text: str) -> None:
    assert prints_as_is(text)
    for terminal in (False, True):
        assert rich_prints(text, terminal=terminal, width=40) == text + "\n"


@pytest.mark.parametrize("text", ["a rule with :cat: in it", "bell\x07", "tab\there", "two\nlines"])
def test_lines_rich_would_change_go_through_rich(text: str) -> None:
    assert not prints_as_is(text)
