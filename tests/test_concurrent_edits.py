"""Many edits of one file at once lose none of them (issue 12, item 5): each writer holds the
file's lock from its read to its write, writes a temp file of its own, and keeps the file 0600."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.config import Home, config_edit, load_config, save_config
from agent.config.files import edit_atomic, lock_file, locked, write_atomic
from tests.conftest import candor

ADDS = 20
REMOVES = 10


def rules_in(path: Path) -> set[str]:
    return {ln.strip() for ln in path.read_text("utf-8").splitlines() if ln.strip()}


def test_thirty_parallel_rules_commands_lose_no_rule(home_dir: Path) -> None:
    doomed = [f"old{i}.example" for i in range(REMOVES)]
    candor(home_dir, "rules", "add", "gambling", *doomed, check=True)
    path = home_dir / "rules" / "gambling.txt"
    starter = rules_in(path) - set(doomed)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    jobs = [("add", f"new{i}.example") for i in range(ADDS)] + [("remove", d) for d in doomed]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        done = list(
            pool.map(lambda job: candor(home_dir, "rules", job[0], "gambling", job[1]), jobs)
        )

    for (verb, rule), proc in zip(jobs, done, strict=True):
        assert proc.returncode == 0, f"rules {verb} {rule}: {proc.stdout}{proc.stderr}"
        assert ("Added to gambling: " if verb == "add" else "Removed from gambling: ") + rule in (
            proc.stdout
        )
    final = rules_in(path)
    assert {f"new{i}.example" for i in range(ADDS)} <= final  # every "Added" rule is there
    assert final.isdisjoint(doomed)  # every "Removed" rule is gone
    assert starter <= final  # and nothing else was lost
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [
        p.name for p in path.parent.iterdir() if p.name.startswith(".")
    ] == []  # no temp, no lock


def test_threads_editing_one_file_lose_no_edit(tmp_path: Path) -> None:
    path = tmp_path / "counter.txt"
    write_atomic(path, b"")

    def add_line(n: int) -> None:
        edit_atomic(path, lambda old: (old or b"") + f"{n}\n".encode())

    threads = [threading.Thread(target=add_line, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(x) for x in path.read_text().split()) == list(range(40))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not lock_file(path).exists()  # removed by its last holder


def test_a_write_inside_an_edit_does_not_wait_on_itself(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    with locked(path):
        write_atomic(path, "a = 1\n")
        assert edit_atomic(path, lambda old: (old or b"") + b"b = 2\n")
    assert path.read_text() == "a = 1\nb = 2\n"


def test_settings_edits_at_once_lose_none(tmp_path: Path) -> None:
    """What `candor init` and the `partner` commands do (load, change, save), from many threads."""
    home = Home.at(tmp_path / "home")

    def add_host(n: int) -> None:
        with config_edit(home):
            config = load_config(home)
            hosts = [*config.never_inspect, f"h{n}.example"]
            save_config(home, config.model_copy(update={"never_inspect": hosts}))

    threads = [threading.Thread(target=add_host, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(load_config(home).never_inspect) == sorted(f"h{n}.example" for n in range(12))
    assert stat.S_IMODE(home.config_file.stat().st_mode) == 0o600
