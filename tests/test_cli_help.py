"""Every command explains its arguments, and no wrong argument ends in a traceback.

A newcomer's first attempts are often wrong: a misspelt kind, a stray value, an option that does
not exist. Each must be answered with one sentence (exit 1) or argparse's usage line (exit 2),
never a Python traceback, and every option and positional must say what it is for.
"""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from agent.cli.main import arguments, command_parsers, main, run, unexpected_words
from tests.conftest import candor

JUNK = "bad\x7f value/../..%%" + "x" * 300
"""A value no argument accepts: a control character, a path climb, and length."""

NEVER_RUN = {("run",), ("install",), ("uninstall",), ("init",), ("status",), ("rules", "check")}
"""Commands that act without any argument (or start the agent); their wrong-option case is
covered by the parse-only test."""


def leaves() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command and action."""
    return list(command_parsers())


def test_every_argument_has_help() -> None:
    missing = [
        f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in leaves()
        for action in arguments(parser)
        if action.dest != "help" and not isinstance(action.choices, dict) and not action.help
    ]
    assert missing == []


def test_rules_add_help_shows_the_rule_syntax(tmp_path: Path) -> None:
    proc = candor(tmp_path / "home", "rules", "add", "--help")
    assert proc.returncode == 0
    for form in ("=www.example.com", "example.com/path", "@@||example.com^", "/regex/"):
        assert form in proc.stdout
    assert "keyword: word" in proc.stdout


@pytest.mark.parametrize("path", [p for p, _ in leaves()], ids=" ".join)
def test_an_unknown_option_gets_the_usage_line(path: tuple[str, ...], tmp_path: Path) -> None:
    said = io.StringIO()
    with redirect_stderr(said), pytest.raises(SystemExit) as stopped:
        main(["--home", str(tmp_path / "home"), *path, "--no-such-option"])
    assert stopped.value.code == 2
    assert said.getvalue().startswith("usage: candor")
    assert " error: " in said.getvalue()
    assert "Traceback" not in said.getvalue()


def junk_command(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """`path` with every positional and every required option given a value nobody accepts."""
    argv = list(path)
    for action in arguments(parser):
        if action.dest == "help":
            continue
        if not action.option_strings:
            argv.append(JUNK)
        elif action.required:
            argv += [action.option_strings[0]] + ([JUNK] if action.nargs != 0 else [])
    return argv


def test_wrong_values_get_one_sentence_never_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tried = 0
    for path, parser in leaves():
        argv = junk_command(path, parser)
        if argv == list(path) or path in NEVER_RUN:
            continue
        proc = candor(home, *argv, timeout=60)
        tried += 1
        said = proc.stderr + proc.stdout
        assert proc.returncode in (1, 2), (path, said)
        assert "Traceback" not in said, (path, said)
        assert said.strip(), path
    assert tried >= 12


def test_an_unknown_journal_kind_is_named_with_the_close_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    candor(home, "rules", "add", "adult", "example.com", check=True)
    proc = candor(home, "journal", "show", "--kind", "decisions")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "There is no event kind 'decisions'. Did you mean 'decision'?" in proc.stderr
    assert candor(home, "journal", "show", "--kind", "rules_changed").returncode == 0


def test_a_partner_verifying_a_report_gets_no_candor_home(tmp_path: Path) -> None:
    """`candor verify` on the partner's computer reads files; it must not set Candor up there."""
    home = tmp_path / "partners-computer"
    report = tmp_path / "report.json"
    report.write_text("{}")
    proc = candor(home, "verify", str(report))
    assert proc.returncode == 1
    assert "--key" in proc.stderr and "Traceback" not in proc.stderr
    assert not home.exists()


def test_a_failure_nobody_foresaw_is_one_line(tmp_path: Path) -> None:
    def broken(home: object, args: argparse.Namespace) -> int:
        raise KeyError("surprise")

    said = io.StringIO()
    args = argparse.Namespace(home=str(tmp_path / "home"), handler=broken)
    with redirect_stderr(said):
        code = run(args)
    assert code == 1
    assert said.getvalue().count("\n") == 1
    assert "KeyError: 'surprise'" in said.getvalue()
    assert "Traceback" not in said.getvalue()
    assert unexpected_words(RuntimeError("")).startswith("candor: something went wrong")
