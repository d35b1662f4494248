"""`candor install` and `candor uninstall`: print the plan in plain words, then carry it out.

Uninstall first tells the partner (the person agreed to this at setup). If the notice cannot be
sent, nothing is removed until the person retries or says to go ahead without it. With
`--without-notice` (for scripts) the signed notice is still queued and tried once, briefly, and
it tells the partner that the person chose not to wait for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from agent.cli.console import UserError, err, out, usable_settings
from agent.config import Home
from agent.config.home import HOME_ENV, SYSTEM_HOME, SYSTEM_HOME_MARKER, system_home
from agent.proxy.ca import ensure_ca, remove_ca
from installers.browsers import FIREFOX_POLICIES_MACOS
from installers.executor import Executor, StepFailed, admin_method, admin_prefix
from installers.plan import Plan
from installers.platforms import linux, linux_system, macos, windows
from installers.platforms.linux_nftables import RulesetError
from installers.printer import format_plan, format_undo
from installers.record import load_record, record_path
from installers.settings import StepCommandFailed
from installers.target import Target, current_target

Notifier = Callable[[Home], bool]
"""Sends the partner the signed "Candor was uninstalled" notice; True once it is delivered."""

NOTICE_ONCE_TIMEOUT = 10.0
"""Seconds `--without-notice` gives its one try at each channel."""


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """Adds the options of `candor install` or `candor uninstall`."""
    _common(parser)
    if name == "install":
        parser.add_argument(
            "--os",
            choices=("linux", "macos", "windows"),
            help="with --dry-run: show the plan for another system",
        )
        parser.add_argument(
            "--lan",
            metavar="CIDR",
            action="append",
            default=[],
            help="with --system: a local network range left alone, e.g. 192.168.1.0/24 (repeat)",
        )
        parser.set_defaults(handler=cmd_install)
        return
    parser.add_argument(
        "--remove-home",
        action="store_true",
        help="with --system: also delete the system home, its journal included",
    )
    parser.add_argument(
        "--without-notice",
        action="store_true",
        help="do not wait for your partner to be told: the notice is still tried once and says so",
    )
    parser.set_defaults(handler=cmd_uninstall)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--root", type=Path, help="put system paths under DIR (for tests; use with HOME and XDG_*)"
    )
    parser.add_argument(
        "--system",
        action="store_true",
        help="Linux, as root: filter every user of this computer (docs/capture.md, system mode)",
    )


# --- install ----------------------------------------------------------------------------------


def cmd_install(home: Home, args: argparse.Namespace) -> int:
    """`candor install`: print the plan in plain words, then carry it out (or only print it)."""
    system = args.os or this_os()
    if args.system and system == "linux":
        return install_system(home, args)
    home.ensure()
    _refuse_other_mode(home, "system" if args.system else "user")
    if system != this_os() and not args.dry_run:
        raise UserError(f"A {system} plan can only be shown here: add --dry-run.")
    ensure_ca(home, usable_settings(home).device.name)
    target = current_target(home, usable_settings(home), root=_root(args))
    plan = build_plan(target, system, system_wide=args.system)
    admin = admin_prefix(target.relocated)
    out.print(format_plan(plan, admin_method(admin)), markup=False)
    if args.dry_run:
        return 0
    carry_out(home, plan, admin, "candor install", "candor uninstall")
    out.print("Candor is installed. Restart your browsers so they pick up the changes.")
    return 0


def carry_out(home: Home, plan: Plan, admin: tuple[str, ...], again: str, undo: str) -> None:
    """Ask for administrator rights once, then apply the plan; a failed step is one sentence."""
    executor = Executor(home, admin=admin, log=lambda line: out.print(line, markup=False))
    try:
        executor.authorise(plan)
    except StepCommandFailed as exc:
        raise UserError(str(exc)) from None
    try:
        executor.install(plan)
    except StepFailed as exc:
        raise UserError(
            f"Install stopped at “{exc.step.summary}”: {exc.reason}. The steps before it are in "
            f"place and listed in {record_path(home)}; fix the problem and run `{again}` "
            f"again, or run `{undo}` to undo them."
        ) from None


def install_system(home: Home, args: argparse.Namespace) -> int:
    """`candor install --system`: Candor as a system service filtering every user (Linux)."""
    _system_preconditions()
    root = _root(args)
    home = system_home_for(args, root, home)
    home.ensure()
    _refuse_other_mode(home, "system")
    ensure_ca(home, usable_settings(home).device.name)
    target = current_target(home, usable_settings(home), root=root)
    try:
        plan = linux_system.build(target, linux_system.detect(target), args.lan)
    except RulesetError as exc:
        raise UserError(f"--lan: {exc}.") from None
    out.print(format_plan(plan, admin_method(())), markup=False)
    if args.dry_run:
        return 0
    carry_out(home, plan, (), "candor install --system", "candor uninstall --system")
    out.print(
        f"Candor filters every user of this computer; its home is {home.root}. Add the people "
        f"who may run `candor` here to the group {linux_system.ADMIN_GROUP}. Restart your "
        "browsers so they pick up the certificate."
    )
    return 0


def _system_preconditions() -> None:
    if this_os() != "linux":
        raise UserError("`candor install --system` is for Linux; elsewhere use `candor install`.")
    if os.geteuid() != 0:
        raise UserError(
            "`--system` changes the whole computer: run it as root "
            "(sudo candor install --system, or sudo candor uninstall --system)."
        )


def system_home_for(args: argparse.Namespace, root: Path | PurePosixPath, home: Home) -> Home:
    """The system home: `--home` or CANDOR_HOME when given, else the one the marker under
    `root` names, else /var/lib/candor under `root`."""
    if args.home or os.environ.get(HOME_ENV):
        return home
    marked = system_home(Path(root) / str(SYSTEM_HOME_MARKER).lstrip("/"))
    return Home.at(marked or Path(root) / str(SYSTEM_HOME).lstrip("/"))


def _refuse_other_mode(home: Home, mode: str) -> None:
    """One home holds one install: the per-user one or the system one, never both."""
    try:
        record = load_record(home)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if record is None or record.mode == mode:
        return
    if record.mode == "system":
        raise UserError(
            f"{home.root} holds the system install: run `candor install --system` or "
            "`candor uninstall --system` as root, or give another home with --home."
        )
    raise UserError(
        f"{home.root} holds a per-user install: run `candor uninstall` first, or give the "
        "system install another home with --home."
    )


def build_plan(target: Target, system: str, *, system_wide: bool = False) -> Plan:
    """The plan for `system` on this target: detected on Linux, from the environment elsewhere;
    `system_wide`: mitmproxy's local capture of every program on macOS and Windows."""
    if system_wide and system == "macos":
        return macos.build_system(target)
    if system_wide and system == "windows":
        return windows.build_system(target)
    if system == "linux":
        return linux.build(target, linux.detect(target))
    if system == "macos":
        app = Path(target.system(FIREFOX_POLICIES_MACOS)).parents[2]
        return macos.build(
            target, uid=os.getuid() if hasattr(os, "getuid") else 501, firefox=app.exists()
        )
    user = os.environ.get("USERNAME", "user")
    domain = os.environ.get("USERDOMAIN")
    return windows.build(target, user=f"{domain}\\{user}" if domain else user)


