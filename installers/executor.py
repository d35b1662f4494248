"""The one place that changes the system: runs a plan's steps, and undoes them from the record.

Before each step the executor writes down what was there (the previous file, the previous proxy
setting) in the install record under the home, and marks the step done after it. So whatever
happens (a refused password, a missing tool, a power cut) the record lists exactly what may have
changed, and `candor uninstall` can put it back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

from agent.config import Home
from installers.plan import (
    BLOCK_END,
    BLOCK_START,
    AddBlock,
    Argv,
    Link,
    MergeJson,
    NssTrust,
    Plan,
    Run,
    Setting,
    Step,
    WriteFile,
    canonical_json,
    step_to_json,
)
from installers.record import Record, load_record, record_path, save_record
from installers.settings import StepCommandFailed, store_for, tidy_file
from installers.stores import NSS_FILES

Log = Callable[[str], None]


class StepFailed(Exception):
    """A step could not be applied or undone. The message says which and why."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(f"{step.summary}: {reason}")
        self.step = step
        self.reason = reason


def admin_prefix(relocated: bool) -> Argv:
    """How administrator steps run: directly as root (or in a relocated test root), else sudo,
    else pkexec."""
    if relocated or os.geteuid() == 0:
        return ()
    for tool in ("sudo", "pkexec"):
        if shutil.which(tool):
            return (tool,)
    return ("sudo",)


def admin_method(prefix: Argv) -> str:
    """How the plan's first line names the way administrator steps run."""
    return f"through {prefix[0]}" if prefix else "directly"


