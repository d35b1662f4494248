"""Browser policies: Candor as proxy, no QUIC or HTTP/3, no DNS over HTTPS, for Chromium-family
browsers and Firefox.

Browsers that follow these policies cannot quietly go around Candor. The policy documents and the
steps that write them are the same on every platform; only the paths differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from installers.plan import MergeJson, Step, WriteFile
from installers.plan import canonical_json as _json
from installers.target import Target

CHROMIUM_POLICY_DIRS = {
    "Chromium": "/etc/chromium/policies/managed",
    "Google Chrome": "/etc/opt/chrome/policies/managed",
    "Brave": "/etc/brave/policies/managed",
    "Microsoft Edge": "/etc/opt/edge/policies/managed",
}
"""Linux: each Chromium-family browser's folder of managed policies."""
FIREFOX_POLICIES_LINUX = "/etc/firefox/policies/policies.json"
FIREFOX_POLICIES_MACOS = "/Applications/Firefox.app/Contents/Resources/distribution/policies.json"


def chromium_policy(target: Target) -> dict[str, object]:
    """The managed policy that keeps a Chromium-family browser on Candor."""
    return {
        "ProxySettings": {"ProxyMode": "fixed_servers", "ProxyServer": target.proxy},
        "QuicAllowed": False,
        "DnsOverHttpsMode": "off",
    }


def firefox_policies(target: Target, cert: PurePath) -> dict[str, object]:
    """Firefox's policies: trust `cert`; Candor as proxy and no DoH, both locked; no HTTP/3."""
    return {
        "Certificates": {"Install": [str(cert)]},
        "Proxy": {
            "Mode": "manual",
            "HTTPProxy": target.proxy,
            "SSLProxy": target.proxy,
            "UseHTTPProxyForAllProtocols": True,
            "Passthrough": "localhost, 127.0.0.1",
            "Locked": True,
        },
        "DNSOverHTTPS": {"Enabled": False, "Locked": True},
        "Preferences": {"network.http.http3.enable": {"Value": False, "Status": "locked"}},
    }


def chromium_steps(target: Target, policy_dirs: Iterable[tuple[str, PurePath]]) -> list[Step]:
    """Write Candor's managed policy for each (browser name, policy folder)."""
    steps = []
    for name, folder in policy_dirs:
        steps.append(
            Step(
                f"browsers.chromium.{folder}",
                f"{name}: use Candor as proxy; no QUIC, no DNS over HTTPS (managed policy)",
                WriteFile(folder / "candor.json", _json(chromium_policy(target))),
                admin=True,
                group="browsers",
            )
        )
    return steps


def firefox_step(target: Target, policies: str, cert: PurePath) -> Step:
    """Merge Candor's policies into Firefox's `policies.json` at the system path `policies`."""
    return Step(
        "browsers.firefox",
        "Firefox: trust Candor's certificate, use Candor as proxy, no DNS over HTTPS, "
        "no HTTP/3 (policies.json)",
        MergeJson(target.system(policies), "policies", firefox_policies(target, cert)),
        admin=True,
        group="browsers",
    )
