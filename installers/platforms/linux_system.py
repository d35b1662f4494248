"""The Linux system plan (`candor install --system`): Candor as a system service that filters every
user's traffic through its nftables table and DNS, with no proxy setting anywhere.

`detect` reads the machine once (users, groups, the resolver setup); `build` turns that into a
plan without touching anything. Candor's user id is chosen here, before the user exists (a free
system id, given to `useradd --uid`), so the plan shows the exact table that will be loaded.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from agent.config.home import SYSTEM_HOME, SYSTEM_HOME_MARKER
from installers import stores
from installers.plan import Link, Plan, Run, Step, WriteFile
from installers.platforms import linux, linux_nftables
from installers.platforms.linux import (
    ALERTS_TIMER,
    NO_PROXY_ENV,
    REPORT_TIMER,
    alerts_timer,
    report_timer,
    unit_command,
)
from installers.stores import TrustStore
from installers.target import Target, ca_sha256

USER = "candor"
"""The service's own user: no login, no shell; its connections are never redirected."""
ADMIN_GROUP = "candor-admin"
"""The people allowed to run `candor` against the system home (rules, status, reports)."""
PROBE_USER = "candor-probe"
"""An ordinary user with no login: the self-check's probe runs as it, filtered like anyone."""
RESOLVED_USER = "systemd-resolve"
"""systemd-resolved's user: exempt from the table, so its own lookups never come back to it."""

UNIT = "candor.service"
TABLE_UNIT = "candor-nftables.service"
REPORT_UNIT = "candor-report.service"
PROBE_UNIT = "candor-probe.service"
PROBE_TIMER = "candor-probe.timer"
PROBE_EVERY = "5min"
"""How often the probe runs; the agent journals it missing after three self-check rounds."""
UNIT_DIR = "/etc/systemd/system"
TABLE_FILE = "/etc/candor/candor.nft"
"""The table root loads at boot: root-owned, so members of candor-admin cannot change it."""
KEPT_TABLE = "state/system-table.nft"
"""Under the system home: the same text, for the self-check's content hash (as user candor)."""
RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_UPLINK = "/run/systemd/resolve/resolv.conf"
"""systemd-resolved's list of the real upstream resolvers (its documented "uplink" mode)."""
RESOLVED_UPLINK_LINK = "../run/systemd/resolve/resolv.conf"
"""Relative, as Debian's own resolv.conf link is, so it reads the same in a relocated root."""

TRANSPARENT_PORT = 8081
DNS_PORT = 8053
SYSTEM_ID_RANGE = range(999, 99, -1)
"""Where a free system user or group id is looked for, highest first, as `useradd --system`."""
NFT = "/usr/sbin/nft"


@dataclass(frozen=True, slots=True)
class SystemFacts:
    """What the system plan needs to know about this machine."""

    trust_store: TrustStore | None
    candor_uid: int
    candor_gid: int
    admin_gid: int
    user_exists: bool = False
    group_exists: bool = False
    admin_group_exists: bool = False
    probe_user_exists: bool = False
    probe_group_exists: bool = False
    resolved_uid: int | None = None
    stub_resolver: bool = False
    """/etc/resolv.conf lists only a loopback stub and systemd-resolved lists the real resolvers."""
    nft: str = NFT


