"""Which site a host belongs to: its registrable domain (`img7.cdn.example.co.uk` is on
`example.co.uk`), so thousands of hosts a page made up can be told and counted as one site.

The public suffix list is the one bundled with the `publicsuffixlist` package: nothing is
downloaded. It is read once, on first use (about a third of a second), so an agent warms it up
in a thread of its own (`registrable_domain("candor.invalid")`) before the first block needs it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from rules.hostnames import is_ip_literal


@cache
def _public_suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList  # its bundled list: nothing is downloaded

    return PublicSuffixList()


def registrable_domain(host: str) -> str:
    """The site `host` belongs to: its registrable domain; an address or a public suffix (or a
    single label) is its own site."""
    name = host.strip().rstrip(".").lower()
    if "." not in name or is_ip_literal(name):
        return name
    return _public_suffixes().privatesuffix(name) or name
