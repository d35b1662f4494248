"""Load only the parts of mitmproxy the agent runs, so `candor run` answers sooner.

Importing any module under `mitmproxy.addons` first runs that package's `__init__`, which imports
all thirty-odd default addons (a web app framework, an LDAP client, a QUIC parser…) for
`default_addons()`, a list Candor never asks for. That is most of a second of start-up on a
small machine, spent before the first page can be answered. Registering the package bare, with
its search path but without running its `__init__`, lets `from mitmproxy.addons import core`
load exactly the addon modules named.

Only the agent's own process does this, before it first imports mitmproxy; anything that does
want `default_addons()` (mitmproxy's test helpers, for one) runs in other processes.
"""

from __future__ import annotations

import importlib.util
import sys

PACKAGE = "mitmproxy.addons"


def register_bare_addons_package() -> None:
    """Make `mitmproxy.addons` importable piecemeal; a no-op if it is already loaded."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        return  # not a package any more: leave mitmproxy to import itself as usual
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
