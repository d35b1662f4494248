"""What the self-check verifies for an install: the system proxy points at Candor and Candor is
what answers there, Candor's certificate is still trusted, the browser policies are in place (and
locked), and a canary request sent the way the desktop sends traffic reaches Candor; and which of
those things can be watched, so a change is checked at once (`watch_list`).

The checks follow the install record, so they test what this install changed and nothing else.
The agent's self-check loop runs them through `check_install`, handed in by the composition root;
the canary probe and the listener's owner are the agent's, handed in here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import subprocess
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import Home
from installers.plan import MergeJson, NssTrust, Setting, Step, WriteFile
from installers.record import Record, load_record, record_path
from installers.settings import GSettings, KConfig, StepCommandFailed, store_for

log = logging.getLogger(__name__)

Canary = Callable[[str, str | None], str | None]
"""`canary(proxy_url, cafile)`: None when Candor answered through that proxy, else a sentence."""
Listener = Callable[[str], str | None]
"""`listener(proxy)`: None when this agent (or nothing) listens there, else a sentence."""
TAKEN_OVER = "proxy taken over"
"""The finding when another program listens where web traffic is sent to Candor (a shim)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One way traffic may be going around Candor, in words for the journal and `candor status`."""

    what: str
    """One of: proxy unset, proxy taken over, CA untrusted, policy missing, canary failed."""
    detail: str


def check_install(
    home: Home, canary: Canary, listener: Listener | None = None
) -> list[Finding] | None:
    """Check this home's install now; None when nothing is installed from it (nothing to check).

    Raises ValueError, with a message for the person, when the install record cannot be read.
    """
    record = load_record(home)
    if record is None:
        return None
    return run_checks(record, canary, listener)


def run_checks(record: Record, canary: Canary, listener: Listener | None = None) -> list[Finding]:
    """Everything the install record says should be true, checked now."""
    findings: list[Finding] = []
    for step, _prior, state in record.steps():
        if state != "applied":
            continue
        try:
            findings += _step_findings(step)
        except (OSError, StepCommandFailed) as exc:
            log.info("self-check could not read %s: %s", step.id, exc)
    if record.trust_bundle and not _bundle_has(Path(record.trust_bundle), record.ca_sha256):
        findings.append(
            Finding("CA untrusted", f"Candor's certificate is not in {record.trust_bundle}")
        )
    try:
        proxy = system_proxy(record)
    except (OSError, StepCommandFailed) as exc:
        log.info("self-check could not read the desktop proxy: %s", exc)
        proxy = urllib.request.getproxies().get("https") or None
    if proxy is None:
        if not any(f.what == "proxy unset" for f in findings):
            findings.append(Finding("proxy unset", "no system proxy is set"))
        findings.append(Finding("canary failed", "no system proxy to send it through"))
    elif (problem := canary(proxy, record.trust_bundle)) is not None:
        findings.append(Finding("canary failed", problem))
    if listener is not None:
        findings += _taken_over(listener, [p for p in (proxy, record.proxy) if p])
    return findings


def _taken_over(listener: Listener, proxies: list[str]) -> list[Finding]:
    """A finding for each proxy address another program answers on (once per address)."""
    found = []
    seen = set()
    for proxy in proxies:
        address = proxy.split("://", 1)[-1].rstrip("/")
        if address in seen:
            continue
        seen.add(address)
        if (problem := listener(proxy)) is not None:
            found.append(Finding(TAKEN_OVER, problem))
    return found


@dataclass(frozen=True, slots=True)
class WatchList:
    """What the checks read that can be watched instead of polled, so a change is seen at once."""

    files: tuple[Path, ...]
    """Policy files, trust stores, settings files: a change to one triggers a check."""
    monitors: tuple[tuple[str, ...], ...]
    """Commands that print a line per change (`gsettings monitor SCHEMA`)."""
    refresh_on: tuple[Path, ...]
    """The install record: when it changes, what to watch is read again."""


def watch_list(home: Home) -> WatchList:
    """What this home's install put in place that can be watched (nothing if not installed)."""
    try:
        record = load_record(home)
    except ValueError:
        record = None
    files: list[Path] = []
    schemas: list[str] = []
    for step, _prior, state in record.steps() if record is not None else ():
        if state != "applied":
            continue
        action = step.action
        match action:
            case Setting(store, key, _, file):
                if store == "gsettings" and key[0] not in schemas:
                    schemas.append(key[0])
                if file is not None:
                    files.append(Path(file))
            case WriteFile(path) if step.group in ("browsers", "trust"):
                files.append(Path(path))
            case MergeJson(path):
                files.append(Path(path))
            case NssTrust(db):
                files.append(Path(db) / "cert9.db")
    if record is not None and record.trust_bundle:
        files.append(Path(record.trust_bundle))
    return WatchList(
        files=tuple(dict.fromkeys(files)),
        monitors=tuple(("gsettings", "monitor", schema) for schema in schemas),
        refresh_on=(record_path(home),),
    )


