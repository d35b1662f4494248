"""`candor run`: the agent in the foreground, with mitmproxy embedded rather than scripted.

Embedding keeps the addon chain to what Candor needs (mitmdump loads thirty-odd), with each
event's handlers looked up once (`hook_dispatch`), puts Candor's filter after TLS configuration,
and leaves no script on disk to be hot-swapped. Start-up order matters: the CA exists before the
address is announced, and the journal is open before the first connection is accepted. What is
not needed for the first answer (report sending, self-checks) starts after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mitmproxy import master, options
from mitmproxy.proxy import mode_specs

from agent.config import Config, Home, parse_listen
from agent.health.pidfile import is_candor, read_pid_file, remove_pid_file, write_pid_file
from agent.journal import Journal, JournalError, JournalWriteError, JournalWriter
from agent.journal.events import AgentStart, AgentStop, EventBody, Heartbeat
from agent.policy.deadlines import DeadlineWatch
from agent.policy.live_rules import LiveRules, ReloadOutcome
from agent.policy.snapshot import offer_snapshot
from agent.policy.watcher import RulesWatcher
from agent.proxy import memory_release
from agent.proxy.addons.canary import Canary
from agent.proxy.addons.client_deadline import FIRST_REQUEST_SECONDS, IDLE_SECONDS
from agent.proxy.addons.resolve import (
    ResolveSpecError,
    parse_override,
    upstream_ca_options,
)
from agent.proxy.addons.startup import (
    Announce,
    ListenErrorWords,
    StartupCheck,
    format_address,
)
from agent.proxy.ca import CA_SECRET_FILES, ensure_ca
from agent.proxy.chain import CandorAddons, hosts_to_inspect
from agent.proxy.dns_upstream import parse_upstream
from agent.proxy.filter_settings import FilterSettings, filter_settings
from agent.proxy.hook_dispatch import CachedHookDispatch
from agent.proxy.page_readers import may_read
from rules.name_recogniser import shared_recogniser
from rules.sites import registrable_domain

if TYPE_CHECKING:
    from agent.health.capture_guard import CaptureGuard
    from agent.health.watch import Watched

log = logging.getLogger("candor")

HEARTBEAT_SECONDS = 60.0
SECRET_FILES = (*CA_SECRET_FILES, "wireguard.conf")
"""Files in the confdir that hold a private key (0600)."""


class RunError(Exception):
    """Candor cannot start; the message says why in one sentence."""


def run(
    home: Home,
    *,
    listen: str | None = None,
    transparent: Sequence[str] = (),
    local: str | None = None,
    resolve: Sequence[str] = (),
    upstream_ca: Path | None = None,
    selfcheck_interval: float | None = None,
    anchor_interval: float | None = None,
    canary_secret: str | None = None,
    first_request_seconds: float | None = None,
    before_build: Callable[[], None] | None = None,
    dns: Sequence[str] = (),
    dns_upstream: str | None = None,
    capture_table: Path | None = None,
    first_steps: Sequence[str] = (),
) -> int:
    """Run the agent until SIGINT or SIGTERM; 0 after a clean stop, 1 if it cannot start.

    `first_steps` are printed once under the listening lines: what the home still lacks.

    `selfcheck_interval` and `anchor_interval` shorten the self-check's and the time anchors'
    intervals, `canary_secret` names the canary, `first_request_seconds` shortens a new client
    connection's deadline for its first request, and `before_build` holds a start's build of
    the rules behind the rules last applied, for tests (Python API only)."""
    _quiet_logging()
    try:
        agent = Agent(
            home,
            listen=listen,
            transparent=transparent,
            local=local,
            resolve=resolve,
            upstream_ca=upstream_ca,
            selfcheck_interval=selfcheck_interval,
            anchor_interval=anchor_interval,
            canary_secret=canary_secret,
            first_request_seconds=first_request_seconds,
            before_build=before_build,
            dns=dns,
            dns_upstream=dns_upstream,
            capture_table=capture_table,
            first_steps=first_steps,
        )
    except RunError as exc:
        print(f"candor: {exc}", file=sys.stderr)
        return 1
    return agent.run()


class Agent:
    """Everything `candor run` keeps alive: rules, watcher, journal writer and the proxy."""

    def __init__(
        self,
        home: Home,
        *,
        listen: str | None = None,
        transparent: Sequence[str] = (),
        local: str | None = None,
        resolve: Sequence[str] = (),
        upstream_ca: Path | None = None,
        selfcheck_interval: float | None = None,
        anchor_interval: float | None = None,
        canary_secret: str | None = None,
        after_first_load: Callable[[], None] | None = None,
        first_request_seconds: float | None = None,
        before_build: Callable[[], None] | None = None,
        dns: Sequence[str] = (),
        dns_upstream: str | None = None,
        capture_table: Path | None = None,
        first_steps: Sequence[str] = (),
    ) -> None:
        """`after_first_load` runs right after the settings and rules are first read: tests edit
        a file there, as a person could during start-up; `before_build` runs before a start
        served by the rules last applied builds the rules on disk; `canary_secret` names the
        canary, and the intervals are shortened, for tests too (Python API only)."""
        self.home = home
        self._before_build = before_build
        self._first_steps = tuple(first_steps)
        self.selfcheck_interval = selfcheck_interval
        self.anchor_interval = anchor_interval
        self.list_updates: dict[str, Any] = {}
        """Keyword arguments for the list updater (tests shorten its intervals)."""
        try:
            self.overrides = [parse_override(spec) for spec in resolve]
        except ResolveSpecError as exc:
            raise RunError(str(exc)) from None
        if upstream_ca is not None and not upstream_ca.is_file():
            raise RunError(f"--upstream-ca {upstream_ca}: no such file")
        self.upstream_ca = upstream_ca
        self.transparent = [_listen_on(spec, "--transparent") for spec in transparent]
        """Where connections redirected by a firewall rule arrive (mitmproxy's transparent mode)."""
        if len(set(self.transparent)) < len(self.transparent):
            raise RunError("--transparent: each address may be given once.")
        self.local = local_mode(local)
        """mitmproxy's local capture spec (`--local`), or None."""
        self.dns = _dns_on(dns, dns_upstream)
        """Where Candor's DNS listens and the upstream it forwards to (`--dns`), or None."""
        self.capture_table = _capture_table(
            capture_table, self.transparent, self.dns[0] if self.dns else ()
        )
        """The installed nftables table's text (`--capture-table`): the capture's self-check."""
        self.previous_pid = _check_not_running(home)
        try:
            self.policy_journal = Journal(home.journal_file)
            """Rules changes are journaled on this connection, in one transaction each, before
            they take effect; everything else goes through the batching writer."""
            self.journal = JournalWriter(home.journal_file)
        except JournalWriteError as exc:
            raise RunError(exc.sentence("Candor did not start")) from None
        except JournalError as exc:
            raise RunError(str(exc)) from None
        self.canary = Canary(secret=canary_secret)
        # Watching starts before the first load, so no edit falls between the two; reloads wait
        # until the start is journaled (`begin`), which then re-checks what changed meanwhile.
        self.watcher = RulesWatcher(home, self._reload)
        self.watcher.start(held=True)
        try:
            offer_snapshot(home)  # a new home's shipped lists, compiled before the first load
            self.live = LiveRules(
                home,
                inspect=lambda config: hosts_to_inspect(config, self.canary),
                on_reload=self._reloaded,
                journal=self.policy_journal,
                quick_start=True,
            )
            if any(self.live.config.recognises(c) for c in self.live.config.categories):
                threading.Thread(
                    target=shared_recogniser().prepare, name="candor-word-model", daemon=True
                ).start()  # the word model loads off the request path
            if after_first_load is not None:
                after_first_load()
            self.listen_host, self.listen_port = _listen_on(listen or self.live.config.agent.listen)
        except BaseException:
            self.watcher.stop()
            raise
        self.deadlines = DeadlineWatch(self.live)
        self._settings: tuple[Config, FilterSettings] | None = None
        self.addons = CandorAddons(
            matcher=lambda: self.live.rules.matcher,
            record=self.record,
            settings=self.settings,
            overrides=self.overrides,
            canary=self.canary,
            first_request=first_request_seconds or FIRST_REQUEST_SECONDS,
            status_page=self.status_page,
            may_read=lambda client, proxy: may_read(self.home, client, proxy),
        )
        self._services: list[Any] = []
        """The report sender, the self-check and its watch once started; stopped in reverse."""
        self._services_lock = threading.Lock()
        self._stopping = False
        self.address: tuple[str, int] | None = None

    def settings(self) -> FilterSettings:
        """The filter's view of the configuration, rebuilt only when a reload replaced it."""
        config = self.live.effective_config
        if self._settings is None or self._settings[0] is not config:
            self._settings = (config, filter_settings(config))
        return self._settings[1]

    def record(self, event: EventBody) -> None:
        """Hand one event to the journal writer; never blocks the event loop."""
        try:
            self.journal.submit(event)
        except (RuntimeError, ValueError):
            log.exception("could not record a %s event", event.kind)

    def status_page(self, path: str, query: dict[str, str]) -> str:
        """A page of Candor's origin that only reads (built in a worker thread): the status,
        why a URL is decided as it is, the journal, or the next report as the partner will
        see it."""
        from agent.health import web_page

        if path == web_page.REPORT_PATH:
            from agent.cli.report import preview
            from agent.journal import clock

            return preview(self.home, None, clock.now()).html
        if path == web_page.JOURNAL_PATH:
            return self._journal_page(query.get("kind") or None)
        return self._status_body(query.get("url") if path == web_page.WHY_PATH else None)

    def _status_body(self, url: str | None) -> str:
        from agent.cli.first_steps import setup_notes
        from agent.health.status import collect
        from agent.health.web_page import status_html
        from agent.policy.decision_words import explain
        from reporter.delivery.sender import status_notes
        from rules.urls import host_key, split_url

        status = collect(
            self.home,
            verify=False,
            delivery_notes=status_notes,
            setup_notes=setup_notes,
        )
        why = None
        if url is not None:
            readable = host_key(split_url(url)[1]) is not None
            said = (
                explain(self.live.rules.matcher.decide(url))
                if readable
                else "That is not a web address Candor can read: start it with https://."
            )
            why = (url, said)
        return status_html(status, why)

    def _journal_page(self, kind: str | None) -> str:
        from agent.health.web_page import JOURNAL_ROWS, journal_html
        from agent.journal.events import Kind

        kinds = sorted(k.value for k in Kind)
        chosen = kind if kind in kinds else None
        with Journal(self.home.journal_file) as journal:
            rows = journal.events(kinds=[chosen] if chosen else None, limit=JOURNAL_ROWS,
                                  newest_first=True)  # fmt: skip
            return journal_html(list(rows), chosen, kinds)

    def run(self) -> int:
        """Run until SIGINT or SIGTERM: journal the start, serve, then stop everything cleanly."""
        write_pid_file(self.home.pid_file)
        try:
            ensure_ca(self.home, self.live.config.device.name)  # before mitmproxy makes its own
            self.begin()
            code = asyncio.run(self._serve())
        except KeyboardInterrupt:
            code = 0
        except RunError as exc:
            print(f"candor: {exc}", file=sys.stderr)
            code = 1
        finally:
            self.end()
        return code

    def begin(self) -> None:
        """Journal the start and the rules in force, then reload on every edit: one made since
        the first load (while the watcher was held) is reloaded now, before anything is served."""
        self._record_start()
        if self.live.provisional:  # serving what the journal last applied: build aside
            threading.Thread(target=self._build, name="candor-rules-build", daemon=True).start()
            return
        self.watcher.release(self.live.reload_if_changed)
        self.deadlines.start()

    def _build(self) -> None:
        """Build the rules on disk while the port is open, swap them in (journaled first, as
        any reload), then reload on every edit as `begin` does."""
        if self._before_build is not None:
            self._before_build()
        try:
            self.live.finish_start()
            for problem in (*self.live.rules.problems, *map(str, self.live.rules.rejected)):
                log.warning("%s", problem)
        except (JournalError, sqlite3.Error, OSError) as exc:
            log.warning(
                "Candor could not write its journal (%s): the rules last applied stay.", exc
            )
        with self._services_lock:
            if self._stopping:
                return
            self.watcher.release(self.live.reload_if_changed)
            self.deadlines.start()

    def end(self) -> None:
        """Stop what `begin` and serving started, journal a clean stop, close the journal."""
        self._stop_services()
        self.deadlines.stop()
        self.watcher.stop()
        self.addons.recorder.flush()
        self.record(AgentStop(version=_version(), clean=True))
        self.journal.close()
        self.policy_journal.close()
        remove_pid_file(self.home.pid_file)

    async def _serve(self) -> int:
        opts = options.Options(
            mode=[
                _mode("regular", self.listen_host, self.listen_port),
                *(_mode("transparent", *address) for address in self.transparent),
                *([self.local] if self.local is not None else []),
            ],
            confdir=str(self.home.confdir),
        )
        m = master.Master(opts)
        m.addons = CachedHookDispatch(m)  # the stock manager it replaces holds no addons
        dns = self.addons.dns
        announce = Announce(
            self._listening,
            lambda: [("dns on", a) for a in dns.listening],
            after=self._first_steps,
        )
        m.addons.add(*self.addons.chain(), StartupCheck(), announce)
        opts.update(
            connection_strategy="lazy",
            tcp_timeout=IDLE_SECONDS,
            http3=False,
            dns_listen=[format_address(*address) for address in self._dns_addresses()],
            dns_upstream=self.dns[1] if self.dns is not None else "",
            **upstream_ca_options(str(self.upstream_ca) if self.upstream_ca else None),
        )
        _protect_confdir(self.home.confdir)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, m.shutdown)
        heartbeat = asyncio.create_task(self._heartbeat())
        trimmer = asyncio.create_task(_release_memory_now_and_then())
        try:
            await m.run()
        except SystemExit as exc:  # the startup check: the error is already on stderr
            return exc.code if isinstance(exc.code, int) else 1
        finally:
            heartbeat.cancel()
            trimmer.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            loop.set_exception_handler(_quiet_cancellations)
        return 0

    def _listening(self, host: str, port: int) -> None:
        """The proxy accepts connections: say where, in the pid file too, and start services."""
        self.address = (host, port)
        _protect_confdir(self.home.confdir)
        write_pid_file(self.home.pid_file, format_address(host, port))
        self.start_services()

    def start_services(self) -> None:
        """Start report sending and the self-checks, once the proxy answers.

        Their modules (report building, the installers' checks, an HTTP client) are imported
        in a thread of their own rather than ahead of the first page a person is waiting for.
        """
        threading.Thread(target=self._start_services, name="candor-services", daemon=True).start()

    def _start_services(self) -> None:
        try:
            registrable_domain("candor.invalid")  # read the suffix list before a block needs it
            from agent.health import selfcheck
            from agent.health.proxy_owner import listener_problem
            from agent.health.watch import ChangeWatch
            from installers.checks import check_install, watch_list
            from reporter.delivery.loop import SenderLoop

            with self._services_lock:
                if self._stopping:
                    return
                sender = SenderLoop(self.home)
                sender.start()
                self._services.append(sender)
                interval = self.selfcheck_interval or selfcheck.CHECK_EVERY
                guard = self._capture_guard(interval)
                check = selfcheck.SelfCheck(
                    self.home,
                    self.record,
                    capture=guard.check_now if guard is not None else None,
                    check=lambda: check_install(
                        self.home,
                        canary=lambda proxy, cafile: selfcheck.canary(
                            proxy, cafile, url=self.canary.url
                        ),
                        listener=listener_problem,
                    ),
                    last_traffic=lambda: self.addons.canary.last_traffic,
                    interval=interval,
                )
                check.start()
                self._services.append(check)
                watch = ChangeWatch(lambda: watch_list(self.home), check.check_soon)
                watch.start()
                self._services.append(watch)
                if guard is not None:
                    capture_watch = ChangeWatch(lambda: capture_targets(guard), check.check_soon)
                    capture_watch.start()
                    self._services.append(capture_watch)
                self._services.append(self._start_anchors())
                self._services.append(self._start_list_updates())
        except Exception:
            log.exception("could not start report sending and the self-checks")

    def _dns_addresses(self) -> tuple[tuple[str, int], ...]:
        """Where this agent answers DNS, as the self-check looks for its sockets."""
        return tuple(self.dns[0]) if self.dns is not None else ()

    def _capture_guard(self, interval: float) -> CaptureGuard | None:
        """The system capture's self-check (`--capture-table`), or None without one; the probe's
        canary name is written for the root timer whenever there is a transparent listener."""
        from agent.config import write_atomic
        from agent.health.capture_guard import PROBE_ROUNDS, CaptureGuard, Expected
        from agent.proxy.addons.canary import PROBE_FILE
        from installers.platforms.linux_nftables import listed_table, ruleset_hash

        if self.transparent:
            try:
                self.home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(self.home.state_dir / PROBE_FILE, self.canary.probe_host + "\n")
            except OSError as exc:
                log.warning("the probe's name could not be written (%s)", exc)
        if self.capture_table is None:
            return None
        return CaptureGuard(
            Expected(self.capture_table, tuple(self.transparent), self._dns_addresses()),
            self.record,
            list_table=listed_table,
            digest=ruleset_hash,
            last_probe=lambda: self.canary.last_probe,
            probe_within=PROBE_ROUNDS * interval,
        )

    def _start_list_updates(self) -> Any:
        """The daily refresh of subscribed lists; a new copy is reloaded at once."""
        from agent.policy.list_updater import ListUpdater

        updater = ListUpdater(
            self.home,
            self.record,
            lambda: self.live.effective_config,
            self.live.reload,
            **self.list_updates,
        )
        updater.start()
        return updater

    def _start_anchors(self) -> Any:
        """Hourly time anchors over the chain head, while a partner has confirmed."""
        from agent.journal.anchors import ANCHOR_EVERY, AnchorLoop
        from reporter.consent import consent_state

        def head() -> tuple[int, str] | None:
            self.journal.flush(timeout=5)
            row = self.policy_journal.head()
            return None if row is None else (row.seq, row.hash)

        def authorities() -> list[str]:
            settings = self.live.config.anchors
            if not settings.enabled:
                return []
            confirmed = consent_state(self.policy_journal).status == "confirmed"
            return list(settings.authorities) if confirmed else []

        anchors = AnchorLoop(
            self.record, head, authorities, interval=self.anchor_interval or ANCHOR_EVERY
        )
        anchors.start()
        return anchors

    def _stop_services(self) -> None:
        with self._services_lock:
            self._stopping = True
            services, self._services = self._services, []
        for service in reversed(services):
            service.stop()

    async def _heartbeat(self) -> None:
        while True:
            self.record(Heartbeat.now())
            self.addons.recorder.flush()  # grouped decisions: at most a minute late
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _record_start(self) -> None:
        """Journal the start, what changed while stopped and the rules in force, before serving
        (in one transaction: nothing loosened at this start takes effect without its row)."""
        loaded = self.live.rules
        start = AgentStart(
            version=_version(),
            rules_fingerprint=loaded.matcher.fingerprint,
            previous_stop_clean=self.previous_pid is None,
        )
        try:
            self.live.start([start])
        except JournalWriteError as exc:
            raise RunError(exc.sentence("Candor did not start")) from None
        except (JournalError, sqlite3.Error, OSError) as exc:
            raise RunError(f"Candor cannot write its journal: {exc}") from None
        for problem in (*loaded.problems, *map(str, loaded.rejected)):
            log.warning("%s", problem)
        if self.live.config_problem:
            log.warning("%s", self.live.config_problem)

    def _reload(self) -> None:
        self.live.reload()

    def _reloaded(self, outcome: ReloadOutcome) -> None:
        """What a reload changed is already journaled (before it took effect); say why one
        was refused, and a settings file newly broken."""
        if outcome.config_problem:
            log.warning("%s", outcome.config_problem)
        if not outcome.applied:
            log.warning("%s", outcome.reason)


