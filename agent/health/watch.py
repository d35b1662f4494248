"""Watch, don't poll: a change to what the self-check verifies triggers a check within seconds.

Files (browser policies, trust stores, KDE's `kioslaverc`, the install record itself) are watched
through watchdog; settings that live behind a service (GNOME's, through `gsettings monitor
SCHEMA`) through a child process whose every output line is a change. What to watch is handed
in by the composition root and read again whenever the install record changes. Anything that
cannot be watched here is left to the periodic check, which always runs.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5
"""A burst of changes (gsettings writes five keys, an installer replaces a file) is one check."""
MIN_GAP_SECONDS = 2.0
"""At most one check this often, however busy a watched file is."""


class WatchTargets(Protocol):
    """What to watch (the installers' `WatchList` is one): files, monitor commands, and the files
    whose change means the list itself may have changed (the install record)."""

    @property
    def files(self) -> tuple[Path, ...]:
        """Files whose change triggers a check."""
        ...

    @property
    def monitors(self) -> tuple[tuple[str, ...], ...]:
        """Commands that print a line per change."""
        ...

    @property
    def refresh_on(self) -> tuple[Path, ...]:
        """Files whose change means `Targets` is asked again."""
        ...


@dataclass(frozen=True, slots=True)
class Watched:
    """A plain `WatchTargets`: nothing, until something is listed."""

    files: tuple[Path, ...] = ()
    monitors: tuple[tuple[str, ...], ...] = ()
    refresh_on: tuple[Path, ...] = ()


Targets = Callable[[], WatchTargets]
"""Returns what to watch now; called at start and after a change to a `refresh_on` file."""


class ChangeWatch:
    """Calls `on_change()` once after each burst of changes to what `targets()` names."""

    def __init__(
        self,
        targets: Targets,
        on_change: Callable[[], None],
        settle: float = SETTLE_SECONDS,
        min_gap: float = MIN_GAP_SECONDS,
    ) -> None:
        self._targets = targets
        self._on_change = on_change
        self._settle = settle
        self._min_gap = min_gap
        self._last_fire = -min_gap
        self._lock = threading.Lock()
        self._schedule_lock = threading.Lock()
        """Held around watchdog's schedule calls, never with `_lock`: watchdog holds its own lock
        while it calls `dispatch`, which takes `_lock`."""
        self._watched: WatchTargets = Watched()
        self._files: frozenset[str] = frozenset()
        self._refresh_on: frozenset[str] = frozenset()
        self._above: frozenset[str] = frozenset()
        """Folders above the watched files: one created or removed moves what must be watched."""
        self._observer: Any = None
        self._folders: dict[str, Any] = {}
        """Folder -> watchdog's handle for it."""
        self._monitors: dict[tuple[str, ...], Monitor] = {}
        self._timer: threading.Timer | None = None
        self._refresh_due = False
        self._stopped = False

    @property
    def watching(self) -> WatchTargets:
        """What is watched now."""
        return self._watched

    def start(self) -> None:
        """Start watching (watchdog's thread, one reader thread per monitor)."""
        try:
            from watchdog.observers import Observer

            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        except Exception as exc:  # no inotify (limits, platform): the periodic check remains
            log.warning("file changes cannot be watched (%s); checking every few minutes", exc)
            self._observer = None
        self._apply(self._read_targets())

    def stop(self) -> None:
        """Stop watching: cancel a pending check, end the monitors, join the threads."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
            monitors, self._monitors = self._monitors, {}
        for monitor in monitors.values():
            monitor.end()
        if self._observer is not None:
            with self._schedule_lock:
                self._observer.stop()
            if self._observer.is_alive():
                self._observer.join(timeout=5)

    def changed(self, path: str | None = None) -> None:
        """Something changed (`path`, if a file): check once, soon after a burst's first change."""
        with self._lock:
            if self._stopped:
                return
            if path is not None and path in self._refresh_on:
                self._refresh_due = True
            if self._timer is None:
                wait = max(self._settle, self._last_fire + self._min_gap - time.monotonic())
                self._timer = threading.Timer(wait, self._fire)
                self._timer.daemon = True
                self._timer.start()

    def dispatch(self, event: Any) -> None:
        """watchdog's entry point: a file event in a watched folder."""
        if event.event_type in ("opened", "closed_no_write"):
            return
        moved_folder = event.is_directory and event.event_type in ("created", "deleted", "moved")
        for path in (event.src_path, getattr(event, "dest_path", "") or ""):
            text = str(path)
            if text in self._files or text in self._refresh_on:
                self.changed(text)
                return
            if moved_folder and text in self._above:
                self.changed(text)
                return

    def _fire(self) -> None:
        with self._lock:
            refresh, self._refresh_due = self._refresh_due, False
            self._timer = None
            self._last_fire = time.monotonic()
            if self._stopped:
                return
        # Watched again every time: a folder created or removed changes which one can be watched.
        self._apply(self._read_targets() if refresh else self._watched)
        try:
            self._on_change()
        except Exception:  # a failing check must never stop the watching
            log.exception("the check after a change failed")

    def _read_targets(self) -> WatchTargets:
        try:
            return self._targets()
        except Exception as exc:  # an unreadable record: watch nothing until it changes
            log.warning("%s", exc)
            return Watched()

    def _apply(self, watched: WatchTargets) -> None:
        """Watch `watched` from now on: folders added and removed, monitors started and ended."""
        with self._lock:
            if self._stopped:
                return
            self._watched = watched
            self._files = frozenset(str(p) for p in watched.files)
            self._refresh_on = frozenset(str(p) for p in watched.refresh_on)
            files = (*watched.files, *watched.refresh_on)
            self._above = frozenset(str(folder) for path in files for folder in path.parents)
            old = [m for c, m in self._monitors.items() if c not in watched.monitors or m.ended]
            self._monitors = {c: m for c, m in self._monitors.items() if m not in old}
            for command in watched.monitors:
                if command not in self._monitors and (monitor := Monitor.start(command, self)):
                    self._monitors[command] = monitor
        for monitor in old:
            monitor.end()
        if self._observer is not None:
            self._schedule((*watched.files, *watched.refresh_on))

    def _schedule(self, files: Sequence[Path]) -> None:
        """Watch the folder of each file (the nearest one that exists): files get replaced."""
        wanted = {str(_existing_folder(path)) for path in files}
        with self._schedule_lock:
            if self._stopped:
                return
            for folder in set(self._folders) - wanted:
                with contextlib.suppress(KeyError, OSError):  # a removed folder's watch ended
                    self._observer.unschedule(self._folders.pop(folder))
            for folder in sorted(wanted - set(self._folders)):
                try:
                    self._folders[folder] = self._observer.schedule(self, folder, recursive=False)
                except OSError as exc:
                    log.warning(
                        "%s cannot be watched (%s); it is checked every few minutes", folder, exc
                    )


@dataclass(slots=True)
class Monitor:
    """A command that prints a line per change (`gsettings monitor SCHEMA`), and its reader."""

    process: subprocess.Popen[str]
    reader: threading.Thread

    @classmethod
    def start(cls, command: tuple[str, ...], watch: ChangeWatch) -> Monitor | None:
        """Run `command`; each line it prints is a change for `watch` (None if it cannot run)."""
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            return None

        def read() -> None:
            for _line in process.stdout or ():
                watch.changed()

        reader = threading.Thread(target=read, name="candor-watch-monitor", daemon=True)
        reader.start()
        return cls(process, reader)

    @property
    def ended(self) -> bool:
        """The command exited by itself (it is started again at the next change)."""
        return self.process.poll() is not None

    def end(self) -> None:
        """Stop the command, reap it, and let its reader finish."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _existing_folder(path: Path) -> Path:
    """The file's folder, or its nearest ancestor that exists (a folder may be deleted too)."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder
