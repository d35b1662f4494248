"""`candor rules ...`: edit, import, test and check the rules, and watch an edit take effect."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.cli.console import UserError, err, out, usable_settings
from agent.cli.list_import import LIST_FORMATS, category_name, say_loosening
from agent.config import Config, Home, editing_config, last_good_config
from agent.config.files import edit_atomic, make_folder
from agent.config.printable import printable
from agent.policy.decision_words import explain, reason
from agent.policy.imported_lists import (
    ImportFailed,
    ImportReport,
    import_list,
    remove_list,
    stored_lists,
)
from agent.policy.ledger import read_ledger
from agent.policy.own_rules import is_own_list
from agent.policy.rulebook import categories_on_disk, load_rules, rules_file
from agent.policy.snapshot import offer_snapshot
from rules.changes import CategoryChange
from rules.lists.formats import ListFormat
from rules.matcher import Matcher
from rules.model import Decision, Rule
from rules.search_engines import engine_for, search_in_url
from rules.syntax import RulesFileError, RuleSyntaxError, parse_rule, read_rules_file
from rules.urls import host_key, split_url

if TYPE_CHECKING:
    from agent.policy.cooling_off import Pending

Handler = Callable[[Home, argparse.Namespace], int]


def said_plainly(handler: Handler) -> Handler:
    """`handler`, with an unreadable rules file or a failed import said as one sentence."""

    def run(home: Home, args: argparse.Namespace) -> int:
        try:
            return handler(home, args)
        except (ImportFailed, RulesFileError) as exc:
            raise UserError(str(exc)) from None

    return run


RULE_SYNTAX_HELP = """\
rule syntax (one rule an argument; docs/rules.md has the whole table):
  example.com            the site and all its subdomains
  =www.example.com       that host only
  example.com/path       addresses starting with that path on the site
  ||example.com^         Adblock-style: the same as example.com
  @@||example.com^       exception: cancels this category's blocks for that site
  /regex/                an RE2 regular expression anywhere in the address
  "keyword: word"        a whole word in host names, addresses and searches
                         (sex matches free-sex-videos, never essex)

examples:
  candor rules add adult example.com "keyword: nsfw"
  candor rules add gambling =casino.example.net
