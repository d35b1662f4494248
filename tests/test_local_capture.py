"""mitmproxy's local capture mode, the way macOS and Windows capture every program: what can be
checked on Linux. `candor run --local` itself cannot run on these VMs (mitmproxy's Linux
redirector needs eBPF with cgroup v2), so only its refusals and the plans that use it are tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.proxy.runner import RunError, local_mode
from tests.conftest import candor
from tests.proxy_fixtures import write_home


def test_local_spec_is_mitmproxys_and_empty_means_every_program_but_candor() -> None:
    assert local_mode(None) is None
    assert local_mode("") == "local"  # mitmproxy adds the agent's own process id as excluded
    assert local_mode("!curl") == "local:!curl"
    with pytest.raises(RunError, match=r"^--local ',,': invalid intercept spec"):
        local_mode(",,")


def test_a_spec_mitmproxy_cannot_read_is_refused_in_one_sentence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_home(home)
    done = candor(home, "run", "--listen", "127.0.0.1:0", "--local", ",,", timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("candor: --local ',,': invalid intercept spec"), done.stderr
    assert "Traceback" not in done.stderr and "backtrace" not in done.stderr.lower()
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("system", "said"),
    [
        ("macos", "launchctl bootstrap system /Library/LaunchDaemons/org.candor.agent.plist"),
        ("windows", "schtasks /Create /TN 'Candor\\System agent'"),
    ],
)
def test_install_system_shows_another_systems_local_capture_plan(
    tmp_path: Path, system: str, said: str
) -> None:
    home = tmp_path / "home"
    write_home(home)
    shown = candor(home, "install", "--system", "--os", system, "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert said in shown.stdout
    assert "Self-check, the redirector is active" in shown.stdout
    assert not (home / "state/install.json").exists()