def detect(target: Target) -> SystemFacts:
    """Look at the root once: users and groups (ids to use), systemd-resolved, the trust store."""
    users = _id_file(Path(target.system("/etc/passwd")), field=2)
    groups = _id_file(Path(target.system("/etc/group")), field=2)
    uid = users.get(USER) or _free_id(set(users.values()) | set(groups.values()))
    gid = groups.get(USER) or (
        uid if uid not in groups.values() else _free_id(set(groups.values()))
    )
    taken = set(groups.values()) | {gid}
    admin_gid = groups.get(ADMIN_GROUP) or _free_id(taken | set(users.values()))
    return SystemFacts(
        trust_store=stores.detect_trust_store(target),
        candor_uid=uid,
        candor_gid=gid,
        admin_gid=admin_gid,
        user_exists=USER in users,
        group_exists=USER in groups,
        admin_group_exists=ADMIN_GROUP in groups,
        probe_user_exists=PROBE_USER in users,
        probe_group_exists=PROBE_USER in groups,
        resolved_uid=users.get(RESOLVED_USER),
        stub_resolver=_stub_only(Path(target.system(RESOLV_CONF)))
        and Path(target.system(RESOLVED_UPLINK)).is_file(),
        nft=shutil.which("nft") or NFT,
    )


def _id_file(path: Path, field: int) -> dict[str, int]:
    """name -> id from /etc/passwd or /etc/group (missing file: none)."""
    found: dict[str, int] = {}
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        parts = line.split(":")
        if len(parts) > field and parts[field].isdigit():
            found.setdefault(parts[0], int(parts[field]))
    return found


def _free_id(taken: set[int]) -> int:
    return next(n for n in SYSTEM_ID_RANGE if n not in taken)


def _stub_only(resolv_conf: Path) -> bool:
    """Whether resolv.conf's nameservers are all on loopback (a local stub such as 127.0.0.53)."""
    try:
        text = resolv_conf.read_text("utf-8", "replace")
    except OSError:
        return False
    servers = [
        w[1] for w in (line.split() for line in text.splitlines()) if w[:1] == ["nameserver"]
    ]
    try:
        return bool(servers) and all(
            ipaddress.ip_address(s.partition("%")[0]).is_loopback for s in servers
        )
    except ValueError:
        return False


def build(target: Target, facts: SystemFacts, lan: Sequence[str] = ()) -> Plan:
    """The system plan for what `detect` found (or facts a test made up)."""
    table = render_table(facts, lan)
    steps = [
        *_accounts(target, facts),
        *_home(target, facts),
        *stores.system_trust_steps(target, facts.trust_store),
        *_table_files(target, table),
        *_units(target, facts),
        *_resolver(target, facts),
    ]
    notes = [
        "Every program of every user except candor is filtered: web traffic (TCP 80 and 443) "
        "goes to Candor's transparent listener, DNS (port 53) to Candor's DNS; QUIC and "
        "DNS-over-TLS are refused. No proxy setting is needed.",
        f"Add the people who may run `candor` against the system home to {ADMIN_GROUP}: "
        f"usermod -aG {ADMIN_GROUP} NAME (they log in again afterwards).",
        "Restart your browsers afterwards: they read certificates at start.",
    ]
    if facts.resolved_uid is not None and not facts.stub_resolver:
        notes.append(
            f"systemd-resolved's user ({RESOLVED_USER}) is left alone; {RESOLV_CONF} already "
            "names real resolvers, so programs' lookups go to Candor's DNS."
        )
    if target.relocated:
        notes.append(
            f"Relocated to {target.root}: commands that act on the running system "
            "(systemctl, loading the table) are left out."
        )
    return Plan(
        os="linux",
        root=target.root,
        steps=tuple(steps),
        notes=tuple(notes),
        proxy=f"127.0.0.1:{TRANSPARENT_PORT} (transparent)",
        trust_bundle=stores.system_bundle(target, facts.trust_store),
        ca_sha256=ca_sha256(target.ca_pem),
        mode="system",
    )


def render_table(facts: SystemFacts, lan: Sequence[str] = ()) -> str:
    """The nftables table this install loads: every user but candor (and systemd-resolved)."""
    exempt = () if facts.resolved_uid is None else (facts.resolved_uid,)
    return linux_nftables.render(
        linux_nftables.Capture(
            candor_uid=facts.candor_uid,
            transparent_port=TRANSPARENT_PORT,
            dns_port=DNS_PORT,
            lan=tuple(lan),
            exempt_uids=exempt,
        )
    )