def _step_findings(step: Step) -> list[Finding]:
    """What differs now from what one applied step put in place."""
    action = step.action
    match action:
        case Setting(store):
            if (problem := store_for(store).mismatch(action, _run)) is not None:
                return [Finding("proxy unset", problem)]
        case WriteFile(path, data) if step.group == "browsers":
            if not _same_bytes(Path(path), data):
                return [Finding("policy missing", f"{path} was removed or changed")]
        case MergeJson(path, section, values):
            if unlocked := _unlocked(Path(path), section, values):
                names = " and ".join(unlocked)
                detail = f"{names} in {path} no longer locked: the browser's settings can change it"
                return [Finding("policy missing", detail)]
            if not _has_values(Path(path), section, values):
                return [Finding("policy missing", f"Candor's entries in {path} were removed")]
        case NssTrust(db, nickname):
            if not _nss_has(Path(db), nickname):
                return [Finding("CA untrusted", f"Candor's certificate is not in {db}")]
    return []


def system_proxy(record: Record) -> str | None:
    """The proxy the desktop tells programs to use, as this install set it up."""
    settings = {
        s.action.key: s.action for s, _, state in record.steps() if isinstance(s.action, Setting)
    }
    run = _run
    if ("org.gnome.system.proxy", "mode") in settings:
        g = GSettings()
        if g.current(settings[("org.gnome.system.proxy", "mode")], run) != "'manual'":
            return None
        host = run(("gsettings", "get", "org.gnome.system.proxy.https", "host")).strip().strip("'")
        port = run(("gsettings", "get", "org.gnome.system.proxy.https", "port")).strip()
        return f"http://{host}:{port}" if host and port not in ("", "0") else None
    kde = [a for key, a in settings.items() if key[:2] == ("kioslaverc", "Proxy Settings")]
    if kde:
        k = KConfig(kde[0].store)
        by_key = {a.key[2]: a for a in kde}
        if "ProxyType" in by_key and k.current(by_key["ProxyType"], run) != "1":
            return None
        if "httpsProxy" in by_key:
            value = k.current(by_key["httpsProxy"], run).replace(" ", ":")
            return value if value.startswith("http") else None
    found = urllib.request.getproxies().get("https")
    return found or None


def _run(argv: tuple[str, ...]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise StepCommandFailed(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _has_values(path: Path, section: str, values: Mapping[str, Any]) -> bool:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    part = doc.get(section, {}) if isinstance(doc, dict) else {}
    return all(part.get(k) == v for k, v in values.items())


def _unlocked(path: Path, section: str, values: Mapping[str, Any]) -> list[str]:
    """The policies Candor locked that are there but no longer locked (Firefox's `Locked`)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    part = doc.get(section, {}) if isinstance(doc, dict) else {}
    return [
        key
        for key, value in values.items()
        if isinstance(value, dict)
        and value.get("Locked") is True
        and isinstance(part.get(key), dict)
        and part[key].get("Locked") is not True
    ]


def _nss_has(db: Path, nickname: str) -> bool:
    proc = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}", "-n", nickname], capture_output=True, timeout=30
    )
    return proc.returncode == 0


def _bundle_has(bundle: Path, sha256: str) -> bool:
    try:
        text = bundle.read_text("ascii", errors="replace")
    except OSError:
        return False
    end = "-----END CERTIFICATE-----"
    for block in text.split(end)[:-1]:
        start = block.find("-----BEGIN CERTIFICATE-----")
        if start < 0:
            continue
        try:
            der = ssl.PEM_cert_to_DER_cert(block[start:] + end + "\n")
        except ValueError:
            continue
        if hashlib.sha256(der).hexdigest() == sha256:
            return True
    return False
