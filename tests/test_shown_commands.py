"""Commands Candor shows (the "noted" page) are safe to paste into a shell: a hostile URL or
rule text stays one word, and the page still escapes it as HTML."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from agent.config.shell_words import command_line
from agent.proxy.pages.render import PageInfo, noted_page
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.syntax import parse_rule
from tests.conftest import require_tool

HOSTILE_URL = "https://warned.test/x;$(touch$IFS~/pwned)"
HOSTILE_RULE = "quoted.test/a'b;$(touch$IFS~/pwned-rule)`touch$IFS~/pwned-tick`"


def noted_for(url: str) -> str:
    rules = [
        parse_rule("warned.test", source="risky.txt:1"),
        parse_rule(HOSTILE_RULE, source="risky.txt:2"),
    ]
    matcher = Matcher.compile(Policy(categories=[CategoryPolicy("risky", "warn", rules)]))
    decision = matcher.decide(url)
    assert decision.decision == "warn"
    host = url.split("/")[2]
    return noted_page(PageInfo(host=host, url=url, decision=decision, token="t0k"))


def shown_commands(page: str) -> list[str]:
    """The commands the page shows, as a person would copy them from the browser."""
    return [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", page) if "candor" in c]


def run_as_pasted(command: str, home: Path) -> str:
    """The shown command pasted into bash, with `candor` swapped for a harmless echo."""
    bash = require_tool("bash")
    assert command.startswith("candor ")
    pasted = "echo " + command.removeprefix("candor ")
    done = subprocess.run(
        [bash, "-c", pasted],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.rstrip("\n")


@pytest.mark.parametrize(
    "url",
    [HOSTILE_URL, "https://quoted.test/a'b;$(touch$IFS~/pwned-rule)`touch$IFS~/pwned-tick`"],
)
def test_a_pasted_command_from_the_noted_page_runs_nothing_else(tmp_path: Path, url: str) -> None:
    page = noted_for(url)
    commands = shown_commands(page)
    assert len(commands) == 3, commands
    test_cmd, allow_cmd, remove_cmd = commands
    assert run_as_pasted(test_cmd, tmp_path) == f"rules test {url}"
    site = url.split("/")[2]  # a rule that is not a plain site: its host is allowed
    assert run_as_pasted(allow_cmd, tmp_path) == f"rules allow {site}"
    # The rule as Candor holds it: a path rule's path in one spelling, lower case.
    rule = "warned.test" if "warned.test" in url else parse_rule(HOSTILE_RULE).text
    assert run_as_pasted(remove_cmd, tmp_path) == f"rules remove risky {rule}"
    assert list(tmp_path.iterdir()) == []  # no ~/pwned, ~/pwned-rule or ~/pwned-tick


def test_the_noted_page_still_escapes_html(tmp_path: Path) -> None:
    url = "https://warned.test/<script>alert(1)</script>'\""
    page = noted_for(url)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert run_as_pasted(shown_commands(page)[0], tmp_path) == f"rules test {url}"


def test_plain_words_are_shown_as_typed() -> None:
    assert command_line("candor", "rules", "test", "https://a.test/p") == (
        "candor rules test https://a.test/p"
    )
    assert command_line("candor", "rules", "remove", "adult", "x.test/a b") == (
        "candor rules remove adult 'x.test/a b'"
    )
