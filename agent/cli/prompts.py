"""Questions at the terminal: a flag wins, `--yes` takes the default, otherwise ask until valid.

`candor init` and the `partner` commands are run by the person, interactively; flags exist for
scripted setup and tests, never to skip a step that protects someone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.cli.console import UserError, out
from agent.config import ConfigError

Check = Callable[[str], Any]
"""Raises ValueError (or ConfigError) with a sentence when an answer is not usable."""


def ask(prompt: str, default: str | None = None) -> str:
    """One answer from the terminal; the default on an empty answer, if there is one."""
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    try:
        answer = input(shown).strip()
    except EOFError:
        raise UserError(f"{prompt}: no answer (run candor init in a terminal)") from None
    if not answer and default is not None:
        return default
    if not answer:
        raise UserError(f"{prompt}: an answer is needed.")
    return answer


def choose(value: str | None, prompt: str, default: str | None, yes: bool, check: Check) -> str:
    """A flag wins; with --yes the default is taken; otherwise ask until the answer is valid."""
    if value is not None:
        validate(check, value)
        return value
    if yes:
        if default is None:
            raise UserError(f"{prompt}: give it as an option when using --yes.")
        return default
    while True:
        answer = ask(prompt, default)
        try:
            validate(check, answer)
        except UserError as exc:
            out.print(str(exc), markup=False)
            continue
        return answer


def validate(check: Check, value: str) -> None:
    """Run `check`, turning its complaint into a UserError the person reads."""
    try:
        check(value)
    except (ValueError, ConfigError) as exc:
        raise UserError(str(exc)) from None


def confirm(question: str, yes: bool) -> bool:
    """A yes/no question; `--yes` answers it."""
    if yes:
        return True
    return ask(f"{question} (yes/no)", "no").lower() in ("y", "yes")


def one_of(allowed: tuple[str, ...], message: str) -> Check:
    """A check that accepts only `allowed` values, saying `message` otherwise."""

    def check(value: str) -> None:
        if value not in allowed:
            raise ValueError(message)

    return check


def setting_check(key: str, words: str | None = None) -> Check:
    """A check that `value` is a valid `key` of config.toml ("report.time"), saying what is
    wrong in plain words: `words` if given, else the setting's own sentence, never pydantic's
    listing."""

    def check(value: str) -> None:
        from pydantic import ValidationError

        from agent.config import Config

        section, _, name = key.rpartition(".")
        data: dict[str, Any] = {name: value}
        for part in reversed(section.split(".") if section else []):
            data = {part: data}
        try:
            Config.model_validate(data)
        except ValidationError as exc:
            said = exc.errors()[0].get("msg", "is not valid").removeprefix("Value error, ")
            raise ValueError(words or f"That {said}.") from None

    return check
