"""`candor install --system` and `candor uninstall --system` on Linux (issue 13): the plan and its
unit files are pinned; the real executor runs into a temporary root (`--root DIR`: useradd and
groupadd with `--prefix`, chown, the resolver link); uninstall puts DIR back, /etc/resolv.conf
byte for byte; and the kept table loads into a network namespace and lists back unchanged.

systemd is not PID 1 here, so `systemctl` steps are only checked in the printed plan. Refresh the
snapshots after an intended change with `pytest tests/test_install_system.py --update-snapshots`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest

from agent.cli.console import UserError
from agent.cli.install import uninstall as run_uninstall
from agent.config import Home
from agent.config.home import SHARED_FOLDER_MODE, home_path, system_home
from installers.plan import Link, step_from_json, step_to_json
from installers.platforms import linux_nftables, linux_system
from installers.printer import format_plan, format_undo
from installers.record import load_record
from installers.target import Target
from tests.conftest import REPO, command, require_tool
from tests.netns import NetNamespace, netns, require_root  # noqa: F401  (the fixture)
from tests.snapshot_compare import UPDATE_FLAG, compare_snapshot
from tests.test_install_linux import debian_dirs

SNAPSHOTS = Path(__file__).parent / "snapshots"
CA = (SNAPSHOTS / "install-ca-cert.pem").read_bytes()
STUB = b"# systemd-resolved's stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
UPLINK = b"nameserver 192.0.2.53\nnameserver 2001:db8::53\n"
RESOLVED_UID = 990

Snapshot = Callable[[str, bytes | str], None]


@pytest.fixture
def snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """Compare with tests/snapshots/NAME; rewrite it only under `--update-snapshots`."""
    update = bool(request.config.getoption(UPDATE_FLAG))
    return lambda name, data: compare_snapshot(SNAPSHOTS / name, data, update=update)


def system_target(root: str = "/") -> Target:
    r = PurePosixPath(root)
    return Target(
        home=Home.at(r / "var/lib/candor"),
        root=r,
        user_home=PurePosixPath("/root"),
        config_dir=PurePosixPath("/root/.config"),
        data_dir=PurePosixPath("/root/.local/share"),
        host="127.0.0.1",
        port=8080,
        program=("/opt/candor/venv/bin/candor",),
        ca_pem=CA,
    )


FACTS = linux_system.SystemFacts(
    trust_store="debian",
    candor_uid=999,
    candor_gid=999,
    admin_gid=998,
    resolved_uid=RESOLVED_UID,
    stub_resolver=True,
)


# --- the plan, pinned -----------------------------------------------------------------------


def test_system_plan_and_units_are_pinned(snapshot: Snapshot) -> None:
    plan = linux_system.build(system_target(), FACTS, lan=["192.168.1.0/24", "fd00::/8"])
    snapshot("install-system-plan.txt", format_plan(plan, "directly"))
    snapshot("install-system-undo.txt", format_undo(plan.steps, "directly"))
    files = {str(s.action.path): s.action.data for s in plan.steps if hasattr(s.action, "data")}
    unit = files["/etc/systemd/system/candor.service"].decode()
    snapshot("install-system-candor.service", unit)
    snapshot(
        "install-system-candor-nftables.service",
        files["/etc/systemd/system/candor-nftables.service"],
    )
    snapshot(
        "install-system-candor-report.service", files["/etc/systemd/system/candor-report.service"]
    )
    snapshot("install-system-table.nft", files["/etc/candor/candor.nft"])
    assert "User=candor\n" in unit and "AmbientCapabilities=CAP_NET_ADMIN\n" in unit
    assert (
        "ExecStart=/opt/candor/venv/bin/candor --home /var/lib/candor run --transparent "
        "127.0.0.1:8081 --transparent [::1]:8081 --dns 127.0.0.1:8053 --dns [::1]:8053 "
        "--capture-table /var/lib/candor/state/system-table.nft\n" in unit
    )
    assert files["/etc/candor/candor.nft"] == files["/var/lib/candor/state/system-table.nft"]
    assert files["/etc/candor/system-home"] == b"/var/lib/candor\n"
    table = files["/etc/candor/candor.nft"].decode()
    assert f"meta skuid {{ {RESOLVED_UID}, 999 }} return" in table  # candor and resolved
    assert "th dport 53 redirect to :8053" in table
    assert plan.mode == "system"


def test_the_plan_says_every_step_before_anything_happens() -> None:
    text = format_plan(linux_system.build(system_target(), FACTS), "directly")
    for words in (
        "groupadd --system --gid 998 candor-admin",
        "useradd --system --uid 999 --gid 999 --home-dir /var/lib/candor --no-create-home",
        "chown -R 999:998 /var/lib/candor",
        "chmod 2770 /var/lib/candor",
        "systemctl enable --now candor-nftables.service candor.service candor-report.timer",
        "make /etc/resolv.conf a link to ../run/systemd/resolve/resolv.conf",
        "update-ca-certificates",
    ):
        assert words in text, words


def test_what_exists_already_is_neither_created_nor_removed() -> None:
    facts = replace(
        FACTS,
        user_exists=True,
        group_exists=True,
        admin_group_exists=True,
        probe_user_exists=True,
    )
    text = format_plan(linux_system.build(system_target(), facts), "directly")
    assert "useradd" not in text and "groupadd" not in text


def test_real_resolvers_in_resolv_conf_are_left_alone() -> None:
    plan = linux_system.build(system_target(), replace(FACTS, stub_resolver=False))
    assert not any(isinstance(s.action, Link) for s in plan.steps)


def test_system_steps_round_trip_through_the_record() -> None:
    for root in ("/", "/tmp/root"):
        for step in linux_system.build(system_target(root), FACTS).steps:
            assert step_from_json(step_to_json(step), "linux") == step


def test_relocated_plan_leaves_out_systemctl_and_uses_prefix() -> None:
    plan = linux_system.build(system_target("/tmp/root"), FACTS)
    argvs = [s.action.argv for s in plan.steps if getattr(s.action, "argv", None)]
    assert not any(a[0] == "systemctl" for a in argvs)
    assert all(
        a[1:3] == ("--prefix", "/tmp/root") for a in argvs if a[0] in ("useradd", "groupadd")
    )


# --- the CLI finds the system home ----------------------------------------------------------


def test_the_marker_names_the_system_home_and_home_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANDOR_HOME", raising=False)
    marker = tmp_path / "system-home"
    assert system_home(marker) is None
    marker.write_text("/var/lib/candor\n")
    assert home_path(None, marker) == Path("/var/lib/candor")
    assert home_path(str(tmp_path / "mine"), marker) == tmp_path / "mine"
    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "env"))
    assert home_path(None, marker) == tmp_path / "env"
    marker.write_text("relative/path\n")
    monkeypatch.delenv("CANDOR_HOME")
    assert home_path(None, marker) != Path("relative/path")


def test_a_shared_home_keeps_its_group_mode(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "system")
    home.root.mkdir()
    os.chmod(home.root, SHARED_FOLDER_MODE)
    home.ensure()
    assert stat.S_IMODE(home.root.stat().st_mode) == SHARED_FOLDER_MODE
    assert stat.S_IMODE(home.rules_dir.stat().st_mode) == SHARED_FOLDER_MODE
    assert stat.S_IMODE(home.confdir.stat().st_mode) == 0o700  # the CA key stays private


# --- the real executor into a temporary root ------------------------------------------------


def make_root(r: Path, resolv: str) -> None:
    """A root with passwd files, systemd-resolved's stub, and a Debian trust store."""
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/bash\nsystemd-resolve:x:{RESOLVED_UID}:{RESOLVED_UID}::/:"
        "/usr/sbin/nologin\n"
    )
    (r / "etc/group").write_text(f"root:x:0:\nsystemd-resolve:x:{RESOLVED_UID}:\n")
    for name in ("shadow", "gshadow"):
        (r / "etc" / name).write_text("")
        os.chmod(r / "etc" / name, 0o640)
    resolved = r / "run/systemd/resolve"
    resolved.mkdir(parents=True)
    (resolved / "stub-resolv.conf").write_bytes(STUB)
    (resolved / "resolv.conf").write_bytes(UPLINK)
    if resolv == "link":
        (r / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    else:
        (r / "etc/resolv.conf").write_bytes(STUB)
        os.chmod(r / "etc/resolv.conf", 0o600)
    for folder in (
        "usr/local/share/ca-certificates",
        "usr/share/ca-certificates/mozilla",
        "etc/ssl/certs",
        "etc/ca-certificates/update.d",
    ):
        (r / folder).mkdir(parents=True)
    source = Path("/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt")
    if not source.exists():
        pytest.fail(f"{source} is missing (Debian package ca-certificates)")
    (r / "usr/share/ca-certificates/mozilla" / source.name).write_bytes(source.read_bytes())
    (r / "etc/ca-certificates.conf").write_text(f"mozilla/{source.name}\n")
    subprocess.run(
        ["update-ca-certificates", "--fresh", *debian_dirs(r)], check=True, capture_output=True
    )


def tree(r: Path) -> dict[str, str]:
    """Every path under r with its kind, mode, owner and content hash (or link target); the
    backups shadow's tools leave (passwd- and the like) are not Candor's."""
    found = {}
    for path in sorted(r.rglob("*")):
        rel = str(path.relative_to(r))
        if rel.startswith("etc/") and rel.endswith("-"):
            continue
        st = path.lstat()
        owner = f"{st.st_uid}:{st.st_gid}"
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = f"dir {st.st_mode & 0o7777:o} {owner}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = f"file {st.st_mode & 0o7777:o} {owner} {digest}"
    return found


def system_candor(r: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`candor ARGS --system --root r`, with no --home: the CLI finds the system home itself."""
    env = {k: v for k, v in os.environ.items() if k != "CANDOR_HOME"}
    env.update(HOME=str(r.parent / "root-home"), COLUMNS="200")
    return subprocess.run(
        command(*args, "--system", "--root", str(r)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("resolv", ["link", "file"])
def test_install_system_into_a_root_and_uninstall_puts_it_back(tmp_path: Path, resolv: str) -> None:
    require_root()
    for tool in ("useradd", "groupadd", "userdel", "groupdel", "update-ca-certificates"):
        require_tool(tool)
    r = tmp_path / "root"
    make_root(r, resolv)
    before = tree(r)
    resolv_before = (r / "etc/resolv.conf").read_bytes()

    done = system_candor(r, "install", "--lan", "192.168.1.0/24")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Candor install plan for Linux")  # the plan, before the steps
    assert done.stdout.index("useradd") < done.stdout.index("• Create the group")

    passwd = (r / "etc/passwd").read_text()
    assert "candor:x:999:999:Candor filter:/var/lib/candor:/usr/sbin/nologin\n" in passwd
    assert "candor-admin:x:998:\n" in (r / "etc/group").read_text()
    home = r / "var/lib/candor"
    st = home.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (999, 998, 0o2770)
    assert (r / "etc/candor/system-home").read_text() == f"{home}\n"
    unit = (r / "etc/systemd/system/candor.service").read_text()
    assert f"--home {home} run --transparent 127.0.0.1:8081" in unit
    kept = (home / "state/system-table.nft").read_text()
    assert kept == (r / "etc/candor/candor.nft").read_text()
    assert "meta skuid { 990, 999 } return" in kept and "192.168.1.0/24" in kept
    assert os.readlink(r / "etc/resolv.conf") == "../run/systemd/resolve/resolv.conf"
    assert (r / "etc/resolv.conf").read_bytes() == UPLINK
    assert "-----BEGIN CERTIFICATE-----" in (r / "etc/ssl/certs/ca-certificates.crt").read_text()

    record = load_record(Home.at(home))
    assert record is not None and record.mode == "system"
    prior = next(p for s, p, _ in record.steps() if s.id == "system.resolver")
    if resolv == "link":
        assert prior == {"kind": "link", "target": "../run/systemd/resolve/stub-resolv.conf"}
    else:
        assert prior["kind"] == "file" and prior["mode"] == 0o600
        assert prior["uid"] == 0 and prior["gid"] == 0

    installed = tree(r)
    again = system_candor(r, "install", "--lan", "192.168.1.0/24")
    assert again.returncode == 0, again.stdout + again.stderr
    assert tree(r) == installed  # installing again changes nothing

    per_user = subprocess.run(
        command("--home", str(home), "uninstall", "--root", str(r), "--without-notice"),
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert per_user.returncode == 1 and "holds the system install" in per_user.stderr
    gone = system_candor(r, "uninstall", "--without-notice")
    assert gone.returncode == 0, gone.stdout + gone.stderr

    assert (r / "etc/resolv.conf").read_bytes() == resolv_before
    after = tree(r)
    kept_home = {k: v for k, v in after.items() if k.startswith("var")}
    assert {k: v for k, v in after.items() if not k.startswith("var")} == {
        k: v for k, v in before.items() if not k.startswith("var")
    }
    assert kept_home["var/lib/candor"] == "dir 700 0:0"  # the journal is kept, root's alone
    assert "var/lib/candor/journal.sqlite" in kept_home
    assert not any("mitmproxy-ca" in k for k in kept_home)  # the CA and its key are gone

    removed = system_candor(r, "uninstall", "--without-notice", "--remove-home")
    assert removed.returncode == 0, removed.stdout + removed.stderr


def test_uninstall_system_refuses_a_per_user_record(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "home")
    home.ensure()
    (home.state_dir / "install.json").write_text(
        json.dumps({"version": 1, "os": "linux", "root": "/", "steps": []})
    )
    args = argparse.Namespace(dry_run=False, without_notice=True, root=None, system=True)
    with pytest.raises(UserError, match="per-user install"):
        run_uninstall(home, args, notify=None)


# --- the kept table, loaded for real --------------------------------------------------------


def test_the_kept_table_loads_and_lists_back_unchanged(
    netns: NetNamespace,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    for tool in ("useradd", "groupadd"):
        require_tool(tool)
    r = tmp_path / "root"
    make_root(r, "link")
    done = system_candor(r, "install")
    assert done.returncode == 0, done.stdout + done.stderr
    entry = next(x for x in (r / "etc/passwd").read_text().splitlines() if x.startswith("candor:"))
    uid = int(entry.split(":")[2])
    kept = (r / "var/lib/candor/state/system-table.nft").read_text()
    assert f"meta skuid {{ {RESOLVED_UID}, {uid} }} return" in kept
    nft = require_tool("nft")
    netns.load_nft(
        "table ip other {\n\tchain out {\n\t\ttype filter hook output priority 0;\n\t}\n}\n"
    )
    before = netns.run(nft, "list", "ruleset").stdout  # someone else's table is there already
    try:
        netns.load_nft(kept)
        listed = netns.run(nft, "list", "table", "inet", "candor").stdout
        assert listed == kept
        assert (
            hashlib.sha256(listed.encode()).hexdigest() == hashlib.sha256(kept.encode()).hexdigest()
        )
        # What the table unit's stop (and so uninstall) runs leaves the ruleset as it was.
        netns.load_nft(linux_nftables.delete_command())
        assert netns.run(nft, "list", "ruleset").stdout == before
    finally:
        netns.run(nft, "delete", "table", "inet", "candor", check=False)


def test_the_probe_runs_as_its_own_ordinary_user_every_five_minutes() -> None:
    """Issue 13, item 4: a root timer makes the self-check's probe as candor-probe, a user the
    table does not exempt, and the agent is told which table to expect."""
    target = system_target()
    unit = linux_system.probe_unit(target)
    assert "selfcheck --probe --user candor-probe\n" in unit
    assert "User=" not in unit  # root starts it; the probe drops to candor-probe itself
    assert "OnUnitActiveSec=5min" in linux_system.probe_timer()
    plan = format_plan(linux_system.build(target, FACTS), "directly")
    assert "useradd --system --gid candor-probe" in plan
    assert "candor-probe.timer" in plan
    table = linux_system.render_table(FACTS)
    assert "candor-probe" not in table  # never exempt: its traffic must reach Candor
