"""Plans in plain words, stable enough to compare with a snapshot.

Every step says what it is for, whether it needs an administrator, and the exact file or command
behind it, so a careful person (or their partner) can check what `candor install` will do.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from installers.plan import (
    AddBlock,
    Link,
    MergeJson,
    NssTrust,
    Plan,
    Run,
    Setting,
    Step,
    WriteFile,
)
from installers.settings import store_for

OS_NAMES = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}


def format_plan(plan: Plan, admin_method: str = "through sudo") -> str:
    """The install plan in plain words, printed before anything changes."""
    lines = [f"Candor install plan for {OS_NAMES.get(plan.os, plan.os)}"]
    lines.append(f"Proxy: {plan.proxy}. Steps marked [admin] run {admin_method}.")
    lines.append("")
    lines += _steps(plan.steps, undo=False)
    if plan.notes:
        lines.append("")
        lines += [f"Note: {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def format_undo(steps: Iterable[Step], admin_method: str = "through sudo") -> str:
    """The uninstall plan in plain words: the recorded steps, last first."""
    lines = ["Candor uninstall plan: every change is undone, last first"]
    lines.append(f"Steps marked [admin] run {admin_method}.")
    lines.append("")
    lines += _steps(list(reversed(list(steps))), undo=True)
    return "\n".join(lines) + "\n"


def _steps(steps: Iterable[Step], *, undo: bool) -> list[str]:
    lines = []
    for n, step in enumerate(steps, 1):
        mark = "[admin] " if step.admin else ""
        lines.append(f"{n:2}. {mark}{step.summary}")
        lines += [f"      {detail}" for detail in (_undo_detail if undo else _detail)(step)]
    return lines


def _detail(step: Step) -> list[str]:
    match step.action:
        case WriteFile(path, data, mode):
            return [f"write {path} (mode {mode:04o}, {len(data)} bytes)"]
        case MergeJson(path, section, values):
            return [f"set {section}.{key} in {path}" for key in values]
        case AddBlock(path, text):
            return [f"add a marked block of {len(text.splitlines())} lines to {path}"]
        case Run(argv, undo):
            out = [f"run: {_cmd(argv)}"] if argv is not None else ["nothing now"]
            return out + [f"undo: {_cmd(a)}" for a in undo]
        case Setting(store, _, _, _):
            return [f"run: {_cmd(store_for(store).argv(step.action))}"]
        case NssTrust(db, nickname, _):
            return [f'run: certutil -A -d sql:{db} -t "C,," -n "{nickname}" -i <certificate>']
        case Link(path, target):
            return [f"make {path} a link to {target} (what is there now is kept for undo)"]
    return []


def _undo_detail(step: Step) -> list[str]:
    match step.action:
        case WriteFile(path):
            return [f"restore or remove {path}"]
        case MergeJson(path, section, values):
            return [f"restore {section}.{key} in {path}" for key in values]
        case AddBlock(path):
            return [f"take Candor's block out of {path}"]
        case Run(_, undo):
            return [f"run: {_cmd(a)}" for a in undo] or ["nothing to undo"]
        case Setting():
            return ["put back the previous value"]
        case NssTrust(db, nickname, _):
            return [f'run: certutil -D -d sql:{db} -n "{nickname}"']
        case Link(path):
            return [f"put back {path} exactly as it was (link, file or nothing)"]
    return []


def command_text(argv: Iterable[str]) -> str:
    """A command as the plan prints it, quoted for a shell, for notes that name one."""
    return _cmd(argv)


def _cmd(argv: Iterable[str]) -> str:
    return " ".join(_quote(a) for a in argv)


def _quote(arg: str) -> str:
    if arg == "{service}":
        return arg
    if "'" in arg and not any(c in arg for c in '"$`\\'):
        return f'"{arg}"'
    return shlex.quote(arg)
