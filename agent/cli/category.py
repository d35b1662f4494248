"""`candor category set|add`: choose what a category does, or start a new one, without editing
config.toml by hand.

Both write config.toml (and, for a new category, its rules file) exactly as an edit by hand
would, so the agent treats them the same way: a stricter action applies at once, a looser one
waits for the cooling-off delay, and the journal and the weekly report record both.
"""

from __future__ import annotations

import argparse

from agent.cli.console import UserError, out
from agent.cli.list_import import category_name
from agent.cli.taking_effect import at_once, is_running, taking_effect
from agent.config import Home, editing_config, load_config, save_config
from agent.config.files import make_folder, write_atomic
from agent.config.home import starter_categories, starter_text
from agent.config.model import CategorySettings
from agent.journal.loosening import Loosening
from agent.policy.rulebook import categories_on_disk, rules_file
from rules.catalogue import catalogue
from rules.model import ACTIONS, Action

ACTION_WORDS: dict[str, str] = {
    "block": "blocks its sites with Candor's block page",
    "warn": "shows a pause page first, where you can choose to continue",
    "log": "lets its sites through and only counts visits, for the report",
    "off": "is off: its rules are kept but not used",
}
"""What each action does, said after the change."""
CATEGORY_WORDS: dict[str, str] = {
    "adult": "pornography and other sexual content",
    "gambling": "betting, casinos, poker and lotteries",
    "bypass": "proxies, VPN sign-up pages and encrypted-DNS services that would get around Candor",
    "dating": "dating and hook-up sites",
    "social": "social media",
}
"""What the well-known categories hold, in the words the wizard and `category add` use."""
STRICTNESS = {"off": 0, "log": 1, "warn": 2, "block": 3}
"""Lower is looser: a change to a lower action waits for the cooling-off delay."""
NEW_FILE_HEADER = (
    "# Your rules for {name}: one site or rule a line (`candor rules add --help` shows them).\n"
)


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor category`."""
    actions = parser.add_subparsers(metavar="ACTION")
    p = actions.add_parser("set", help="choose what a category does: block, warn, log or off")
    p.add_argument("category", help="adult, gambling, bypass, or one you added")
    p.add_argument("action", choices=ACTIONS, help="block, warn (a pause page), log or off")
    p.set_defaults(handler=editing_config(cmd_category_set))
    p = actions.add_parser("add", help="start a new category (dating, social, ...)")
    p.add_argument("category", help="its name: lower-case letters, digits, '-' or '_'")
    p.add_argument(
        "--action", choices=ACTIONS, default="block", help="what it does (default: block)"
    )
    p.set_defaults(handler=editing_config(cmd_category_add))


def cmd_category_set(home: Home, args: argparse.Namespace) -> int:
    """`candor category set CATEGORY ACTION`: the category's action, in config.toml."""
    name = category_name(args.category)
    config = load_config(home)
    if name not in config.categories and name not in categories_on_disk(home):
        raise UserError(
            f"There is no category '{name}'. Start it with `candor category add {name}`."
        )
    settings = config.categories.get(name) or CategorySettings()
    before: Action = settings.action
    action: Action = args.action
    if before == action:
        out.print(f"{name} already {ACTION_WORDS[action].split(':')[0]}.", markup=False)
        return 0
    config.categories[name] = settings.model_copy(update={"action": action})
    save_config(home, config)
    out.print(f"{name} now {ACTION_WORDS[action]} (it was {before}).", markup=False)
    if STRICTNESS[action] < STRICTNESS[before]:
        said = taking_effect(
            home, lambda p: p.what == Loosening.ACTION_LOWERED and p.category == name
        )
    else:
        said = at_once(is_running(home)) + " Your weekly report lists it."
    out.print(said, markup=False)
    return 0


def cmd_category_add(home: Home, args: argparse.Namespace) -> int:
    """`candor category add NAME`: a rules file (the starter list, for a starter) and its
    action in config.toml; then where to find sites for it."""
    name = category_name(args.category)
    config = load_config(home)
    path = rules_file(home, name)
    if name in categories_on_disk(home) or path.exists():
        raise UserError(
            f"'{name}' already exists: `candor category set {name} ACTION` changes what it "
            "does, `candor rules add` adds sites."
        )
    make_folder(path.parent)
    starter = name in starter_categories()
    write_atomic(path, starter_text(name) if starter else NEW_FILE_HEADER.format(name=name))
    config.categories[name] = (config.categories.get(name) or CategorySettings()).model_copy(
        update={"action": args.action}
    )
    save_config(home, config)
    kept = "with Candor's starter list" if starter else "with no sites yet"
    what = f", for {CATEGORY_WORDS[name]}" if name in CATEGORY_WORDS else ""
    out.print(
        f"Added the category {name}{what} (rules/{path.name}, {kept}). It "
        f"{ACTION_WORDS[args.action]}.",
        markup=False,
    )
    lists = [entry for entry in catalogue() if entry.category == name]
    if lists:
        best = next((e for e in lists if e.recommended), lists[0])
        out.print(
            f"A public list is ready for it: `candor lists add {best.name}` (about "
            f"{best.entries:,} sites, {best.licence}); `candor lists available` shows all.",
            markup=False,
        )
    out.print(f"Add sites of your own with `candor rules add {name} example.com`.", markup=False)
    out.print(at_once(is_running(home)) + " Your weekly report lists it.", markup=False)
    return 0