async def _release_memory_now_and_then() -> None:
    while True:
        await asyncio.sleep(memory_release.EVERY_SECONDS)
        await asyncio.to_thread(memory_release.release_free_memory)


def _listen_on(address: str, flag: str = "--listen") -> tuple[str, int]:
    """(host, port) of `--listen` (or the settings' `agent.listen`) or `--transparent`; RunError
    if unusable: only this computer's own addresses."""
    try:
        return parse_listen(address)
    except ValueError as exc:
        raise RunError(f"{flag} {exc}") from None


def _mode(kind: str, host: str, port: int) -> str:
    """mitmproxy's spec of a listener: its host without brackets (it keeps them, and then
    cannot resolve `[::1]`), the port after the last colon."""
    return f"{kind}@{host}:{port}"


def local_mode(spec: str | None) -> str | None:
    """mitmproxy's mode for `--local [SPEC]` (every process but the agent's own when SPEC is
    empty); RunError if mitmproxy cannot read SPEC."""
    if spec is None:
        return None
    mode = f"local:{spec}" if spec else "local"
    try:
        mode_specs.ProxyMode.parse(mode)
    except ValueError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "not a spec mitmproxy reads"
        raise RunError(f"--local {spec!r}: {reason}.") from None
    return mode


def _dns_on(dns: Sequence[str], upstream: str | None) -> tuple[list[tuple[str, int]], str] | None:
    """(host, port) of each `--dns` and the `--dns-upstream` text ("" for the system's
    resolvers); RunError if any is unusable."""
    if not dns:
        if upstream is not None:
            raise RunError("--dns-upstream needs --dns HOST:PORT (where Candor answers DNS).")
        return None
    addresses = []
    for spec in dns:
        try:
            addresses.append(parse_listen(spec))
        except ValueError as exc:
            raise RunError(f"--dns {exc}") from None
    if len(set(addresses)) < len(addresses):
        raise RunError("--dns: each address may be given once.")
    if upstream is not None:
        try:
            parse_upstream(upstream)
        except ValueError as exc:
            raise RunError(f"--dns-upstream {exc}") from None
    return addresses, upstream or ""


