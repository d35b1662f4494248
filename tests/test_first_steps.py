"""A newcomer's first `candor run` (issue 17, item 1): it says what is missing and how to fix it,
a taken port is one sentence, and the CA carries Candor's name, not mitmproxy's."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.cli.first_steps import first_steps
from agent.config import Home
from agent.proxy.ca import ca_common_name
from tests.conftest import candor
from tests.proxy_fixtures import start_agent

PERSON = (
    "--yes", "--your-name", "Alex", "--partner-name", "Sam", "--partner-email", "sam@example.org",
)  # fmt: skip


def test_a_first_run_says_what_is_missing_and_names_its_ca(tmp_path: Path) -> None:
    home = tmp_path / "home"
    candor(home, "config", "check")  # a plain new home, made as any command makes it
    (home / "config.toml").write_text('[device]\nname = "Alex laptop"\n')
    agent = start_agent(home, "--listen", "127.0.0.1:0")
    try:
        deadline = time.monotonic() + 20
        while "No accountability partner yet" not in "".join(agent.stdout_lines):
            assert time.monotonic() < deadline, agent.stdout_lines
            time.sleep(0.05)
        said = "".join(agent.stdout_lines)
        assert said.startswith("candor listening on ")
        assert "Before Candor can fully help:" in said
        assert "Run `candor install`" in said and "mitmproxy-ca-cert.pem" in said
        assert "`candor init`" in said
    finally:
        agent.stop()
    cert = x509.load_pem_x509_certificate(agent.ca_cert.read_bytes())
    names = {a.oid: a.value for a in cert.subject}
    assert names[NameOID.COMMON_NAME] == "Candor local filter — Alex laptop"
    assert names[NameOID.ORGANIZATION_NAME] == "Candor"
    assert cert.issuer == cert.subject
    assert "mitmproxy" not in cert.subject.rfc4514_string()


def test_first_steps_end_as_the_person_takes_them(tmp_path: Path) -> None:
    home_dir = tmp_path / "home"
    candor(home_dir, "config", "check")
    home = Home.at(home_dir)
    assert [s.what.split()[0] for s in first_steps(home)] == ["Browsers", "No"]
    candor(home_dir, "init", *PERSON, check=True)
    assert [s.what.split()[0] for s in first_steps(home)] == ["Browsers"]
    status = candor(home_dir, "status", "--no-verify")
    assert "Run `candor install`" in status.stdout
    assert "No accountability partner yet" not in status.stdout


def test_a_port_in_use_is_one_sentence_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = candor(tmp_path / "home", "run", "--listen", f"127.0.0.1:{port}", timeout=60)
    assert proc.returncode == 1
    said = proc.stderr.strip()
    assert said == (
        f"candor: 127.0.0.1:{port} is already in use by another program (is Candor already "
        "running? `candor status` says). Start it on another port with --listen "
        "127.0.0.1:PORT."
    )
    assert "Errno" not in proc.stderr


def test_the_ca_name_fits_x509() -> None:
    assert ca_common_name("vm") == "Candor local filter — vm"
    assert len(ca_common_name("x" * 64)) == 64
    assert ca_common_name("  ") == "Candor local filter — this computer"