# --- the user, the group, the home ------------------------------------------------------------


def _accounts(target: Target, facts: SystemFacts) -> list[Step]:
    prefix = ("--prefix", str(target.root)) if target.relocated else ()
    steps = []
    if not facts.admin_group_exists:
        steps.append(
            Step(
                "system.group.admin",
                f"Create the group {ADMIN_GROUP} (gid {facts.admin_gid}) for the people allowed "
                "to run candor against the system home",
                Run(
                    ("groupadd", *prefix, "--system", "--gid", str(facts.admin_gid), ADMIN_GROUP),
                    (("groupdel", *prefix, ADMIN_GROUP),),
                ),
                admin=True,
                group="service",
            )
        )
    if not facts.group_exists:
        steps.append(
            Step(
                "system.group.candor",
                f"Create the group {USER} (gid {facts.candor_gid}) for Candor's service",
                Run(
                    ("groupadd", *prefix, "--system", "--gid", str(facts.candor_gid), USER),
                    (("groupdel", *prefix, USER),),
                ),
                admin=True,
                group="service",
            )
        )
    if not facts.user_exists:
        useradd = (
            "useradd", *prefix, "--system", "--uid", str(facts.candor_uid),
            "--gid", str(facts.candor_gid), "--home-dir", str(SYSTEM_HOME),
            "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Candor filter", USER,
        )  # fmt: skip
        steps.append(
            Step(
                "system.user",
                f"Create the system user {USER} (uid {facts.candor_uid}, no login): Candor "
                "runs as it, and its own connections are the only ones not filtered",
                Run(useradd, (("userdel", *prefix, USER),)),
                admin=True,
                group="service",
            )
        )
    if not facts.probe_user_exists:
        steps += _probe_account(prefix, make_group=not facts.probe_group_exists)
    return steps


def _probe_account(prefix: tuple[str, ...], make_group: bool) -> list[Step]:
    """The probe's own group (unless it exists) and user: an ordinary account, filtered like
    anyone's."""
    useradd = (
        "useradd", *prefix, "--system", "--gid", PROBE_USER, "--no-create-home",
        "--shell", "/usr/sbin/nologin", "--comment", "Candor self-check probe", PROBE_USER,
    )  # fmt: skip
    group = [
        Step(
            "system.group.probe",
            f"Create the group {PROBE_USER} for the self-check's probe user",
            Run(
                ("groupadd", *prefix, "--system", PROBE_USER),
                (("groupdel", *prefix, PROBE_USER),),
            ),
            admin=True,
            group="service",
        )
    ]
    return [
        *(group if make_group else []),
        Step(
            "system.user.probe",
            f"Create the user {PROBE_USER} (no login, no rights): every 5 minutes the "
            "self-check looks a test name up and connects to it as this user, which shows "
            "that ordinary users' traffic still reaches Candor",
            Run(useradd, (("userdel", *prefix, PROBE_USER),)),
            admin=True,
            group="service",
        ),
    ]


def _share_with_group(home: str, *kept: str) -> tuple[str, ...]:
    """`find` giving the group the owner's rights on all the home holds but the `kept` folders."""
    pruned: list[str] = []
    for folder in kept:
        pruned += [*(["-o"] if pruned else []), "-path", folder]
    return ("find", home, "-mindepth", "1", "(", *pruned, ")", "-prune", "-o",
            "-exec", "chmod", "g=u", "{}", "+")  # fmt: skip


