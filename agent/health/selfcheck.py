"""The agent checks, every few minutes and after every wake, that the computer still sends its
traffic through Candor: the system proxy points here, Candor's certificate is still trusted,
the browser policies are in place, and a request to a host only Candor answers arrives here.

The checks follow the install record, so they test what this install changed and nothing else.
A finding is journaled as `bypass_suspected` once, when what is found changes, not every time it
is seen. `candor status` reads the last result from `state/selfcheck.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import Home
from agent.journal.events import BypassSuspected, EventBody
from agent.proxy.addons.canary import CANARY_HEADER, CANARY_URL
from installers.executor import Record, load_record
from installers.plan import MergeJson, NssTrust, Setting, WriteFile
from installers.settings import GSettings, KConfig, StepCommandFailed, store_for

log = logging.getLogger(__name__)

STATE_FILE = "selfcheck.json"

CHECK_EVERY = 300.0
INTERVAL_ENV = "CANDOR_SELFCHECK_SECONDS"
QUIET_AFTER = 4 * 3600.0
"""Awake this long with no traffic through Candor is worth a neutral note."""
WAKE_GAP = 30.0

RecordEvent = Callable[[EventBody], None]
"""Appends one journal event (the runner's `Agent.record`)."""


@dataclass(frozen=True, slots=True)
class Finding:
    what: str
    """One of: proxy unset, CA untrusted, policy missing, canary failed."""
    detail: str


# --- one check --------------------------------------------------------------------------------


def run_checks(record: Record, *, timeout: float = 5.0) -> list[Finding]:
    """Everything the install record says should be true, checked now."""
    findings: list[Finding] = []
    for step, _prior, state in record.steps():
        if state != "applied":
            continue
        action = step.action
        try:
            match action:
                case Setting(store):
                    if (problem := store_for(store).mismatch(action, _run)) is not None:
                        findings.append(Finding("proxy unset", problem))
                case WriteFile(path, data) if step.group == "browsers":
                    if not _same_bytes(Path(path), data):
                        findings.append(Finding("policy missing", f"{path} was removed or changed"))
                case MergeJson(path, section, values):
                    if not _has_values(Path(path), section, values):
                        findings.append(
                            Finding("policy missing", f"Candor's entries in {path} were removed")
                        )
                case NssTrust(db, nickname):
                    if not _nss_has(Path(db), nickname):
                        findings.append(
                            Finding("CA untrusted", f"Candor's certificate is not in {db}")
                        )
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
    elif (problem := canary(proxy, record.trust_bundle, timeout=timeout)) is not None:
        findings.append(Finding("canary failed", problem))
    return findings


def canary(proxy: str, cafile: str | None, *, timeout: float = 5.0) -> str | None:
    """None when Candor answered the canary through `proxy`, trusting only the system store."""
    import httpx

    context = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    try:
        with httpx.Client(proxy=proxy, verify=context, timeout=timeout, trust_env=False) as c:
            response = c.get(CANARY_URL)
    except httpx.HTTPError as exc:
        return f"{CANARY_URL} through {proxy}: {exc or type(exc).__name__}"
    if response.headers.get(CANARY_HEADER) != "1":
        return f"{CANARY_URL} through {proxy} was answered by something other than Candor"
    return None


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


def _nss_has(db: Path, nickname: str) -> bool:
    proc = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}", "-n", nickname], capture_output=True, timeout=30
    )
    return proc.returncode == 0


def _bundle_has(bundle: Path, sha256: str) -> bool:
    import hashlib

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


# --- the loop ---------------------------------------------------------------------------------


