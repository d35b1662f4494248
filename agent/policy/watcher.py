"""Hot reload: an edit to a rules file, an imported list or the config goes live without a restart.

Editors save in bursts (write a temp file, rename it over the original, touch a backup), so
events are debounced and the whole rulebook is rebuilt once the burst is over. A reload that
would read a broken file keeps the last good snapshot in force and says why: a half-typed line
must never silently drop the rules around it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent.config import ConfigError, Home

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3


class RulesWatcher(FileSystemEventHandler):
    """Calls `reload()` once after each burst of relevant file events.

    `reload` does the work (and its own error reporting); the watcher only decides when. It runs
    on a timer thread, never on the proxy's event loop.
    """

    def __init__(
        self,
        home: Home,
        reload: Callable[[], None],
        debounce: float = DEBOUNCE_SECONDS,
    ) -> None:
        self.home = home
        self._reload = reload
        self._debounce = debounce
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._observer = Observer()
        self._stopped = False
        self._held = False
        self.missed = False
        """An event came while held: `release` reloads once for it."""

    def start(self, *, held: bool = False) -> None:
        """Watch rules/, lists/ and config.toml (watchdog's own thread); every edit from now on is
        seen. `held`: start before the first load, and reload only once `release` is called."""
        self._held = held
        self.home.rules_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.lists_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._observer.schedule(self, str(self.home.rules_dir), recursive=False)
        self._observer.schedule(self, str(self.home.lists_dir), recursive=True)
        self._observer.schedule(self, str(self.home.root), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def release(self, recheck: Callable[[], object]) -> None:
        """Reload on events from now on. What changed while held is caught now: by one reload
        if an event came, else by `recheck` (which compares the files with what was loaded,
        for an event still on its way)."""
        with self._lock:
            self._held = False
            missed, self.missed = self.missed, False
        self._run(self._reload if missed else recheck)

    def stop(self) -> None:
        """Stop watching; a pending reload is cancelled."""
        with self._lock:
            self._stopped = True
            if self._timer:
                self._timer.cancel()
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        if not any(p and self.is_relevant(Path(str(p))) for p in paths):
            return
        with self._lock:
            if self._stopped:
                return
            if self._timer:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def is_relevant(self, path: Path) -> bool:
        """Rules files, imported lists and config.toml; not caches, temp or backup files."""
        try:
            rel = path.relative_to(self.home.root)
        except ValueError:
            return False
        parts = rel.parts
        if not parts or any(p.startswith(".") for p in parts) or parts[-1].endswith("~"):
            return False
        if parts == ("config.toml",):
            return True
        if parts[0] == self.home.rules_dir.name:
            return (len(parts) == 2 and parts[1].endswith(".txt")) or len(parts) == 1
        return parts[0] == self.home.lists_dir.name and not parts[-1].endswith(".tmp")

    def _fire(self) -> None:
        with self._lock:
            if self._held:
                self.missed = True
                return
        self._run(self._reload)

    @staticmethod
    def _run(reload: Callable[[], object]) -> None:
        try:
            reload()
        except ConfigError as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("reloading the rules failed; the last good rules stay in force")