def _home(target: Target, facts: SystemFacts) -> list[Step]:
    h = target.home
    home = str(h.root)
    shared = [str(p) for p in (h.root, h.rules_dir, h.lists_dir, h.list_cache_dir, h.state_dir)]
    return [
        Step(
            "system.home.owner",
            f"Give the system home {home} to {USER}, group {ADMIN_GROUP} (on uninstall: to root, "
            "kept with its journal)",
            Run(
                ("chown", "-R", f"{facts.candor_uid}:{facts.admin_gid}", home),
                (("chown", "-R", "0:0", home), ("chmod", "00700", home)),
            ),
            admin=True,
            group="service",
        ),
        Step(
            "system.home.mode",
            f"Let {ADMIN_GROUP} in and nobody else (mode 2770: new files keep the group; the "
            "CA key and signing keys stay candor's alone)",
            Run(("chmod", "2770", *shared)),
            admin=True,
            group="service",
        ),
        Step(
            "system.home.files",
            f"Let {ADMIN_GROUP} read and change what the home already holds, as its owner can "
            "(not the CA key or the signing keys)",
            Run(_share_with_group(home, str(h.keys_dir), str(h.confdir))),
            admin=True,
            group="service",
        ),
        Step(
            "system.home.marker",
            f"Tell `candor` where the system home is ({SYSTEM_HOME_MARKER})",
            WriteFile(target.system(str(SYSTEM_HOME_MARKER)), f"{home}\n".encode()),
            admin=True,
            group="service",
        ),
    ]


# --- the table and the services ---------------------------------------------------------------


def _table_files(target: Target, table: str) -> list[Step]:
    return [
        Step(
            "system.table.file",
            "The nftables table that sends every other user's web and DNS traffic to Candor",
            WriteFile(target.system(TABLE_FILE), table.encode()),
            admin=True,
            group="capture",
        ),
        Step(
            "system.table.kept",
            "A copy of the table in the system home, for the self-check's content hash",
            WriteFile(PurePath(target.home.root) / KEPT_TABLE, table.encode()),
            admin=True,
            group="capture",
        ),
    ]


