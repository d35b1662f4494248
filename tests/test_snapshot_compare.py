"""Snapshots fail loudly: missing or different is a failure, and only `--update-snapshots`
writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.snapshot_compare import UPDATE_FLAG, compare_snapshot


def test_a_missing_snapshot_fails_and_names_the_file_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "plan.txt"
    with pytest.raises(pytest.fail.Exception) as failed:
        compare_snapshot(path, "a plan\n", update=False)
    assert str(path) in str(failed.value) and UPDATE_FLAG in str(failed.value)
    assert not path.exists()  # nothing was written behind the test's back


def test_a_different_snapshot_fails_with_a_diff(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_text("step one\nstep two\n")
    with pytest.raises(pytest.fail.Exception) as failed:
        compare_snapshot(path, "step one\nstep 2\n", update=False)
    message = str(failed.value)
    assert str(path) in message and UPDATE_FLAG in message
    assert "-step two" in message and "+step 2" in message
    assert path.read_text() == "step one\nstep two\n"


def test_a_different_binary_snapshot_fails(tmp_path: Path) -> None:
    path = tmp_path / "task.xml"
    path.write_bytes(b"\xff\xfea\x00")
    with pytest.raises(pytest.fail.Exception, match="binary"):
        compare_snapshot(path, b"\xff\xfeb\x00", update=False)


def test_an_equal_snapshot_passes(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_bytes(b"same\n")
    compare_snapshot(path, "same\n", update=False)


def test_updating_writes_the_snapshot_which_then_matches(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "plan.txt"
    compare_snapshot(path, "new plan\n", update=True)
    assert path.read_text() == "new plan\n"
    compare_snapshot(path, "new plan\n", update=False)


def test_the_update_flag_is_a_pytest_option(request: pytest.FixtureRequest) -> None:
    assert isinstance(request.config.getoption(UPDATE_FLAG), bool)