class SelfCheck:
    """A daemon thread: checks every `interval` seconds and right after the computer wakes.

    `record` appends a journal event (the runner's `Agent.record`); `last_traffic` returns the
    monotonic time real traffic last went through Candor (`Canary.last_traffic`), or None.
    """

    def __init__(
        self,
        home: Home,
        record: RecordEvent,
        *,
        last_traffic: Callable[[], float | None] = lambda: None,
        interval: float | None = None,
        quiet_after: float = QUIET_AFTER,
        tick: float = 5.0,
        first_delay: float = 5.0,
    ) -> None:
        self.home = home
        self._record = record
        self._last_traffic = last_traffic
        self.interval = interval if interval is not None else _interval_from_env()
        self.quiet_after = quiet_after
        self.tick = min(tick, self.interval)
        self.first_delay = min(first_delay, self.interval)
        self._reported: frozenset[Finding] = frozenset()
        self.installed = False
        """An install record exists: only then is quiet worth noting (`candor run` by hand is
        not a bypass)."""
        self._quiet_reported = False
        self._awake_since = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="candor-selfcheck", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_now(self) -> list[Finding]:
        """Run the checks once; journal `bypass_suspected` if what is found has changed."""
        try:
            record = load_record(self.home)
        except ValueError as exc:
            log.warning("%s", exc)
            return []
        self.installed = record is not None
        if record is None:
            return []
        findings = run_checks(record)
        found = frozenset(findings)
        if found and found != self._reported:
            self._record(
                BypassSuspected(
                    what=findings[0].what,
                    problems=[asdict(f) for f in findings],
                    source="self-check",
                )
            )
        self._reported = found
        _save_state(self.home, findings)
        return findings

    def check_quiet(self, now: float | None = None) -> bool:
        """Journal a long awake stretch with no traffic through Candor, once per stretch."""
        now = time.monotonic() if now is None else now
        last = self._last_traffic()
        since = max(self._awake_since, last if last is not None else self._awake_since)
        if last is not None and last > self._awake_since:
            self._quiet_reported = False
        if now - since < self.quiet_after or self._quiet_reported:
            return False
        self._quiet_reported = True
        hours = round((now - since) / 3600, 1)
        self._record(
            BypassSuspected(
                what="no traffic while awake",
                detail=f"No web traffic went through Candor for {hours} hours while the "
                "computer was awake. This can be a quiet time, or traffic taking another route.",
                source="self-check",
            )
        )
        return True

    def woke(self) -> None:
        """The computer resumed from sleep: a fresh awake stretch, and check at once."""
        self._awake_since = time.monotonic()
        self._quiet_reported = False

    def _loop(self) -> None:
        if self._stop.wait(self.first_delay):
            return
        next_check = 0.0
        mono, boot = time.monotonic(), _boottime()
        while not self._stop.is_set():
            now_mono, now_boot = time.monotonic(), _boottime()
            if (now_boot - boot) - (now_mono - mono) > WAKE_GAP:
                self.woke()
                next_check = 0.0
            mono, boot = now_mono, now_boot
            if now_mono >= next_check:
                try:
                    self.check_now()
                    if self.installed:
                        self.check_quiet()
                except Exception:  # a broken check must never stop the agent
                    log.exception("self-check failed")
                next_check = now_mono + self.interval
            self._stop.wait(self.tick)


def _interval_from_env() -> float:
    """`CANDOR_SELFCHECK_SECONDS` shortens the interval for tests and for trying things out."""
    try:
        return max(0.2, float(os.environ[INTERVAL_ENV]))
    except (KeyError, ValueError):
        return CHECK_EVERY


def _boottime() -> float:
    """Seconds including suspend; wall time where CLOCK_BOOTTIME is not available."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.time()


def _save_state(home: Home, findings: list[Finding]) -> None:
    state = {
        "checked_at": dt.datetime.now(dt.UTC).isoformat(),
        "ok": not findings,
        "problems": [asdict(f) for f in findings],
    }
    path = home.state_dir / STATE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", "utf-8")
        tmp.replace(path)
    except OSError:
        log.warning("could not save the self-check result under %s", home.state_dir)


def last_result(home: Home) -> dict[str, Any] | None:
    """The last self-check for `candor status`: {checked_at, ok, problems: [{what, detail}]}."""
    try:
        return json.loads((home.state_dir / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def status_lines(home: Home) -> list[str]:
    """What `candor status` says about the wiring: one line when fine, one per problem if not."""
    result = last_result(home)
    if result is None:
        return []
    when = result.get("checked_at", "")[:16].replace("T", " ")
    if result.get("ok"):
        return [f"Self-check passed at {when} UTC: traffic goes through Candor."]
    lines = [f"Self-check at {when} UTC found a problem:"]
    lines += [f"  {p['what']}: {p['detail']}" for p in result.get("problems", [])]
    lines.append("  Run `candor install` again to put the wiring back.")
    return lines
