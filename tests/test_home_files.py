"""Files under the home (issue 12, item 14): what Candor creates is the person's alone (0600
files, 0700 folders), and what it reads is never followed through a link."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agent.config import Home
from agent.proxy.runner import Agent
from reporter.signing import SigningKeyError, load_private_key
from tests.conftest import candor

posix_only = pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")

SECRET = "root:$6$not-for-anyone-else\n"


@pytest.fixture
def umask_022():
    """The usual umask, so a writer that forgets its mode would leave a 0644 file."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@posix_only
@pytest.mark.usefixtures("umask_022")
def test_nothing_under_the_home_is_readable_by_others(home_dir: Path, tmp_path: Path) -> None:
    candor(
        home_dir, "init", "--yes", "--your-name", "Alex", "--partner-name", "Sam",
        "--partner-email", "sam@example.org", "--cooling-off", "1h", check=True,
    )  # fmt: skip
    source = tmp_path / "casinos.txt"
    source.write_text("casino.example\nbets.example\n")
    os.chmod(source, 0o644)
    candor(home_dir, "rules", "import", str(source), "--category", "gambling", check=True)
    candor(home_dir, "rules", "add", "social", "own.example", check=True)
    home = Home.at(home_dir)
    agent = Agent(home, listen="127.0.0.1:0")
    try:
        agent.begin()
        (home.rules_dir / "adult.txt").write_text("reloaded.example\n")
        assert agent.live.reload().applied
    finally:
        agent.end()
    candor(home_dir, "report", "send-due")
    candor(home_dir, "report", "preview", check=True)

    loose = []
    for folder, dirs, files in os.walk(home_dir):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                loose.append(f"{oct(mode)} {path.relative_to(home_dir)}")
    assert not loose, loose
    assert stat.S_IMODE(home_dir.stat().st_mode) == 0o700
    assert list((home_dir / "lists" / "gambling").iterdir())  # the import is there


def linked(path: Path, target: Path) -> None:
    if path.exists():
        path.unlink()
    path.symlink_to(target)


def test_config_toml_that_is_a_link_is_refused_not_followed(home_dir: Path, tmp_path: Path) -> None:
    candor(home_dir, "rules", "list", check=True)
    secret = tmp_path / "elsewhere.toml"
    secret.write_text(f'detail_level = "{SECRET.strip()}"\n')
    linked(home_dir / "config.toml", secret)

    check = candor(home_dir, "config", "check")
    said = " ".join(check.stderr.split())
    assert check.returncode == 1
    assert "config.toml: it is a link to another file" in said
    status = candor(home_dir, "status")
    listed = candor(home_dir, "rules", "list")
    for proc in (check, status, listed):
        assert "not-for-anyone-else" not in proc.stdout + proc.stderr
        assert str(secret) not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    assert listed.returncode == 0 and "link to another file" in listed.stderr


def test_a_signing_key_that_is_a_link_is_refused(home_dir: Path, tmp_path: Path) -> None:
    home = Home.at(home_dir)
    home.ensure()
    load_private_key(home)  # made once
    stolen = tmp_path / "someone-elses.pem"
    stolen.write_bytes((home.keys_dir / "signing_key").read_bytes())
    linked(home.keys_dir / "signing_key", stolen)

    with pytest.raises(SigningKeyError) as caught:
        load_private_key(home)
    assert "signing_key: it is a link to another file" in str(caught.value)
    assert str(stolen) not in str(caught.value)


def test_an_imported_list_that_is_a_link_is_not_read(home_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "casinos.txt"
    source.write_text("casino.example\n")
    candor(home_dir, "rules", "import", str(source), "--category", "gambling", check=True)
    data = next((home_dir / "lists" / "gambling").glob("*.list"))
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    linked(data, secret)

    checked = candor(home_dir, "rules", "check")
    assert "cannot read this imported list" in checked.stdout + checked.stderr
    assert "not-for-anyone-else" not in checked.stdout + checked.stderr
    meta = next((home_dir / "lists" / "gambling").glob("*.json"))
    elsewhere = tmp_path / "meta.json"
    elsewhere.write_text(json.dumps({"category": "gambling", "name": "x", "origin": SECRET}))
    linked(meta, elsewhere)
    shown = candor(home_dir, "rules", "list", "--json")
    assert "not-for-anyone-else" not in shown.stdout + shown.stderr
