"""`candor install` / `uninstall` on Linux with the real tools, into a temporary root.

update-ca-certificates, certutil, gsettings (keyfile backend) and kwriteconfig5 all run for real
against files under tmp_path; HOME and XDG variables point there too. After uninstall the tree
must be byte-identical to before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.cli.console import UserError
from agent.config import Home
from agent.health.selfcheck import last_result
from agent.journal import Journal
from reporter import consent
from tests.conftest import candor, require_tool
from tests.origins import Origin, OriginCert, free_port
from tests.proxy_fixtures import client_context, start_agent
from tests.report_helpers import next_report

pytestmark = pytest.mark.slow  # real tools and browsers: seconds, not milliseconds

PORT = 18080
TOOLS = ("update-ca-certificates", "certutil", "openssl", "gsettings", "kwriteconfig5")
MOZ_CERTS = ("ISRG_Root_X1", "DigiCert_Global_Root_G2")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for tool in TOOLS:
        require_tool(tool)
    r = tmp_path / "root"
    user = r / "home" / "sam"
    for folder in (
        "usr/local/share/ca-certificates",
        "usr/share/ca-certificates/mozilla",
        "etc/ssl/certs",
        "etc/ca-certificates/update.d",
        "etc/firefox/policies",
    ):
        (r / folder).mkdir(parents=True)
    user.mkdir(parents=True)
    conf = []
    for name in MOZ_CERTS:
        source = Path(f"/usr/share/ca-certificates/mozilla/{name}.crt")
        if not source.exists():
            pytest.fail(f"{source} is missing (Debian package ca-certificates)")
        (r / "usr/share/ca-certificates/mozilla" / source.name).write_bytes(source.read_bytes())
        conf.append(f"mozilla/{source.name}")
    (r / "etc/ca-certificates.conf").write_text("\n".join(conf) + "\n")
    subprocess.run(
        ["update-ca-certificates", "--fresh", *debian_dirs(r)], check=True, capture_output=True
    )
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(user / ".local" / "share"))
    monkeypatch.setenv("GSETTINGS_BACKEND", "keyfile")
    return r


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "candor-home"
    h.mkdir()
    (h / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{PORT}"\n')
    return h


def debian_dirs(r: Path) -> list[str]:
    return [
        "--certsconf", f"{r}/etc/ca-certificates.conf",
        "--certsdir", f"{r}/usr/share/ca-certificates",
        "--localcertsdir", f"{r}/usr/local/share/ca-certificates",
        "--etccertsdir", f"{r}/etc/ssl/certs",
        "--hooksdir", f"{r}/etc/ca-certificates/update.d",
    ]  # fmt: skip


def tree(r: Path) -> dict[str, str]:
    """Every path under r with its kind, mode and content hash (or link target)."""
    found = {}
    for path in sorted(r.rglob("*")):
        rel = str(path.relative_to(r))
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = f"dir {path.stat().st_mode & 0o7777:o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = f"file {path.stat().st_mode & 0o7777:o} {digest}"
    return found


def install(home: Path, r: Path, *extra: str) -> subprocess.CompletedProcess:
    return candor(home, "install", "--root", str(r), *extra)


def uninstall(home: Path, r: Path, *extra: str) -> subprocess.CompletedProcess:
    return candor(home, "uninstall", "--root", str(r), *extra)


def gget(schema: str, key: str) -> str:
    out = subprocess.run(["gsettings", "get", schema, key], capture_output=True, text=True)
    return out.stdout.strip()


def kread(key: str) -> str:
    argv = ["kreadconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key", key]
    return subprocess.run(argv, capture_output=True, text=True).stdout.strip()


def leaf_for(home: Path, tmp_path: Path) -> Path:
    from mitmproxy.certs import CertStore

    store = CertStore.from_store(home / "mitmproxy", "mitmproxy", 2048)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(store.get_cert("www.example.test", []).cert.to_pem())
    return leaf


def test_install_wires_everything_and_uninstall_leaves_the_root_identical(
    root: Path, home: Path, tmp_path: Path
) -> None:
    before = tree(root)
    done = install(home, root)
    assert done.returncode == 0, done.stdout + done.stderr
    user = root / "home" / "sam"

    # System store: the bundle trusts Candor's CA for a leaf it signed.
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    leaf = leaf_for(home, tmp_path)
    verify = ["openssl", "verify", "-CAfile", str(bundle), str(leaf)]
    assert subprocess.run(verify, capture_output=True).returncode == 0

    # NSS: the database the installer created holds the CA, and it verifies the same leaf.
    db = user / ".local/share/pki/nssdb"
    exported = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}", "-n", "Candor local CA", "-a"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    (tmp_path / "from-nss.pem").write_bytes(exported)
    verify = ["openssl", "verify", "-CAfile", str(tmp_path / "from-nss.pem"), str(leaf)]
    assert subprocess.run(verify, capture_output=True).returncode == 0
    listing = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}"], capture_output=True, text=True
    ).stdout
    assert "Candor local CA" in listing and "C,," in listing

    # Desktop and terminal proxy settings.
    assert gget("org.gnome.system.proxy", "mode") == "'manual'"
    assert gget("org.gnome.system.proxy.https", "port") == str(PORT)
    assert kread("ProxyType") == "1"
    assert kread("httpsProxy") == f"http://127.0.0.1:{PORT}"
    env = (user / ".config/environment.d/candor.conf").read_text()
    assert f"https_proxy=http://127.0.0.1:{PORT}" in env

    # Browser policies.
    chromium = json.loads((root / "etc/chromium/policies/managed/candor.json").read_text())
    assert chromium["QuicAllowed"] is False and chromium["DnsOverHttpsMode"] == "off"
    assert chromium["ProxySettings"]["ProxyServer"] == f"127.0.0.1:{PORT}"
    policies = json.loads((root / "etc/firefox/policies/policies.json").read_text())
    assert validate(policies, FIREFOX_SCHEMA) == []
    # Locked: "No proxy" or DNS over HTTPS in Firefox's own settings cannot go around Candor.
    assert policies["policies"]["Proxy"]["Locked"] is True
    assert policies["policies"]["DNSOverHTTPS"] == {"Enabled": False, "Locked": True}
    assert (
        Path(policies["policies"]["Certificates"]["Install"][0]).read_bytes()
        == (home / "mitmproxy/mitmproxy-ca-cert.pem").read_bytes()
    )

    # The systemd units are valid.
    units = sorted((user / ".config/systemd/user").iterdir())
    assert [u.name for u in units] == [
        "candor-alerts.timer", "candor-report.service", "candor-report.timer", "candor.service"
    ]  # fmt: skip
    analyze = require_tool("systemd-analyze")
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr

    # Again: nothing changes, and the record still knows what was there first.
    installed = tree(root)
    again = install(home, root)
    assert again.returncode == 0, again.stderr
    assert tree(root) == installed

    gone = uninstall(home, root, "--without-notice")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(root) == before
    assert not (home / "state/install.json").exists()
    assert not (home / "mitmproxy/mitmproxy-ca.pem").exists()  # the private key is gone


def fingerprint(pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))).hexdigest()


def bundle_fingerprints(bundle: Path) -> set[str]:
    end = "-----END CERTIFICATE-----"
    blocks = bundle.read_text("ascii").split(end)[:-1]
    return {fingerprint((b[b.index("-----BEGIN") :] + end + "\n").encode()) for b in blocks}


def test_install_after_uninstall_makes_and_trusts_a_new_ca_that_intercepts(
    root: Path, home: Path, origin: Origin, origin_cert: OriginCert
) -> None:
    """Uninstall removes the CA's certificate with its key; the next install makes a new CA and
    trusts that one, and a real agent's intercepted answer verifies against the trust store."""
    (home / "rules").mkdir()
    (home / "rules" / "adult.txt").write_text("reinstalled.inspected.test/private\n")
    port = free_port()
    (home / "config.toml").write_text(f'[agent]\nlisten = "127.0.0.1:{port}"\n')
    ca_cert = home / "mitmproxy" / "mitmproxy-ca-cert.pem"
    assert install(home, root).returncode == 0
    first = ca_cert.read_bytes()
    gone = uninstall(home, root, "--without-notice")
    assert gone.returncode == 0, gone.stderr
    assert "certificate and private key are deleted" in gone.stdout
    assert list((home / "mitmproxy").glob("mitmproxy-ca*")) == []
    # An older Candor left the certificate behind without its key: that is no CA either.
    ca_cert.write_bytes(first)

    again = install(home, root)
    assert again.returncode == 0, again.stdout + again.stderr
    second = ca_cert.read_bytes()
    assert fingerprint(second) != fingerprint(first)
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    held = bundle_fingerprints(bundle)
    assert fingerprint(second) in held and fingerprint(first) not in held
    db = root / "home/sam/.local/share/pki/nssdb"
    exported = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}", "-n", "Candor local CA", "-a"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert fingerprint(exported) == fingerprint(second)

    running = start_agent(
        home, "--resolve", "*:127.0.0.1", "--upstream-ca", str(origin_cert.cert),
    )  # fmt: skip
    try:
        # Trusting only the installed bundle: an answer verifies only if Candor intercepted it.
        with httpx.Client(
            proxy=running.proxy_url, verify=client_context(bundle), timeout=10
        ) as client:
            response = client.get(origin.https("reinstalled.inspected.test", "/"))
            blocked = client.get(origin.https("reinstalled.inspected.test", "/private"))
        checked = wait_for_self_check(home)
    finally:
        assert running.stop() == 0
    assert response.status_code == 200
    assert response.json()["host"].startswith("reinstalled.inspected.test")
    assert blocked.status_code == 403
    # The partner is told nothing false: the self-check's canary comes back through the new CA.
    assert checked["ok"] is True, checked
    doc, text = next_report(home)
    assert doc["integrity"]["bypass"] == [] and "No signs of getting around the filter." in text


