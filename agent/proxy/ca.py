"""Candor's certificate authority, made under the home with Candor's name.

Left to itself mitmproxy creates a CA called "mitmproxy" the first time it starts, and that is
the name a person then meets in a browser's certificate viewer or the system's trust settings.
Candor creates it first, with a name that says what it is and which computer made it; the file
names stay mitmproxy's (`mitmproxy-ca.pem` and friends), which mitmproxy and the installers
read.
"""

from __future__ import annotations

from agent.config import Home

ORGANIZATION = "Candor"
"""The CA's organisation, as certificate viewers list it."""
CA_KEY_FILE = "mitmproxy-ca.pem"
"""The key and certificate together (0600): mitmproxy's own file name."""
CA_CERT_FILE = "mitmproxy-ca-cert.pem"
"""The certificate alone: the only file ever installed into trust stores."""
CA_SECRET_FILES = (CA_KEY_FILE, "mitmproxy-ca.p12")
"""The files that hold the CA's private key (0600)."""
CA_FILES = "mitmproxy-ca*"
"""Every file of the CA, key and certificate alike."""
MAX_COMMON_NAME = 64
"""X.509's upper bound for a common name."""


def ca_common_name(device: str) -> str:
    """The CA's name: "Candor local filter — <device>", shortened to what X.509 allows."""
    name = f"Candor local filter — {device.strip() or 'this computer'}"
    return name[:MAX_COMMON_NAME].rstrip()


def ensure_ca(home: Home, device: str) -> bool:
    """Create the CA unless both its key and certificate exist; True when it was created.

    A half-written CA (one file without the other) is removed first, so mitmproxy never pairs
    a certificate with a key it does not belong to.
    """
    if (home.confdir / CA_CERT_FILE).is_file() and (home.confdir / CA_KEY_FILE).is_file():
        return False
    from mitmproxy.certs import CertStore

    home.confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_ca(home)
    CertStore.create_store(
        home.confdir, "mitmproxy", 2048, organization=ORGANIZATION, cn=ca_common_name(device)
    )
    for name in CA_SECRET_FILES:
        (home.confdir / name).chmod(0o600)
    return True


def remove_ca(home: Home) -> None:
    """Delete every file of Candor's CA from the home (key and certificate alike)."""
    for path in home.confdir.glob(CA_FILES):
        path.unlink(missing_ok=True)
