"""Trust stores: the system CA bundle (update-ca-certificates, update-ca-trust) and NSS databases.

Where they are, which one a machine has, and the steps that add Candor's certificate to them, so
every platform builder that uses them builds the same steps. Pure: only the executor runs steps.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Literal

from installers.plan import NICKNAME, NssTrust, Run, Step, WriteFile
from installers.target import Target

TrustStore = Literal["debian", "fedora"]
"""The system trust store layouts Candor knows: Debian/Ubuntu and Fedora/RHEL."""

DEBIAN_ANCHOR = "/usr/local/share/ca-certificates/candor.crt"
"""Where Candor's certificate goes on Debian; Firefox's policy points at it there too."""
FEDORA_ANCHOR = "/etc/pki/ca-trust/source/anchors/candor.pem"
SYSTEM_BUNDLES: dict[TrustStore, str] = {
    "debian": "/etc/ssl/certs/ca-certificates.crt",
    "fedora": "/etc/pki/tls/certs/ca-bundle.crt",
}
"""The one file each layout rebuilds from its anchors: what programs (and the self-check) read."""
NSS_FILES = ("cert9.db", "key4.db", "pkcs11.txt")
"""The files of an NSS database, removed on uninstall when Candor created the database."""


def detect_trust_store(target: Target) -> TrustStore | None:
    """Which system trust store layout this machine has (under the target's root), if any."""
    if Path(target.system("/usr/local/share/ca-certificates")).exists() or (
        not target.relocated and shutil.which("update-ca-certificates")
    ):
        return "debian"
    if Path(target.system("/etc/pki/ca-trust/source/anchors")).exists():
        return "fedora"
    return None


def nss_databases(target: Target) -> tuple[PurePath, ...]:
    """The person's NSS databases that exist, or the modern one to create when none does."""
    legacy = target.user_home / ".pki" / "nssdb"
    modern = target.data_dir / "pki" / "nssdb"
    return tuple(db for db in (legacy, modern) if Path(db).exists()) or (modern,)


def system_bundle(target: Target, trust_store: TrustStore | None) -> PurePath | None:
    """The bundle that holds Candor's certificate once the trust steps ran, for the self-check."""
    if trust_store is None:
        return None
    return target.system(SYSTEM_BUNDLES[trust_store])


def system_trust_steps(target: Target, trust_store: TrustStore | None) -> list[Step]:
    """Add Candor's certificate to the system trust store and rebuild its bundle."""
    steps: list[Step] = []
    if trust_store == "debian":
        refresh = ("update-ca-certificates", *_debian_dirs(target))
        steps += [
            Step(
                "trust.system.refresh-after-removal",
                "Rebuild the system certificate bundle without Candor's (on uninstall)",
                Run(None, ((*refresh, "--fresh"),)),
                admin=True,
                group="trust",
            ),
            Step(
                "trust.system.file",
                "Add Candor's certificate to the system trust store",
                WriteFile(target.system(DEBIAN_ANCHOR), target.ca_pem),
                admin=True,
                group="trust",
            ),
            Step(
                "trust.system.refresh",
                "Rebuild the system certificate bundle",
                Run(refresh),
                admin=True,
                group="trust",
            ),
        ]
    elif trust_store == "fedora":
        refresh = ("update-ca-trust",)
        live = not target.relocated
        if live:
            steps.append(
                Step(
                    "trust.system.refresh-after-removal",
                    "Rebuild the system certificate bundle without Candor's (on uninstall)",
                    Run(None, (refresh,)),
                    admin=True,
                    group="trust",
                )
            )
        steps.append(
            Step(
                "trust.system.file",
                "Add Candor's certificate to the system trust store",
                WriteFile(target.system(FEDORA_ANCHOR), target.ca_pem),
                admin=True,
                group="trust",
            )
        )
        if live:
            steps.append(
                Step(
                    "trust.system.refresh",
                    "Rebuild the system certificate bundle",
                    Run(refresh),
                    admin=True,
                    group="trust",
                )
            )
    return steps


def nss_trust_steps(target: Target, dbs: Iterable[PurePath]) -> list[Step]:
    """Trust Candor's certificate in each NSS database (Chromium-family browsers read them)."""
    steps = []
    for db in dbs:
        steps.append(
            Step(
                f"trust.nss.{db}",
                f"Trust Candor's certificate in the browser certificate database {db}",
                NssTrust(db, NICKNAME, target.ca_pem),
                group="trust",
            )
        )
    return steps


def _debian_dirs(target: Target) -> tuple[str, ...]:
    if not target.relocated:
        return ()
    s = target.system
    return (
        "--certsconf", str(s("/etc/ca-certificates.conf")),
        "--certsdir", str(s("/usr/share/ca-certificates")),
        "--localcertsdir", str(s("/usr/local/share/ca-certificates")),
        "--etccertsdir", str(s("/etc/ssl/certs")),
        "--hooksdir", str(s("/etc/ca-certificates/update.d")),
    )  # fmt: skip
