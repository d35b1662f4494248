"""Install plans as data: what to change, how to undo it, and whether it needs an administrator.

A plan is built purely from the config, the home and a root, so it can be printed, compared with
a snapshot and inspected before anything happens. Only `installers.executor` touches the system.
The same steps are stored in the install record, so an uninstall undoes what was really done even
if the config changed since.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

Argv = tuple[str, ...]

NICKNAME = "Candor local CA"
"""The name the CA carries in every store that names certificates."""


@dataclass(frozen=True, slots=True)
class WriteFile:
    """Write a file whole; undo puts back what was there before, or removes it."""

    path: PurePath
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class MergeJson:
    """Set some top-level keys of a JSON object under `section`, leaving the others alone.

    For files other programs share, such as Firefox's `policies.json`: undo restores each key's
    previous value, or removes it, and removes the file only if Candor created it.
    """

    path: PurePath
    section: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AddBlock:
    """Add a marked block of lines to a file the person owns (a shell profile).

    Undo takes out exactly that block, so the file is as it was, whatever else changed in it.
    """

    path: PurePath
    text: str


BLOCK_START = "# >>> candor >>>\n"
BLOCK_END = "# <<< candor <<<\n"


@dataclass(frozen=True, slots=True)
class Run:
    """Run a command; undo runs its own commands. Either side may be empty."""

    argv: Argv | None
    undo: tuple[Argv, ...] = ()
    check: bool = True
    """False: a failure is expected sometimes (stopping what is not running) and is ignored."""


@dataclass(frozen=True, slots=True)
class Setting:
    """Change one setting in a settings store, remembering its previous value for undo.

    `store` names the backend in `installers.settings`. `file` is the file that backs the store
    when it is a plain file (KDE, GLib's keyfile backend): if Candor created it, undo removes it.
    """

    store: str
    key: tuple[str, ...]
    value: str
    file: PurePath | None = None


@dataclass(frozen=True, slots=True)
class NssTrust:
    """Trust the CA in one NSS database (Chromium-family browsers on Linux)."""

    db: PurePath
    nickname: str
    cert: bytes


@dataclass(frozen=True, slots=True)
class Link:
    """Make `path` a symbolic link to `target` (text as written, often relative).

    For files the system owns and may hold either way, such as /etc/resolv.conf: undo puts back
    exactly what was there, a link with its text or a file with its bytes and mode, or nothing.
    """

    path: PurePath
    target: str


Action = WriteFile | MergeJson | AddBlock | Run | Setting | NssTrust | Link


@dataclass(frozen=True, slots=True)
class Step:
    """One change, with what it is for in words, so it can be printed, recorded and undone."""

    id: str
    """Stable across runs: the install record matches steps by it."""
    summary: str
    action: Action
    admin: bool = False
    group: str = ""
    """What the step is for: service, trust, browsers, proxy."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything an install changes on one system, built before anything changes."""

    os: str
    root: PurePath
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    proxy: str = ""
    """host:port of the agent the plan points everything at."""
    trust_bundle: PurePath | None = None
    """The system CA bundle the plan adds the CA to, if the OS has one file for it."""
    ca_sha256: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    mode: str = "user"
    """"user": the per-user install; "system": `candor install --system` (every user)."""


# --- to and from the install record -----------------------------------------------------------


def _path_kind(os_name: str) -> type[PurePath]:
    return PureWindowsPath if os_name == "windows" else PurePosixPath


def action_to_json(action: Action) -> dict[str, Any]:
    """An action as the install record stores it."""
    match action:
        case WriteFile(path, data, mode):
            return {"type": "write_file", "path": str(path), "mode": mode, "data": _b64(data)}
        case MergeJson(path, section, values):
            return {"type": "merge_json", "path": str(path), "section": section, "values": values}
        case AddBlock(path, text):
            return {"type": "add_block", "path": str(path), "text": text}
        case Run(argv, undo, check):
            return {
                "type": "run",
                "argv": list(argv) if argv is not None else None,
                "undo": [list(a) for a in undo],
                "check": check,
            }
        case Setting(store, key, value, file):
            return {
                "type": "setting",
                "store": store,
                "key": list(key),
                "value": value,
                "file": str(file) if file is not None else None,
            }
        case NssTrust(db, nickname, cert):
            return {"type": "nss", "db": str(db), "nickname": nickname, "cert": _b64(cert)}
        case Link(path, target):
            return {"type": "link", "path": str(path), "target": target}
    raise TypeError(f"not an install action: {action!r}")


def action_from_json(data: dict[str, Any], os_name: str) -> Action:
    """An action back from the install record, with paths of the system it was made for."""
    p = _path_kind(os_name)
    match data["type"]:
        case "write_file":
            return WriteFile(p(data["path"]), _unb64(data["data"]), int(data["mode"]))
        case "merge_json":
            return MergeJson(p(data["path"]), data["section"], dict(data["values"]))
        case "add_block":
            return AddBlock(p(data["path"]), data["text"])
        case "run":
            argv = tuple(data["argv"]) if data["argv"] is not None else None
            undo = tuple(tuple(a) for a in data["undo"])
            return Run(argv, undo, bool(data.get("check", True)))
        case "setting":
            file = p(data["file"]) if data.get("file") else None
            return Setting(data["store"], tuple(data["key"]), data["value"], file)
        case "nss":
            return NssTrust(p(data["db"]), data["nickname"], _unb64(data["cert"]))
        case "link":
            return Link(p(data["path"]), data["target"])
    raise ValueError(f"unknown install action type {data['type']!r}")


def step_to_json(step: Step) -> dict[str, Any]:
    """A step as the install record stores it."""
    return {
        "id": step.id,
        "summary": step.summary,
        "admin": step.admin,
        "group": step.group,
        "action": action_to_json(step.action),
    }


def step_from_json(data: dict[str, Any], os_name: str) -> Step:
    """A step back from the install record, so uninstall undoes what was really done."""
    return Step(
        id=data["id"],
        summary=data["summary"],
        action=action_from_json(data["action"], os_name),
        admin=bool(data["admin"]),
        group=data.get("group", ""),
    )


def canonical_json(value: Any) -> bytes:
    """Stable bytes for files Candor writes (policies): sorted keys, two-space indent."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))