def agent_unit(target: Target) -> str:
    """The system unit that runs Candor as user candor, on the ports the table redirects to."""
    run = (
        *target.candor, "run",
        "--transparent", f"127.0.0.1:{TRANSPARENT_PORT}",
        "--transparent", f"[::1]:{TRANSPARENT_PORT}",
        "--dns", f"127.0.0.1:{DNS_PORT}",
        "--dns", f"[::1]:{DNS_PORT}",
        "--capture-table", str(PurePath(target.home.root) / KEPT_TABLE),
    )  # fmt: skip
    return (
        "[Unit]\n"
        "Description=Candor filter for every user of this computer\n"
        f"Wants=network-online.target {TABLE_UNIT}\n"
        f"After=network-online.target {TABLE_UNIT}\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"User={USER}\n"
        f"Group={USER}\n"
        f"SupplementaryGroups={ADMIN_GROUP}\n"
        "UMask=0007\n"
        "AmbientCapabilities=CAP_NET_ADMIN\n"
        "CapabilityBoundingSet=CAP_NET_ADMIN\n"
        "NoNewPrivileges=yes\n"
        f"UnsetEnvironment={NO_PROXY_ENV}\n"
        f"ExecStart={unit_command(*run)}\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def table_unit(target: Target, facts: SystemFacts) -> str:
    """The unit that loads Candor's table early at boot, before the network comes up."""
    table = unit_command(str(target.system(TABLE_FILE)))
    delete = f"-{facts.nft} delete table {linux_nftables.FAMILY} {linux_nftables.TABLE}"
    return (
        "[Unit]\n"
        "Description=Candor: the nftables table that sends every user's traffic to Candor\n"
        "DefaultDependencies=no\n"
        "Wants=network-pre.target\n"
        "Before=network-pre.target shutdown.target\n"
        "Conflicts=shutdown.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStartPre={delete}\n"
        f"ExecStart={facts.nft} -f {table}\n"
        f"ExecStop={delete}\n"
        "\n"
        "[Install]\n"
        "WantedBy=sysinit.target\n"
    )


def report_unit(target: Target) -> str:
    """The system unit that sends the weekly report if it is due, as user candor."""
    return linux.report_unit(
        target, f"User={USER}\nGroup={USER}\nSupplementaryGroups={ADMIN_GROUP}\nUMask=0007\n"
    )


def probe_unit(target: Target) -> str:
    """The root job that makes the self-check's probe as the probe user (`candor selfcheck
    --probe`): the agent journals it missing when it stops arriving."""
    probe = (*target.candor, "selfcheck", "--probe")
    return (
        "[Unit]\n"
        "Description=Candor: check that ordinary users' traffic reaches Candor\n"
        f"After={UNIT}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"UnsetEnvironment={NO_PROXY_ENV}\n"
        f"ExecStart={unit_command(*probe, '--user', PROBE_USER)}\n"
    )


def probe_timer() -> str:
    """Runs the probe job two minutes after boot and every PROBE_EVERY after that."""
    return (
        "[Unit]\n"
        "Description=Candor: the self-check's probe, every few minutes\n"
        "\n"
        "[Timer]\n"
        "OnBootSec=2min\n"
        f"OnUnitActiveSec={PROBE_EVERY}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def _units(target: Target, facts: SystemFacts) -> list[Step]:
    units = target.system(UNIT_DIR)
    live = not target.relocated
    steps = []
    if live:
        steps.append(
            Step(
                "service.reload-after-removal",
                "Tell systemd the Candor units are gone (on uninstall)",
                Run(None, (("systemctl", "daemon-reload"),)),
                admin=True,
                group="service",
            )
        )
    files = (
        (TABLE_UNIT, table_unit(target, facts), "The service that loads the table at every boot"),
        (UNIT, agent_unit(target), f"Candor's service, running as {USER}"),
        (REPORT_UNIT, report_unit(target), "The weekly report job"),
        (REPORT_TIMER, report_timer(), "A weekly timer for the report job, as a backstop"),
        (ALERTS_TIMER, alerts_timer(), "A timer that runs the report job every 5 minutes"),
        (PROBE_UNIT, probe_unit(target), f"The self-check's probe job, run as {PROBE_USER}"),
        (PROBE_TIMER, probe_timer(), "A timer that runs the probe every 5 minutes"),
    )
    for name, text, summary in files:
        steps.append(
            Step(
                f"service.{name}",
                summary,
                WriteFile(units / name, text.encode()),
                admin=True,
                group="service",
            )
        )
    if live:
        names = (TABLE_UNIT, UNIT, REPORT_TIMER, PROBE_TIMER, ALERTS_TIMER)
        steps += [
            Step(
                "service.reload",
                "Tell systemd about the Candor units",
                Run(("systemctl", "daemon-reload")),
                admin=True,
                group="service",
            ),
            Step(
                "service.enable",
                "Load the table and start Candor now and at every boot; start the report and "
                "probe timers "
                "(on uninstall: stop them, which takes the table out)",
                Run(
                    ("systemctl", "enable", "--now", *names),
                    (("systemctl", "disable", "--now", *names),),
                ),
                admin=True,
                group="service",
            ),
            Step(
                "service.restart",
                "Reload the table and restart Candor so they are this version",
                Run(("systemctl", "restart", TABLE_UNIT, UNIT)),
                admin=True,
                group="service",
            ),
        ]
    return steps


# --- the resolver -----------------------------------------------------------------------------


def _resolver(target: Target, facts: SystemFacts) -> list[Step]:
    if not facts.stub_resolver:
        return []
    return [
        Step(
            "system.resolver",
            f"Programs ask the real resolvers, not systemd-resolved's stub at 127.0.0.53: "
            f"{RESOLV_CONF} becomes a link to {RESOLVED_UPLINK}, so their lookups (port 53) "
            "reach Candor's DNS (on uninstall: put back exactly as it was)",
            Link(target.system(RESOLV_CONF), RESOLVED_UPLINK_LINK),
            admin=True,
            group="capture",
        )
    ]