def _capture_table(
    path: Path | None,
    transparent: Sequence[tuple[str, int]],
    dns: Sequence[tuple[str, int]] = (),
) -> Path | None:
    """`--capture-table FILE`, checked: a readable file, only beside `--transparent`, and
    sending connections (and lookups) to the ports this agent listens on."""
    if path is None:
        return None
    if not transparent:
        raise RunError("--capture-table needs --transparent HOST:PORT (the capture it checks).")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
        raise RunError(f"--capture-table {path}: {reason.lower()}") from None
    from installers.platforms.linux_nftables import redirect_ports

    to_proxy, to_dns = redirect_ports(text)
    listening = sorted({port for _, port in transparent})
    if to_proxy not in listening:
        raise RunError(
            f"--capture-table {path} sends connections to port {to_proxy}, but --transparent "
            f"listens on port {', '.join(map(str, listening))}: they must be the same."
        )
    dns_ports = sorted({port for _, port in dns})
    if to_dns is not None and to_dns not in dns_ports:
        where = (
            f"--dns listens on port {', '.join(map(str, dns_ports))}"
            if dns_ports
            else ("there is no --dns")
        )
        raise RunError(
            f"--capture-table {path} sends DNS lookups to port {to_dns}, but {where}: every "
            "lookup on this computer would fail."
        )
    return path.resolve()


