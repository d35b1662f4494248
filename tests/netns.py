"""A network of the test's own: a Linux network namespace with TEST-NET addresses, for tests
that load firewall rules or answer DNS (issue 13). Nothing leaves it, and it goes with the test.

`unshare -n` starts a holder process that sleeps in a new network namespace (root only: nft and
`setpriv` need it). Commands enter it with `nsenter -n` (`command`, `run`); clients run there as
an ordinary user with no proxy settings (`as_user`); servers of this test process are bound
inside it by creating their sockets while the calling thread has entered it (`entered`): a
socket stays in the namespace it was made in, whichever thread serves it. Loopback is up, and a
non-loopback interface carries `ADDRESSES_V4` and `ADDRESSES_V6` for origins and resolvers, since
Candor's capture leaves loopback alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import require_tool

INTERFACE = "candor-test0"
PEER = "candor-test1"
ADDRESSES_V4 = tuple(f"192.0.2.{n}" for n in range(10, 30))
"""TEST-NET-1 (RFC 5737): never routed anywhere."""
ADDRESSES_V6 = tuple(f"2001:db8::{n}" for n in range(10, 30))
"""The IPv6 documentation prefix (RFC 3849)."""
NOBODY = 65534
"""The user clients run as: an ordinary user, not Candor's."""
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
"""A client's whole environment: no proxy variables of any kind."""


def require_root() -> None:
    """Namespaced firewall tests need root: skip without it, fail under CI=true (CI is root)."""
    if os.geteuid() == 0:
        return
    message = "this test needs root (a network namespace with its own nftables rules)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class NetNamespace:
    """A network namespace held open by a sleeping process; `close` ends it."""

    def __init__(self) -> None:
        require_root()
        unshare = require_tool("unshare")
        self._nsenter = require_tool("nsenter")
        self._setpriv = require_tool("setpriv")
        self._ip = require_tool("ip")
        self._holder = subprocess.Popen(
            [unshare, "-n", "sh", "-c", "echo ready && exec sleep 3600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self._holder.stdout.readline().strip() if self._holder.stdout else ""
        if line != "ready":
            reason = self._holder.stderr.read() if self._holder.stderr else ""
            self.close()
            pytest.fail(f"could not make a network namespace: {reason.strip()}")
        self.shared = Path(tempfile.mkdtemp(prefix="candor-netns-"))
        """A folder the ordinary user can read: certificates its clients trust go here."""
        self.shared.chmod(0o755)
        try:
            self._set_up_addresses()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._holder.pid

    def _set_up_addresses(self) -> None:
        self.run(self._ip, "link", "set", "lo", "up")
        # a veth pair: the kernels here have no dummy interfaces, and any non-loopback one will do
        self.run(self._ip, "link", "add", INTERFACE, "type", "veth", "peer", "name", PEER)
        for name in (INTERFACE, PEER):
            self.run(self._ip, "link", "set", name, "up")
        for address in ADDRESSES_V4:
            self.run(self._ip, "addr", "add", f"{address}/24", "dev", INTERFACE)
        for address in ADDRESSES_V6:
            self.run(self._ip, "-6", "addr", "add", f"{address}/64", "dev", INTERFACE, "nodad")

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace (as this process's user)."""
        return [self._nsenter, "-t", str(self.pid), "-n", "--", *argv]

    def run(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the namespace; with `check`, fail the test if it fails."""
        done = subprocess.run(
            self.command(argv), capture_output=True, text=True, input=input, timeout=timeout
        )
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def as_user(
        self, *argv: str, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the namespace as an ordinary user, with no proxy settings at all."""
        user = (f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
        return subprocess.run(
            self.command([self._setpriv, *user, *argv]),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=CLEAN_ENV,
        )

    def share(self, source: Path, name: str | None = None) -> Path:
        """A copy of `source` the ordinary user can read (a CA file for its clients, say)."""
        target = self.shared / (name or source.name)
        shutil.copyfile(source, target)
        target.chmod(0o644)
        return target

    def load_nft(self, text: str) -> None:
        """Load an nftables ruleset (`nft -f -`) into the namespace."""
        self.run(require_tool("nft"), "-f", "-", input=text)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """While open, the calling thread is in the namespace: sockets made now belong to it."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            os.setns(target, os.CLONE_NEWNET)
            try:
                yield
            finally:
                os.setns(own, os.CLONE_NEWNET)
        finally:
            os.close(target)
            os.close(own)

    def close(self) -> None:
        """Stop the holder: the namespace, its rules and its addresses go with it."""
        if self._holder.poll() is None:
            self._holder.kill()
        self._holder.wait()
        for stream in (self._holder.stdout, self._holder.stderr):
            if stream is not None:
                stream.close()
        if hasattr(self, "shared"):
            shutil.rmtree(self.shared, ignore_errors=True)


@pytest.fixture(scope="module")
def netns() -> Iterator[NetNamespace]:
    """A network namespace of the test module's own."""
    namespace = NetNamespace()
    try:
        yield namespace
    finally:
        namespace.close()
