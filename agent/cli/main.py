"""The `candor` command: the parser, and the one place a failure becomes a message.

Exit codes: 0 success, 1 a user-facing failure explained in one message (never a traceback),
2 usage. Each command's module is imported only when that command runs, so `candor rules test`
does not load the proxy, the reporter or the installers, and `candor --help` loads none of them:
this module imports argparse and nothing else until a command runs (tests/test_cli_imports.py).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys
from collections.abc import Iterator, Sequence


class Command:
    """A top-level command, the module under `agent.cli` that runs it, and its one-line help.

    A plain class rather than a dataclass: `candor --help` should not pay for `dataclasses`.
    """

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name = name
        self.module = module
        self.help = help


COMMANDS: tuple[Command, ...] = (
    Command("run", "agent", "run the filtering agent in the foreground"),
    Command("config", "config", "check or show the configuration"),
    Command("rules", "rules", "edit, import, test and check rules"),
    Command("lists", "lists", "subscribed public lists: show, add, remove, update"),
    Command("category", "category", "what a category does (block, warn, log, off), or a new one"),
    Command("journal", "journal", "verify or show what Candor recorded"),
    Command("allow", "agent", "let one host through now, for a short time (recorded and reported)"),
    Command("status", "agent", "is Candor running, what it did today, what needs attention"),
    Command("selfcheck", "agent", "check that the system capture leads to Candor (--probe)"),
    Command("init", "init", "set up Candor and your accountability partner"),
    Command("partner", "partner", "your accountability partner and consent"),
    Command("report", "report", "weekly reports"),
    Command("delivery", "delivery", "email and webhook delivery"),
    Command("verify", "report", "check a report's signature (and its links to earlier ones)"),
    Command("install", "install", "put Candor in front of every browser on this computer"),
    Command("uninstall", "install", "take Candor out again, as it was before"),
    Command("unlock", "unlock", "use a one-time code from your partner's sheet (it is reported)"),
    Command("alerts", "alerts", "short alerts to your partner soon after something happens"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `candor` command; the exit code follows the contract above."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command in its home; a failure the person can act on becomes one line."""
    from agent.cli.console import UserError, err
    from agent.config import ConfigError, resolve_home
    from agent.journal import JournalError

    leave_memory_to_the_system_at_exit()
    try:
        home = resolve_home(args.home)
        if home.is_shared():  # the system home: its group (the service, the others) shares it
            os.umask(0o007)
        if not getattr(args, "system", False) and getattr(args, "creates_home", True):
            home.ensure()  # `--system` chooses the system home itself; `verify` needs none
        return args.handler(home, args)
    except (UserError, ConfigError, JournalError) as exc:
        err.line(f"candor: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last net: no traceback reaches the person
        err.line(unexpected_words(exc))
        return 1


def unexpected_words(exc: BaseException) -> str:
    """One line for a failure Candor did not foresee: what it was, and that it is a bug."""
    what = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
    return (
        f"candor: something went wrong that Candor did not expect ({detail}). Nothing was "
        "changed by this failure that Candor did not record; please report it as a bug."
    )


def leave_memory_to_the_system_at_exit() -> None:
    """Spare the process Python's last garbage collections, which free nothing the system keeps.

    At exit CPython collects garbage over every object the command loaded: for `candor rules
    test` that walk costs more CPU than the command's own work (docs/benchmarks.md, "Short
    commands"), and the memory goes back to the system anyway. `gc.freeze()`, run by `atexit`
    when the program ends, leaves those objects out. Everything still referenced is released and
    finalised as usual (files flushed, connections closed); only objects in reference cycles are
    left as they are, and Python does not promise their finalisers at exit.
    A program that calls `main()` and carries on is not affected until it exits itself.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the full arguments of the command `argv` names and only the help of
    the others (their modules are not imported)."""
    parser = CandorParser(
        prog="candor",
        description="Candor: a local filter and an honest weekly summary for one trusted person.",
    )
    parser.add_argument("--home", metavar="DIR", help="keep all state under DIR (or CANDOR_HOME)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    wanted = command_word(argv)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        if command.name == wanted:
            name = f"agent.cli.{command.module}"
            __import__(name)  # the import statement's path, so `python -X importtime` lists it
            sys.modules[name].configure(command.name, p)
    return parser


def command_parsers() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and action that runs something, with its parser: for the checks that
    each argument is explained and no wrong argument ends in a traceback.

    """

    def leaves(
        parser: argparse.ArgumentParser, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        children = [a for a in arguments(parser) if isinstance(a.choices, dict)]
        if parser.get_default("handler") is not None or not children:
            yield path, parser
        for action in children:
            for word, child in action.choices.items():
                yield from leaves(child, (*path, word))

    for command in COMMANDS:
        top = build_parser([command.name])
        for action in arguments(top):
            if isinstance(action.choices, dict) and command.name in action.choices:
                yield from leaves(action.choices[command.name], (command.name,))


class CandorParser(argparse.ArgumentParser):
    """argparse's parser, able to list its own arguments (argparse has no public way)."""

    def arguments(self) -> list[argparse.Action]:
        """Its options, positionals and sub-commands, for the checks of every command."""
        return list(self._actions)


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """A parser's arguments (options, positionals, sub-commands); every parser `build_parser`
    makes is a `CandorParser`, its sub-parsers too."""
    return parser.arguments() if isinstance(parser, CandorParser) else []


def command_word(argv: Sequence[str]) -> str | None:
    """The command `argv` asks for (after any global options), or None."""
    front = argparse.ArgumentParser(add_help=False)
    front.add_argument("--home")
    try:
        _, rest = front.parse_known_args(argv)
    except SystemExit:
        return None
    return rest[0] if rest and not rest[0].startswith("-") else None


if __name__ == "__main__":
    sys.exit(main())
