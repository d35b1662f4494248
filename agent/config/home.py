"""Where Candor keeps its state: one home folder, every path in it, and the starter lists."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.config.errors import ConfigError
from agent.config.files import create_once, write_atomic

APP_NAME = "candor"
HOME_ENV = "CANDOR_HOME"
STARTER_CATEGORIES: tuple[str, ...] = ("adult", "gambling", "bypass")
"""The starter lists in `rules/starter/` (tests/test_config.py checks that they match)."""
STARTERS_STATE = "starter-lists.json"
"""Under `state/`: which starter lists this home has already been given."""

SYSTEM_HOME = Path("/var/lib/candor")
"""The system home of `candor install --system` (group candor-admin, mode 2770)."""
SYSTEM_HOME_MARKER = Path("/etc/candor/system-home")
"""Written by `candor install --system`: the system home's path, so `candor` finds it."""
SHARED_FOLDER_MODE = 0o2770
"""A home with the setgid bit is shared with its group (the system home): it stays 2770."""

_CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def home_path(
    explicit: str | os.PathLike[str] | None = None, marker: Path = SYSTEM_HOME_MARKER
) -> Path:
    """`--home DIR`, else `$CANDOR_HOME`, else the system home when `candor install --system`
    left its marker, else the per-user data folder (absolute, not created)."""
    chosen = explicit if explicit not in (None, "") else os.environ.get(HOME_ENV) or None
    if chosen is None:
        chosen = system_home(marker)
    if chosen is None:
        import platformdirs  # only for the default home: `--home` and CANDOR_HOME skip it

        return platformdirs.user_data_path(APP_NAME, appauthor=False)
    return Path(os.path.abspath(os.path.expanduser(os.fspath(chosen))))


def system_home(marker: Path = SYSTEM_HOME_MARKER) -> Path | None:
    """The system home the marker names, when the system service is installed; else None."""
    try:
        line = marker.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(line) if line.startswith("/") else None


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Home:
    """The home named by `--home`, `$CANDOR_HOME` or the platform default; see `home_path`."""
    return Home.at(home_path(explicit))


@dataclass(frozen=True, slots=True)
class Home:
    """Every path Candor uses, derived from one root so tests can point it at a temp folder."""

    root: Path
    config_file: Path
    rules_dir: Path
    lists_dir: Path
    list_cache_dir: Path
    journal_file: Path
    keys_dir: Path
    confdir: Path
    """mitmproxy's folder: the CA lives here."""
    pid_file: Path
    state_dir: Path
    """Internal state that is not the person's to edit (last applied rule set, starters given)."""

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Home:
        """Every path under `root` (nothing is created)."""
        root = Path(root)
        return cls(
            root=root,
            config_file=root / "config.toml",
            rules_dir=root / "rules",
            lists_dir=root / "lists",
            list_cache_dir=root / "lists" / ".cache",
            journal_file=root / "journal.sqlite",
            keys_dir=root / "keys",
            confdir=root / "mitmproxy",
            pid_file=root / "agent.pid",
            state_dir=root / "state",
        )

    def is_shared(self) -> bool:
        """Whether the home is shared with its group (the system home: setgid)."""
        try:
            return bool(self.root.stat().st_mode & stat.S_ISGID)
        except OSError:
            return False

    def ensure(self) -> None:
        """Create the home (0700) and its folders, and give a new home the starter lists.

        Safe to call on every start: existing files are never touched, and a starter list is
        offered once per home, so a category file the person deleted stays deleted. Raises
        `ConfigError` when the home cannot be created or written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shared = bool(self.root.stat().st_mode & stat.S_ISGID)
            folder_mode = SHARED_FOLDER_MODE if shared else 0o700
            _set_mode(self.root, folder_mode)
            for folder in (self.rules_dir, self.lists_dir, self.list_cache_dir, self.state_dir):
                folder.mkdir(mode=0o700, exist_ok=True)
                if shared:
                    _set_mode(folder, folder_mode)
            for secret in (self.keys_dir, self.confdir):
                secret.mkdir(mode=0o700, exist_ok=True)
                _set_mode(secret, 0o700)
            self._offer_starters()
        except OSError as exc:
            where = exc.filename or self.root
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"{where}: cannot set up the Candor home ({reason}).") from None

    def _offer_starters(self) -> None:
        marker = self.state_dir / STARTERS_STATE
        try:
            offered = set(json.loads(marker.read_text("utf-8"))["offered"])
        except (OSError, ValueError, KeyError, TypeError):
            # No record yet, or an unreadable one: offering again is safe, since an existing
            # rules file is never replaced.
            offered = set()
        # The names, not the package data, so a home that has every starter reads none of it.
        new = [name for name in sorted(STARTER_CATEGORIES) if name not in offered]
        if not new:
            return
        for name in new:
            create_once(self.rules_dir / f"{name}.txt", starter_text(name))
        record = {
            "offered": sorted(offered | set(new)),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_atomic(marker, json.dumps(record, indent=2) + "\n")


def _set_mode(folder: Path, mode: int) -> None:
    """chmod only when needed: in the shared system home a member of its group may not own it."""
    if stat.S_IMODE(folder.stat().st_mode) != mode:
        os.chmod(folder, mode)


def starter_categories() -> tuple[str, ...]:
    """The categories Candor ships a starter list for (package data in `rules/starter/`)."""
    from importlib import resources

    folder = resources.files("rules.starter")
    found = {p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt")}
    return tuple(sorted(found))


def starter_text(category: str) -> str:
    """The starter list of `category`, as shipped."""
    from importlib import resources

    return resources.files("rules.starter").joinpath(f"{category}.txt").read_text("utf-8")


def is_category_name(name: str) -> bool:
    """Category names are file names too: lower-case letters, digits, `-` and `_`."""
    return _CATEGORY_NAME.fullmatch(name) is not None