"""
"""The rule forms, shown under `candor rules add --help` so nobody has to look them up."""


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the actions of `candor rules`."""
    rules = parser.add_subparsers(metavar="ACTION")
    p = rules.add_parser("list", help="show categories, or the rules of one")
    p.add_argument("category", nargs="?", help="one category (default: a line for each)")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=said_plainly(cmd_rules_list))

    p = rules.add_parser(
        "add",
        help="add rules to a category",
        description="Add rules to a category's file (rules/<category>.txt).",
        epilog=RULE_SYNTAX_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("category", help="adult, gambling, bypass, or a new name")
    p.add_argument("rules", nargs="+", metavar="RULE", help="one or more rules (syntax below)")
    p.set_defaults(handler=said_plainly(cmd_rules_add))

    p = rules.add_parser("remove", help="remove rules (or an imported list) from a category")
    p.add_argument("category", help="the category the rules are in")
    p.add_argument("rules", nargs="*", metavar="RULE", help="the rules, as `rules list` shows them")
    p.add_argument("--list", dest="list_name", metavar="NAME", help="remove an imported list")
    p.set_defaults(handler=said_plainly(cmd_rules_remove))

    p = rules.add_parser(
        "allow", help="let a site through whatever list or rule names it (a false positive)"
    )
    p.add_argument(
        "host", metavar="HOST", help="the site, e.g. example.com (=HOST: that host alone)"
    )
    p.set_defaults(handler=editing_config(allow_host))

    p = rules.add_parser("import", help="import a public block list (file, folder or URL)")
    p.add_argument("source", metavar="FILE-OR-URL", help="a list file, a UT1 folder or an address")
    p.add_argument("--category", required=True, help="the category the list blocks for")
    p.add_argument("--format", choices=LIST_FORMATS, help="default: detected")
    p.add_argument("--exact", action="store_true", help="hosts-file meaning: each host alone")
    p.add_argument("--name", help="name to keep the list under (default: from the source)")
    p.set_defaults(handler=said_plainly(cmd_rules_import))

    p = rules.add_parser("update", help="download subscribed lists again (= candor lists update)")
    p.add_argument("category", nargs="?", help="only this category's lists")
    p.set_defaults(handler=said_plainly(cmd_rules_update))

    p = rules.add_parser("test", help="what Candor would do with URLs, and why")
    p.add_argument(
        "urls", nargs="+", metavar="URL", help="one or more; '-' reads them one a line from stdin"
    )
    p.add_argument("--search", metavar="TERMS", help="also test these search terms")
    p.add_argument("--json", action="store_true", help="one JSON object a line, in input order")
    p.set_defaults(handler=said_plainly(cmd_rules_test))

    p = rules.add_parser("check", help="parse every rule and list, report every problem")
    p.add_argument("--json", action="store_true", help="as JSON, for scripts")
    p.set_defaults(handler=said_plainly(cmd_rules_check))

    p = rules.add_parser("watch", help="re-test URLs each time the rules change (Ctrl-C stops)")
    p.add_argument("urls", nargs="+", metavar="URL", help="the addresses to test again and again")
    p.set_defaults(handler=said_plainly(cmd_rules_watch))


def cmd_rules_list(home: Home, args: argparse.Namespace) -> int:
    """`candor rules list`: categories, actions and counts, or the rules of one category (a
    home the agent never ran in is first given the shipped snapshot, as in `rules test`)."""
    offer_snapshot(home)
    config = usable_settings(home)
    loaded = load_rules(home, config)
    if args.category:
        return _list_one(home, category_name(args.category), loaded.actions, args.json)
    rows = []
    for name, action in loaded.actions.items():
        lists = [s for s in stored_lists(home.lists_dir) if s.meta.category == name]
        entries = sum(loaded.list_counts.get(s.source_name, 0) for s in lists)
        rows.append(
            {
                "category": name,
                "action": action,
                "rules": loaded.rule_counts.get(name, 0),
                "lists": len(lists),
                "list_entries": entries,
            }
        )
    if args.json:
        out.print_json(json.dumps(rows))
        return 0
    from rich.table import Table

    table = Table(title="Categories", title_justify="left")
    for col in ("category", "action", "rules", "imported lists", "list entries"):
        table.add_column(col, justify="right" if col not in ("category", "action") else "left")
    for r in rows:
        table.add_row(
            r["category"], r["action"], str(r["rules"]), str(r["lists"]), f"{r['list_entries']:,}"
        )
    out.print(table)
    out.print(f"Rules live in {home.rules_dir}/<category>.txt; edit them with any text editor.")
    return 0


def _list_one(home: Home, category: str, actions: dict, as_json: bool) -> int:
    if category not in actions:
        raise UserError(f"There is no category '{category}'. Known: {', '.join(actions)}.")
    path = rules_file(home, category)
    parsed = read_rules_file(path, display_name=f"{category}.txt") if path.exists() else None
    lists = [s for s in stored_lists(home.lists_dir) if s.meta.category == category]
    if as_json:
        doc = {
            "category": category,
            "action": actions[category],
            "file": str(path),
            "rules": [{"rule": r.text, "source": r.source} for r in parsed.rules] if parsed else [],
            "lists": [
                {"name": s.meta.name, "origin": s.meta.origin, "format": str(s.meta.format)}
                for s in lists
            ],
        }
        out.print_json(json.dumps(doc))
        return 0
    out.print(f"[bold]{category}[/bold] ({actions[category]}) — {path}")
    if parsed and parsed.rules:
        from rich.table import Table

        table = Table(show_header=True)
        table.add_column("rule")
        table.add_column("line", justify="right")
        for rule in parsed.rules:
            table.add_row(rule.text, rule.source.rsplit(":", 1)[-1])
        out.print(table)
    else:
        out.print("No rules of your own yet.")
    for s in lists:
        out.print(
            f"Imported list [bold]{s.meta.name}[/bold] ({s.meta.format}) from {s.meta.origin}"
        )
    return 0


def cmd_rules_add(home: Home, args: argparse.Namespace) -> int:
    """`candor rules add`: append rules to a category's file, all or none."""
    category = category_name(args.category)
    wanted: list[Rule] = []
    for text in args.rules:
        try:
            rule = parse_rule(text)
        except RuleSyntaxError as exc:
            raise UserError(f"'{text}' is not a valid rule: {exc}. Nothing was added.") from None
        if rule is None:
            raise UserError(f"'{text}' is empty or a comment. Nothing was added.")
        wanted.append(rule)
    path = rules_file(home, category)
    make_folder(path.parent)
    to_write: list[str] = []
    already: list[str] = []

    def appended(data: bytes | None) -> bytes | None:
        """The file with the new rules at its end (read under the file's lock)."""
        to_write.clear()
        already.clear()
        have = set(read_rules_file(path).rules) if data is not None else set()
        for rule in wanted:
            if rule in have:
                already.append(rule.text)
                continue
            have.add(rule)
            to_write.append(rule.text)
        if not to_write:
            return None
        data = data or b""
        prefix = b"\n" if data and not data.endswith(b"\n") else b""
        return data + prefix + ("\n".join(to_write) + "\n").encode("utf-8")

    edit_atomic(path, appended)
    for line in already:
        out.print(f"Already there: {line}")
    for line in to_write:
        out.print(f"Added to {category}: {line}")
    return 0


def allow_host(home: Home, args: argparse.Namespace) -> int:
    """`candor rules allow HOST` (agent.cli.allowlist; imported when it runs)."""
    from agent.cli.allowlist import cmd_rules_allow

    return cmd_rules_allow(home, args)


def cmd_rules_remove(home: Home, args: argparse.Namespace) -> int:
    """`candor rules remove`: take rules (or an imported list) out of a category."""
    category = category_name(args.category)
    if args.list_name:
        if not remove_list(home.lists_dir, category, args.list_name):
            raise UserError(f"There is no imported list '{args.list_name}' in '{category}'.")
        out.print(f"Removed the imported list {args.list_name} from {category}.")
        out.print(said_when(home, lambda p: p.category == category), markup=False)
        if not args.rules:
            return 0
    if not args.rules:
        raise UserError("Name at least one rule to remove (or --list NAME).")
    targets = _rules_named(args.rules)
    path = rules_file(home, category)
    if not path.parent.is_dir():
        raise UserError(f"'{category}' has no rules file ({path}).")
    removed: set[Rule] = set()

    def without(data: bytes | None) -> bytes:
        """The file without those rules (read under the file's lock)."""
        if data is None:
            raise UserError(f"'{category}' has no rules file ({path}).")
        kept, found = _without(data.decode("utf-8", errors="surrogateescape"), targets)
        if not found:
            raise UserError(f"None of those rules are in {category}.txt. Nothing was removed.")
        removed.update(found)
        return "".join(kept).encode("utf-8", errors="surrogateescape")

    edit_atomic(path, without)
    for rule in removed:
        out.print(f"Removed from {category}: {rule.text}")
    for rule, text in targets.items():
        if rule not in removed:
            out.print(f"Not found in {category}: {text}")
    out.print(said_when(home, lambda p: p.category == category), markup=False)
    return 0


def said_when(home: Home, concerns: Callable[[Pending], bool]) -> str:
    """When a removal takes effect (agent.cli.taking_effect, imported only by commands that
    change something: `rules test` stays lean)."""
    from agent.cli.taking_effect import taking_effect

    return taking_effect(home, concerns)


def _rules_named(texts: list[str]) -> dict[Rule, str]:
    """The rules `texts` name, each with the text the person typed; a bad one is refused."""
    targets = {}
    for text in texts:
        try:
            rule = parse_rule(text)
        except RuleSyntaxError as exc:
            raise UserError(f"'{text}' is not a valid rule: {exc}.") from None
        if rule is not None:
            targets[rule] = text
    return targets


def _without(raw: str, targets: dict[Rule, str]) -> tuple[list[str], set[Rule]]:
    """The lines of a rules file that are not one of `targets`, and the targets found."""
    kept: list[str] = []
    removed: set[Rule] = set()
    for line in raw.splitlines(keepends=True):
        try:
            rule = parse_rule(line)
        except RuleSyntaxError:
            rule = None
        if rule is not None and rule in targets:
            removed.add(rule)
            continue
        kept.append(line)
    return kept, removed


def cmd_rules_import(home: Home, args: argparse.Namespace) -> int:
    """`candor rules import`: keep a public list (file, folder or URL) and compile it."""
    category = category_name(args.category)
    fmt = ListFormat(args.format) if args.format else None
    before = read_ledger(home)
    report = _with_progress(
        f"Importing into {category}",
        lambda progress: import_list(
            home.lists_dir,
            args.source,
            category,
            fmt=fmt,
            exact=args.exact,
            name=args.name,
            progress=progress,
        ),
    )
    _print_import(report)
    say_loosening(home, [report.stored.source_name], before)
    return 0


def _with_progress(label: str, work):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err.console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return work(progress)


def _print_import(report: ImportReport) -> None:
    meta = report.stored.meta
    meaning = "each host alone" if meta.exact else "each host and its subdomains"
    out.print(
        f"Imported {meta.name} into {meta.category} as {meta.format} ({meaning}): "
        f"{report.accepted:,} accepted, {sum(report.skipped.values()):,} skipped, "
        f"{report.rejected_count:,} rejected."
    )
    if report.skipped:
        parts = ", ".join(f"{n:,} {why}" for why, n in sorted(report.skipped.items()))
        out.print(f"Skipped: {parts}.")
    if report.rejected:
        out.print("First rejected lines:")
        for r in report.rejected[:10]:
            out.print(f"  {r}", markup=False)


def cmd_rules_update(home: Home, args: argparse.Namespace) -> int:
    """`candor rules update [CATEGORY]`: `candor lists update`, kept for habit and scripts."""
    from agent.cli.lists import cmd_lists_update

    category = category_name(args.category) if args.category else None
    return cmd_lists_update(home, argparse.Namespace(name=category))


NOT_A_URL = "not a web address Candor can read (no host name)"


@dataclass(frozen=True, slots=True)
class Tested:
    """One line of `candor rules test`: the URL, and its decision or why it has none."""

    url: str
    decision: Decision | None
    error: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """The contract's fields, `reason`, and the URL (or `error` instead of a decision)."""
        if self.decision is None:
            return {"url": self.url, "decision": None, "error": self.error}
        return {"url": self.url, **self.decision.as_json(), "reason": reason(self.decision)}


def decide_url(matcher: Matcher, url: str, search: str | None = None) -> Tested:
    """What `matcher` does with `url`, reading the search terms of an engine's URL as the
    agent does (unless `search` gives terms)."""
    host = host_key(split_url(url)[1])
    if host is None:
        return Tested(url, None, NOT_A_URL)
    if search is None and engine_for(host) and (found := search_in_url(url)) is not None:
        search = found.terms
    return Tested(url, matcher.decide(url, search_terms=search))


def urls_given(given: list[str]) -> Iterator[str]:
    """The URLs named, in order; `-` stands for standard input's lines (blank lines and `#`
    comments skipped)."""
    for item in given:
        if item != "-":
            yield item
            continue
        for line in sys.stdin:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text


def cmd_rules_test(home: Home, args: argparse.Namespace) -> int:
    """`candor rules test URL...`: what Candor would do with each, and which rule decides.
    The rules are compiled once, however many URLs there are; exit 1 if a line was not a URL.
    A home the agent never ran in is first given the shipped snapshot, as the agent's first
    start would give it, so the answer is the agent's."""
    offer_snapshot(home)
    matcher = load_rules(home, usable_settings(home)).matcher
    several = len(args.urls) > 1 or "-" in args.urls
    bad = 0
    write = sys.stdout.write
    for url in urls_given(args.urls):
        tested = decide_url(matcher, url, args.search)
        bad += tested.decision is None
        if args.json:
            write(json.dumps(tested.as_json(), ensure_ascii=False) + "\n")
        elif tested.decision is None:
            write(f"{url}: {tested.error}.\n")
        else:
            said = explain(tested.decision)
            write(f"{url}: {said}\n" if several else said + "\n")
    sys.stdout.flush()
    if bad:
        err.line(f"candor: {bad:,} of the lines given {'was' if bad == 1 else 'were'} {NOT_A_URL}.")
        return 1
    return 0


def describe_change(change: CategoryChange) -> str:
    """A category's change in one line: what got stricter, what looser."""
    parts = []
    if change.tightening:
        parts.append("stricter: " + ", ".join(change.tightening))
    if change.loosening:
        parts.append("looser: " + ", ".join(change.loosening))
    return "; ".join(parts) or "no rule changed"


def cmd_rules_check(home: Home, args: argparse.Namespace) -> int:
    """`candor rules check`: every problem in the rules and lists, with file and line (the
    shipped snapshot included, as in `rules test`)."""
    offer_snapshot(home)
    problems: list[str] = []
    read = last_good_config(home)
    if read.note:
        problems.append(read.note)
    config: Config | None = read.config
    counts: dict[str, int] = {}
    if config is not None:
        loaded = load_rules(home, config)
        problems.extend(loaded.problems)
        problems.extend(str(r) for r in loaded.rejected)
        counts = {
            "categories": len(loaded.actions),
            "rules": sum(loaded.rule_counts.values()),
            "list_entries": sum(  # a large own file's hosts are counted among the rules
                n for name, n in loaded.list_counts.items() if not is_own_list(name)
            ),
        }
    else:
        for name in categories_on_disk(home):
            try:
                parsed = read_rules_file(rules_file(home, name), display_name=f"{name}.txt")
            except RulesFileError as exc:
                problems.append(str(exc))
                continue
            problems.extend(str(r) for r in parsed.rejected)
    if args.json:
        out.print_json(json.dumps({"ok": not problems, "problems": problems, **counts}))
    elif problems:
        err.print(f"Found {len(problems)} problem(s):", markup=False)
        for p in problems:
            err.print(f"  {p}", markup=False)
    else:
        out.print(
            f"All rules are valid: {counts['rules']:,} rules of your own and "
            f"{counts['list_entries']:,} imported entries in {counts['categories']} categories."
        )
    return 1 if problems else 0


def cmd_rules_watch(home: Home, args: argparse.Namespace) -> int:
    """`candor rules watch URL...`: re-test whenever a rules file changes."""
    from agent.policy.live_rules import LiveRules, ReloadOutcome
    from agent.policy.watcher import RulesWatcher

    unreadable = [url for url in args.urls if host_key(split_url(url)[1]) is None]
    if unreadable:
        raise UserError(f"{printable(unreadable[0])!r} is {NOT_A_URL}.")

    def show(live: LiveRules) -> None:
        for url in args.urls:
            out.print(f"  {url}: {explain(live.rules.matcher.decide(url))}", markup=False)

    def on_reload(outcome: ReloadOutcome) -> None:
        if outcome.config_problem:
            err.print(f"candor: {outcome.config_problem}", markup=False)
        if not outcome.applied:
            err.print(f"candor: {outcome.reason}", markup=False)
            return
        for change in outcome.changes:
            out.print(
                f"Rules changed in {change.category}: {describe_change(change)}", markup=False
            )
        show(live)

    # Watching starts before the first load, so an edit in between is not missed.
    watcher = RulesWatcher(home, lambda: live.reload())
    watcher.start(held=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        live = LiveRules(home, on_reload=on_reload)
        out.print("Current decisions (edit your rules; Ctrl-C to stop):")
        show(live)
        watcher.release(live.reload_if_changed)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    return 0