def this_os() -> str:
    """The system this computer runs, as the plan builders name it."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


def _root(args: argparse.Namespace) -> PurePosixPath | Path:
    return args.root.resolve() if args.root else PurePosixPath("/")


# --- uninstall --------------------------------------------------------------------------------


def cmd_uninstall(home: Home, args: argparse.Namespace) -> int:
    """`candor uninstall`: tell the partner, then put everything back as it was."""
    if args.system:
        _system_preconditions()
        home = system_home_for(args, _root(args), home)
    else:
        home.ensure()
    done = uninstall(
        home, args, notify=default_notifier(), notify_once=default_notifier(waited=False)
    )
    if done == 0 and args.system and args.remove_home and not args.dry_run:
        shutil.rmtree(home.root, ignore_errors=True)
        out.print(f"The system home {home.root} and its journal are deleted.", markup=False)
    return done


def uninstall(
    home: Home,
    args: argparse.Namespace,
    *,
    notify: Notifier | None,
    notify_once: Notifier | None = None,
) -> int:
    """Undo the install record's steps; `notify` tells the partner first (None: nobody to tell),
    or with `--without-notice`, `notify_once` tries once without waiting."""
    try:
        record = load_record(home)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if record is None:
        out.print(f"Candor is not installed from this home (no {record_path(home)}).", markup=False)
        return 0
    _refuse_other_mode(home, "system" if getattr(args, "system", False) else "user")
    relocated = record.root != "/"
    admin = admin_prefix(relocated)
    steps = [step for step, _, _ in record.steps()]
    out.print(format_undo(steps, admin_method(admin)), markup=False)
    if args.dry_run:
        return 0
    if args.without_notice:
        _tell_partner_once(home, notify_once)
    else:
        _tell_partner(home, notify, notify_once)
    try:
        warnings = Executor(
            home, admin=admin, log=lambda line: out.print(line, markup=False)
        ).uninstall()
    except StepFailed as exc:
        raise UserError(
            f"Uninstall stopped at “{exc.step.summary}”: {exc.reason}. What is still in place "
            f"is listed in {record_path(home)}; fix the problem and run `candor uninstall` again."
        ) from None
    for warning in warnings:
        err.print(f"note: {warning}", markup=False)
    remove_ca(home)
    out.print(
        "Candor is uninstalled, and its certificate and private key are deleted. Your history is "
        f"still in {home.root}; delete that folder if you do not want to keep it. "
        "Restart your browsers."
    )
    return 0


def _tell_partner(home: Home, notify: Notifier | None, notify_once: Notifier | None) -> None:
    from reporter.notice import has_partner_to_tell

    if not has_partner_to_tell(home, "uninstalled"):
        out.print(
            "No partner has confirmed reports from this computer, so there is no one to tell."
        )
        return
    while True:
        delivered = False
        if notify is not None:
            try:
                delivered = notify(home)
            except Exception as exc:  # any delivery failure is the same question to the person
                err.print(f"candor: the notice could not be sent ({exc}).", markup=False)
        if delivered:
            out.print("Your partner has been told that Candor is being uninstalled.")
            return
        message = (
            "Your partner could not be told that Candor is being uninstalled. "
            "If you go on, they will simply see the reports stop."
        )
        if not sys.stdin.isatty():
            raise UserError(
                f"{message} Run `candor uninstall` again to retry, or "
                "`candor uninstall --without-notice` to remove Candor without telling them."
            )
        err.print(message, markup=False)
        answer = input("Retry sending [r], remove without the notice [y], or stop [n]? ").strip()
        if answer.lower().startswith("y"):  # as --without-notice: queued, tried once, said
            _tell_partner_once(home, notify_once)
            return
        if not answer.lower().startswith("r"):
            raise UserError("Nothing was removed.")


def _tell_partner_once(home: Home, notify: Notifier | None) -> None:
    """`--without-notice`: the notice is still queued and tried once; nothing waits on it."""
    from reporter.notice import has_partner_to_tell

    if notify is None or not has_partner_to_tell(home, "uninstalled"):
        return
    try:
        delivered = notify(home)
    except Exception as exc:  # going on regardless is what the person asked for
        err.print(f"candor: the notice could not be sent ({exc}).", markup=False)
        delivered = False
    if delivered:
        out.print(
            "Your partner has been told that Candor is being uninstalled, and that you chose "
            "not to wait for the notice."
        )
        return
    from reporter.delivery.sender import pending_notices

    kept = f" The signed notice stays queued in {home.root}." if pending_notices(home) else ""
    out.print(
        f"Your partner could not be told now.{kept} They will see the reports stop.",
        markup=False,
    )


def default_notifier(*, waited: bool = True) -> Notifier | None:
    """The reporter's notice sender, once it offers one (`reporter.delivery.sender.send_notice`);
    `waited=False`: one short try, the notice kept queued and saying the person did not wait."""
    try:
        from reporter.delivery.sender import send_notice
    except ImportError:
        return None
    if waited:
        return lambda home: bool(send_notice(home, "uninstalled"))
    return lambda home: bool(
        send_notice(
            home, "uninstalled", queue_failed=True, timeout=NOTICE_ONCE_TIMEOUT, waited=False
        )
    )