def wait_for_self_check(home: Path, timeout: float = 30.0) -> dict:
    """The agent's first self-check result (it checks itself about five seconds after it
    starts)."""
    deadline = time.monotonic() + timeout
    while (result := last_result(Home.at(home))) is None:
        assert time.monotonic() < deadline, "the agent never checked itself"
        time.sleep(0.1)
    return result


def test_uninstall_restores_the_previous_proxy_not_blank(root: Path, home: Path) -> None:
    for schema, key, value in (
        ("org.gnome.system.proxy.http", "host", "proxy.corp"),
        ("org.gnome.system.proxy.http", "port", "3128"),
        ("org.gnome.system.proxy", "mode", "manual"),
    ):
        subprocess.run(["gsettings", "set", schema, key, value], check=True)
    kde = ["kwriteconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key"]
    subprocess.run([*kde, "ProxyType", "1"], check=True)
    subprocess.run([*kde, "httpProxy", "http://proxy.corp 3128"], check=True)
    profile = root / "home/sam/.profile"
    profile.write_text("export EDITOR=vi")  # no newline at the end: it must come back so
    before = tree(root)
    settings = gsettings_all()

    assert install(home, root).returncode == 0
    assert gget("org.gnome.system.proxy.http", "host") == "'127.0.0.1'"
    login = subprocess.run(
        ["sh", "-c", f". {profile}; echo $EDITOR $https_proxy"], capture_output=True, text=True
    )
    assert login.stdout.split() == ["vi", f"http://127.0.0.1:{PORT}"]
    assert uninstall(home, root, "--without-notice").returncode == 0

    assert gget("org.gnome.system.proxy.http", "host") == "'proxy.corp'"
    assert gget("org.gnome.system.proxy.http", "port") == "3128"
    assert gget("org.gnome.system.proxy", "mode") == "'manual'"
    assert kread("httpProxy") == "http://proxy.corp 3128"
    assert gsettings_all() == settings
    # GLib's keyfile backend keeps an empty [system/proxy/https] group once a key in it was
    # reset; the values are the same, so compare everything else byte for byte.
    keyfile = "home/sam/.config/glib-2.0/settings/keyfile"
    assert {k: v for k, v in tree(root).items() if k != keyfile} == {
        k: v for k, v in before.items() if k != keyfile
    }