class Executor:
    """Carries out a plan step by step and undoes it from the record: the only side effects."""

    def __init__(self, home: Home, *, admin: Argv = (), log: Log = lambda _: None) -> None:
        self.home = home
        self.admin = admin
        self.log = log

    # -- install ---------------------------------------------------------------------------

    def install(self, plan: Plan) -> Record:
        """Apply every step in order; re-running is safe (priors from the first run are kept)."""
        record = load_record(self.home) or Record(os=plan.os, root=str(plan.root))
        record.proxy = plan.proxy
        record.trust_bundle = str(plan.trust_bundle) if plan.trust_bundle else None
        record.ca_sha256 = plan.ca_sha256
        record.mode = plan.mode
        for step in plan.steps:
            entry = record.find(step.id)
            if entry is None:
                prior = self._prior(step)
                entry = {"step": step_to_json(step), "prior": prior, "state": "started"}
                record.entries.append(entry)
            else:
                entry["step"] = step_to_json(step)
                entry["state"] = "started"
            save_record(self.home, record)
            self.log(f"• {step.summary}")
            self._guard(step, lambda step=step, entry=entry: self._apply(step, entry["prior"]))
            entry["state"] = "applied"
            save_record(self.home, record)
        return record

    # -- uninstall -------------------------------------------------------------------------

    def uninstall(self) -> list[str]:
        """Undo every recorded step, last first. Returns warnings (commands that failed but
        left nothing behind, such as stopping a service that was not running)."""
        record = load_record(self.home)
        if record is None:
            return []
        warnings: list[str] = []
        for step, prior, _state in reversed(record.steps()):
            self.log(f"• Undo: {step.summary}")
            self._guard(step, lambda step=step, prior=prior: self._undo(step, prior, warnings))
            record.entries = [e for e in record.entries if e["step"]["id"] != step.id]
            save_record(self.home, record)
        record_path(self.home).unlink(missing_ok=True)
        return warnings

    # -- one step --------------------------------------------------------------------------

    def _guard(self, step: Step, fn: Callable[[], None]) -> None:
        try:
            fn()
        except StepCommandFailed as exc:
            raise StepFailed(step, str(exc)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise StepFailed(step, f"{where}{(exc.strerror or str(exc)).lower()}") from None

    def _prior(self, step: Step) -> dict[str, Any]:
        match step.action:
            case WriteFile(path):
                p = Path(path)
                if p.is_file():
                    return {
                        "existed": True,
                        "data": _b64(p.read_bytes()),
                        "mode": p.stat().st_mode & 0o7777,
                    }
                return {"existed": False, "dirs": _missing_dirs(p.parent)}
            case MergeJson(path, section, values):
                p = Path(path)
                if not p.is_file():
                    return {"existed": False, "dirs": _missing_dirs(p.parent)}
                current = _read_json(p).get(section, {})
                return {"existed": True, "had": {k: current[k] for k in values if k in current}}
            case AddBlock(path):
                p = Path(path)
                if not p.is_file():
                    return {"existed": False, "dirs": _missing_dirs(p.parent)}
                text = without_block(p.read_text("utf-8"))
                return {"existed": True, "newline": bool(text) and not text.endswith("\n")}
            case Setting(store, _, _, file):
                prior: dict[str, Any] = {}
                if file is not None:
                    prior["file_existed"] = Path(file).exists()
                    prior["dirs"] = _missing_dirs(Path(file).parent)
                prior.update(store_for(store).read(step.action, self._runner(step)))
                return prior
            case NssTrust(db, nickname):
                created = not (Path(db) / "cert9.db").exists()
                return {
                    "created_db": created,
                    "dirs": _missing_dirs(Path(db)) if created else [],
                    "had_nick": not created and self._nss_has(db, nickname),
                }
            case Link(path):
                return _prior_of_link(Path(path))
            case Run():
                return {}
        raise TypeError(step.action)

    def _apply(self, step: Step, prior: dict[str, Any]) -> None:
        admin = step.admin
        match step.action:
            case WriteFile(path, data, mode):
                self._write(Path(path), data, mode, admin)
            case MergeJson(path, section, values):
                p = Path(path)
                doc = _read_json(p) if p.is_file() else {}
                doc.setdefault(section, {}).update(values)
                mode = p.stat().st_mode & 0o7777 if p.is_file() else 0o644
                self._write(p, canonical_json(doc), mode, admin)
            case AddBlock(path, text):
                p = Path(path)
                current = without_block(p.read_text("utf-8")) if p.is_file() else ""
                if prior.get("newline") and current and not current.endswith("\n"):
                    current += "\n"
                mode = p.stat().st_mode & 0o7777 if p.is_file() else 0o644
                block = f"{BLOCK_START}{text.rstrip()}\n{BLOCK_END}"
                self._write(p, (current + block).encode(), mode, admin)
            case Run(argv, _, check):
                if argv is not None:
                    try:
                        self._run(argv, admin)
                    except StepCommandFailed:
                        if check:
                            raise
            case Setting(store):
                store_for(store).write(step.action, self._runner(step))
            case NssTrust(db, nickname, cert):
                self._nss_add(Path(db), nickname, cert)
            case Link(path, target):
                self._link(Path(path), target, admin)

    def _undo(self, step: Step, prior: dict[str, Any], warnings: list[str]) -> None:
        admin = step.admin
        match step.action:
            case WriteFile(path):
                self._undo_write_file(Path(path), prior, admin)
            case MergeJson(path, section, values):
                self._undo_merge_json(Path(path), section, values, prior, admin)
            case AddBlock(path):
                self._undo_add_block(Path(path), prior, admin)
            case Run(_, undo):
                for argv in undo:
                    try:
                        self._run(argv, admin)
                    except StepCommandFailed as exc:
                        warnings.append(f"{step.summary}: {exc}")
            case Setting(store, _, _, file):
                store_for(store).restore(step.action, prior, self._runner(step))
                if file is not None and not prior.get("file_existed", True):
                    tidy_file(file)
                    self._rmdirs(prior.get("dirs", []), False)
            case NssTrust(db, nickname):
                self._undo_nss(db, nickname, prior)
            case Link(path):
                self._undo_link(Path(path), prior, admin)

    def _undo_link(self, p: Path, prior: dict[str, Any], admin: bool) -> None:
        match prior.get("kind"):
            case "link":
                self._link(p, prior["target"], admin)
            case "file":
                self._write(p, _unb64(prior["data"]), prior["mode"], admin)
                if not (admin and self.admin):
                    os.chown(p, prior["uid"], prior["gid"])
            case _:
                self._remove(p, admin)
                self._rmdirs(prior.get("dirs", []), admin)

    def _undo_write_file(self, p: Path, prior: dict[str, Any], admin: bool) -> None:
        if prior.get("existed"):
            self._write(p, _unb64(prior["data"]), prior["mode"], admin)
        else:
            self._remove(p, admin)
            self._rmdirs(prior.get("dirs", []), admin)

    def _undo_merge_json(
        self, p: Path, section: str, values: dict[str, Any], prior: dict[str, Any], admin: bool
    ) -> None:
        if not p.is_file():
            self._rmdirs(prior.get("dirs", []), admin)
            return
        doc = _read_json(p)
        part = doc.get(section, {})
        for key in values:
            part.pop(key, None)
        part.update(prior.get("had", {}))
        if not prior.get("existed") and not part and set(doc) <= {section}:
            self._remove(p, admin)
            self._rmdirs(prior.get("dirs", []), admin)
        else:
            self._write(p, canonical_json(doc), p.stat().st_mode & 0o7777, admin)

    def _undo_add_block(self, p: Path, prior: dict[str, Any], admin: bool) -> None:
        if not p.is_file():
            return
        rest = without_block(p.read_text("utf-8"))
        if prior.get("newline") and rest.endswith("\n"):
            rest = rest[:-1]
        if not prior.get("existed") and not rest:
            self._remove(p, admin)
            self._rmdirs(prior.get("dirs", []), admin)
        else:
            self._write(p, rest.encode(), p.stat().st_mode & 0o7777, admin)

    def _undo_nss(self, db: PurePath, nickname: str, prior: dict[str, Any]) -> None:
        if not prior.get("had_nick") and self._nss_has(db, nickname):
            self._run_user(("certutil", "-D", "-d", f"sql:{db}", "-n", nickname))
        if prior.get("created_db"):
            for name in NSS_FILES:
                (Path(db) / name).unlink(missing_ok=True)
            self._rmdirs(prior.get("dirs", []), False)

    # -- NSS -------------------------------------------------------------------------------

    def _nss_has(self, db: PurePath, nickname: str) -> bool:
        try:
            self._run_user(("certutil", "-L", "-d", f"sql:{db}", "-n", nickname))
        except StepCommandFailed:
            return False
        return True

    def _nss_add(self, db: Path, nickname: str, cert: bytes) -> None:
        if not (db / "cert9.db").exists():
            db.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._run_user(("certutil", "-N", "--empty-password", "-d", f"sql:{db}"))
        if self._nss_has(db, nickname):
            listed = self._run_user(("certutil", "-L", "-d", f"sql:{db}", "-n", nickname, "-a"))
            if _same_cert(listed, cert):
                return
            self._run_user(("certutil", "-D", "-d", f"sql:{db}", "-n", nickname))
        with _temp_file(cert) as pem:
            self._run_user(
                ("certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", nickname, "-i", str(pem))
            )

    # -- files and commands, as the person or as administrator ---------------------------

    def authorise(self, plan: Plan) -> None:
        """Ask for the administrator password once, before anything changes."""
        if self.admin == ("sudo",) and any(step.admin for step in plan.steps):
            try:
                subprocess.run(("sudo", "-v"), check=True, timeout=300)
            except (OSError, subprocess.SubprocessError):
                raise StepCommandFailed(
                    "sudo did not give administrator rights; nothing was changed"
                ) from None

    def _runner(self, step: Step) -> Callable[[Argv], str]:
        return lambda argv: self._run(argv, step.admin)

    def _run_user(self, argv: Argv) -> str:
        return self._run(argv, admin=False)

    def _run(self, argv: Argv, admin: bool) -> str:
        full = (*self.admin, *argv) if admin else argv
        try:
            # sudo and pkexec may need to ask for a password: leave them the terminal.
            stdin = None if admin and self.admin else subprocess.DEVNULL
            proc = subprocess.run(full, capture_output=True, text=True, stdin=stdin, timeout=300)
        except FileNotFoundError:
            raise StepCommandFailed(f"{full[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise StepCommandFailed(f"{' '.join(argv)} did not finish in 5 minutes") from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = f": {detail[-1]}" if detail else ""
            raise StepCommandFailed(f"`{' '.join(argv)}` failed (exit {proc.returncode}){tail}")
        return proc.stdout

    def _write(self, path: Path, data: bytes, mode: int, admin: bool) -> None:
        if admin and self.admin:
            for folder in reversed(_missing_dirs(path.parent)):
                self._run(("mkdir", str(folder)), True)
            with _temp_file(data) as tmp:
                self._run(("install", "-m", f"{mode:o}", str(tmp), str(path)), True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _link(self, path: Path, target: str, admin: bool) -> None:
        if admin and self.admin:
            self._run(("ln", "-sfnT", target, str(path)), True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.candor-link")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, path)

    def _remove(self, path: Path, admin: bool) -> None:
        if not path.exists() and not path.is_symlink():
            return
        if admin and self.admin:
            self._run(("rm", "-f", str(path)), True)
        else:
            path.unlink()

    def _rmdirs(self, dirs: list[str], admin: bool) -> None:
        """Remove folders an install created, deepest first, only while they are empty."""
        for folder in sorted(dirs, key=len, reverse=True):
            p = Path(folder)
            if not p.is_dir() or any(p.iterdir()):
                continue
            if admin and self.admin:
                self._run(("rmdir", str(p)), True)
            else:
                p.rmdir()


def without_block(text: str) -> str:
    """`text` without Candor's marked block (and without it if it appears more than once)."""
    while (start := text.find(BLOCK_START)) >= 0:
        end = text.find(BLOCK_END, start)
        if end < 0:
            break
        text = text[:start] + text[end + len(BLOCK_END) :]
    return text


def _prior_of_link(p: Path) -> dict[str, Any]:
    """What is at a path a Link step replaces: a link's text, a file's bytes, mode and owner."""
    if p.is_symlink():
        return {"kind": "link", "target": os.readlink(p)}
    if p.is_file():
        st = p.stat()
        return {
            "kind": "file",
            "data": _b64(p.read_bytes()),
            "mode": st.st_mode & 0o7777,
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
    return {"kind": "none", "dirs": _missing_dirs(p.parent)}


def _missing_dirs(folder: Path) -> list[str]:
    """The folders from `folder` upwards that do not exist yet (outermost last)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(str(folder))
        folder = folder.parent
    return missing


def _same_cert(pem_text: str, cert: bytes) -> bool:
    try:
        return ssl.PEM_cert_to_DER_cert(pem_text.strip()) == ssl.PEM_cert_to_DER_cert(
            cert.decode("ascii").strip()
        )
    except ValueError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8") or "{}")
    except ValueError as exc:
        raise StepCommandFailed(f"{path} is not valid JSON ({exc}); fix or move it first") from None
    if not isinstance(doc, dict):
        raise StepCommandFailed(f"{path} does not hold a JSON object; fix or move it first")
    return doc


@contextlib.contextmanager
def _temp_file(data: bytes) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="candor-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(name, 0o644)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
