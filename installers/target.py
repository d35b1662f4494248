"""Everything a plan builder needs to know, gathered in one value so builders stay pure.

`root` relocates system paths (`/etc`, `/usr/local`) and the person's folders come from HOME
and the XDG variables, so a test can point a whole install at a temporary tree.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from agent.config import Config, Home

SYSTEM_ROOT = PurePosixPath("/")

CA_CERT_FILE = "mitmproxy-ca-cert.pem"
"""The only CA file that ever leaves the home: the certificate, never the key."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and for whom a plan installs: the home, the root, the person's folders, the proxy."""

    home: Home
    root: PurePath
    user_home: PurePath
    config_dir: PurePath
    """XDG_CONFIG_HOME, or ~/.config."""
    data_dir: PurePath
    """XDG_DATA_HOME, or ~/.local/share."""
    host: str
    port: int
    program: tuple[str, ...]
    """How to start `candor`, without `--home`: the venv's script, or python -m agent.cli."""
    ca_pem: bytes

    @property
    def proxy(self) -> str:
        """host:port of the agent, with an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def relocated(self) -> bool:
        """Installing into a test root: leave out what acts on the running session."""
        return self.root != PurePosixPath("/")

    def system(self, path: str) -> PurePath:
        """A system path such as /etc/chromium, under the root."""
        return self.root / path.lstrip("/")

    @property
    def ca_file(self) -> PurePath:
        """Candor's CA certificate in the home, for steps that point at it."""
        return PurePath(self.home.confdir) / CA_CERT_FILE

    @property
    def candor(self) -> tuple[str, ...]:
        """The command line that runs Candor on this home."""
        return (*self.program, "--home", str(self.home.root))


def ca_sha256(pem: bytes) -> str:
    """The certificate's fingerprint, recorded so the self-check finds it in the bundle."""
    der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
    return hashlib.sha256(der).hexdigest()


def default_program() -> tuple[str, ...]:
    """How services start Candor: the venv's `candor` script, else this Python with -m."""
    script = Path(sys.executable).parent / "candor"
    if script.is_file():
        return (str(script),)
    return (sys.executable, "-m", "agent.cli")


def current_target(
    home: Home,
    config: Config,
    *,
    root: PurePath = SYSTEM_ROOT,
    env: Mapping[str, str] | None = None,
    program: tuple[str, ...] | None = None,
) -> Target:
    """The target for this process: HOME and XDG variables from `env` (os.environ by default)."""
    env = os.environ if env is None else env
    user_home = Path(env.get("HOME") or Path.home())
    config_dir = Path(env.get("XDG_CONFIG_HOME") or user_home / ".config")
    data_dir = Path(env.get("XDG_DATA_HOME") or user_home / ".local" / "share")
    return Target(
        home=home,
        root=Path(root),
        user_home=user_home,
        config_dir=config_dir,
        data_dir=data_dir,
        host=config.agent.host,
        port=config.agent.port,
        program=program or default_program(),
        ca_pem=(home.confdir / CA_CERT_FILE).read_bytes(),
    )