def gsettings_all() -> str:
    argv = ["gsettings", "list-recursively", "org.gnome.system.proxy"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_a_failing_step_stops_with_a_listed_state_that_undoes(root: Path, home: Path) -> None:
    blocker = root / "etc/chromium/policies/managed"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder\n")
    before = tree(root)

    failed = install(home, root)
    assert failed.returncode == 1
    assert "Install stopped at" in failed.stderr and "Chromium" in failed.stderr
    assert "candor uninstall" in failed.stderr
    record = json.loads((home / "state/install.json").read_text())
    states = {e["step"]["id"]: e["state"] for e in record["steps"]}
    assert states["trust.system.file"] == "applied"
    assert states["browsers.chromium." + str(blocker)] == "started"
    assert not any(i.startswith("proxy.") for i in states)  # nothing after the failure

    dry = uninstall(home, root, "--dry-run")
    assert dry.returncode == 0 and "Candor uninstall plan" in dry.stdout
    gone = uninstall(home, root, "--without-notice")
    assert gone.returncode == 0, gone.stderr
    assert tree(root) == before


def test_uninstall_with_no_partner_has_no_one_to_tell(root: Path, home: Path) -> None:
    assert install(home, root).returncode == 0
    gone = uninstall(home, root)
    assert gone.returncode == 0, gone.stderr
    assert "there is no one to tell" in gone.stdout


def test_uninstall_asks_before_removing_without_the_partner_notice(root: Path, home: Path) -> None:
    with (home / "config.toml").open("a") as config:
        config.write(
            '[partner]\nname = "Sam"\nemail = "sam@example.org"\n'
            '[delivery.smtp]\nhost = "127.0.0.1"\nport = 9\nsender = "me@example.org"\n'
        )
    with Journal(Home.at(home).journal_file) as journal:
        for what in ("given", "confirmed"):
            consent.record(journal, what, level="summary", name="Sam", email="sam@example.org")
    assert install(home, root).returncode == 0
    installed = tree(root)
    refused = uninstall(home, root)
    assert refused.returncode == 1
    assert "could not be told" in refused.stderr and "--without-notice" in refused.stderr
    assert tree(root) == installed  # nothing was removed

    from agent.cli.install import uninstall as run_uninstall

    args = argparse.Namespace(dry_run=False, without_notice=False, root=root)
    told: list[Path] = []
    with pytest.raises(UserError):
        run_uninstall(Home.at(home), args, notify=lambda h: False)
    assert run_uninstall(Home.at(home), args, notify=lambda h: told.append(h.root) or True) == 0
    assert told == [home]
    assert not (home / "state/install.json").exists()


def test_dry_run_changes_nothing(root: Path, home: Path) -> None:
    before = tree(root)
    shown = install(home, root, "--dry-run")
    assert shown.returncode == 0
    assert "[admin] Add Candor's certificate to the system trust store" in shown.stdout
    assert tree(root) == before
    assert not (home / "state/install.json").exists()
    other = candor(home, "install", "--dry-run", "--os", "windows")
    assert other.returncode == 0 and "certutil -user -addstore Root" in other.stdout


# --- the documented Firefox policy schema, the part Candor writes -----------------------------

FIREFOX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["policies"],
    "properties": {
        "policies": {
            "type": "object",
            "properties": {
                "Certificates": {
                    "type": "object",
                    "properties": {
                        "ImportEnterpriseRoots": {"type": "boolean"},
                        "Install": {"type": "array", "items": {"type": "string"}},
                    },
                    "additionalProperties": False,
                },
                "Proxy": {
                    "type": "object",
                    "properties": {
                        "Mode": {"enum": ["none", "system", "manual", "autoDetect", "autoConfig"]},
                        "Locked": {"type": "boolean"},
                        "HTTPProxy": {"type": "string"},
                        "UseHTTPProxyForAllProtocols": {"type": "boolean"},
                        "SSLProxy": {"type": "string"},
                        "FTPProxy": {"type": "string"},
                        "SOCKSProxy": {"type": "string"},
                        "SOCKSVersion": {"enum": [4, 5]},
                        "Passthrough": {"type": "string"},
                        "AutoConfigURL": {"type": "string"},
                        "AutoLogin": {"type": "boolean"},
                        "UseProxyForDNS": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
                "DNSOverHTTPS": {
                    "type": "object",
                    "properties": {
                        "Enabled": {"type": "boolean"},
                        "ProviderURL": {"type": "string"},
                        "Locked": {"type": "boolean"},
                        "ExcludedDomains": {"type": "array", "items": {"type": "string"}},
                        "Fallback": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
                "Preferences": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["Value"],
                        "properties": {
                            "Value": {"type": ["boolean", "number", "string"]},
                            "Status": {"enum": ["default", "locked", "user", "clear"]},
                            "Type": {"enum": ["number", "boolean", "string"]},
                        },
                        "additionalProperties": False,
                    },
                },
            },
        }
    },
}
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "number": (int, float)}


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The JSON Schema keywords the schema above uses: type, enum, required, properties,
    additionalProperties, items."""
    errors = []
    types = schema.get("type")
    if types is not None:
        wanted = [types] if isinstance(types, str) else types
        ok = any(
            isinstance(value, _TYPES[t]) and not (t == "number" and isinstance(value, bool))
            for t in wanted
        )
        if not ok:
            return [f"{where}: expected {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [
            f"{where}: {k} is required" for k in schema.get("required", []) if k not in value
        ]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                errors += validate(item, props[key], f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: unknown key {key}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{where}[{i}]")
    return errors


def test_the_schema_checker_catches_mistakes() -> None:
    bad = {"policies": {"Proxy": {"Mode": "manaul"}, "DNSOverHTTPS": {"Enabled": "no"}}}
    assert len(validate(bad, FIREFOX_SCHEMA)) == 2
