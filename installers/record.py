"""The install record, `state/install.json` under the home: what an install changed and what was
there before.

The executor writes it before and after every step; `candor uninstall` undoes what it lists, and
the self-check verifies what it lists, so both follow what was really done, not the current config.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Home
from installers.plan import Step, step_from_json

RECORD_FILE = "install.json"
RECORD_VERSION = 1


def record_path(home: Home) -> Path:
    """Where this home's install record lives, so every reader and writer agrees."""
    return home.state_dir / RECORD_FILE


@dataclass
class Record:
    """What an install changed, with what was there before: the input of every uninstall."""

    os: str
    root: str
    proxy: str = ""
    trust_bundle: str | None = None
    ca_sha256: str = ""
    mode: str = "user"
    """"user" or "system" (`candor install --system`), so checks know which install this is."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    """{"step": <step JSON>, "prior": {...}, "state": "started" | "applied"}, in apply order."""

    def steps(self) -> list[tuple[Step, dict[str, Any], str]]:
        """Each recorded step with its prior state and progress, for undo and the self-check."""
        return [(step_from_json(e["step"], self.os), e["prior"], e["state"]) for e in self.entries]

    def find(self, step_id: str) -> dict[str, Any] | None:
        """The entry of a step by id, so a re-install keeps the priors of the first install."""
        return next((e for e in self.entries if e["step"]["id"] == step_id), None)

    def to_json(self) -> dict[str, Any]:
        """The record as written to `install.json`."""
        return {
            "version": RECORD_VERSION,
            "os": self.os,
            "root": self.root,
            "proxy": self.proxy,
            "trust_bundle": self.trust_bundle,
            "ca_sha256": self.ca_sha256,
            "mode": self.mode,
            "steps": self.entries,
        }


def load_record(home: Home) -> Record | None:
    """This home's install record; None when nothing is installed, ValueError when unreadable."""
    try:
        data = json.loads(record_path(home).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{record_path(home)}: the install record cannot be read ({exc})"
        ) from None
    return Record(
        os=data["os"],
        root=data["root"],
        proxy=data.get("proxy", ""),
        trust_bundle=data.get("trust_bundle"),
        ca_sha256=data.get("ca_sha256", ""),
        mode=data.get("mode", "user"),
        entries=list(data["steps"]),
    )


def save_record(home: Home, record: Record) -> None:
    """Replace the record atomically, so a power cut leaves the old or the new one, never half."""
    path = record_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record.to_json(), f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