def capture_targets(guard: CaptureGuard) -> Watched:
    """What the capture's watch follows: `nft monitor`, whose every line is a change to some
    table, and the installed table's file."""
    from agent.health.watch import Watched
    from installers.platforms.linux_nftables import MONITOR_COMMAND

    return Watched(files=(guard.expected.table_file,), monitors=(MONITOR_COMMAND,))


def _check_not_running(home: Home) -> int | None:
    """The pid of a previous run that did not stop cleanly, or None; refuses a live duplicate."""
    found = read_pid_file(home.pid_file)
    if found is None:
        return None
    pid = found[0]
    if pid != os.getpid() and is_candor(pid):
        raise RunError(f"Candor is already running for {home.root} (pid {pid}).")
    return pid


def _protect_confdir(confdir: Path) -> None:
    """The CA key lets its reader impersonate every site: owner-only, like the directory."""
    with contextlib.suppress(OSError):
        confdir.chmod(0o700)
    for name in SECRET_FILES:
        with contextlib.suppress(FileNotFoundError):
            (confdir / name).chmod(0o600)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connections still open at shutdown are cancelled; that is the plan, not an error.

    (Python 3.12's stream callback reports each cancelled handler as an exception.)
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _version() -> str:
    try:
        return metadata.version("candor-agent")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _quiet_logging() -> None:
    """Warnings and errors on stderr; mitmproxy's per-connection chatter stays out."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("candor: %(message)s"))
        handler.addFilter(ListenErrorWords())
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
