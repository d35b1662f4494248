"""In-process cost of Candor's per-request proxy work, without sockets: a quick diagnosis tool.

    .venv/bin/python bench/bench_hooks.py

Prints, as the median of 7 passes over 3,000 flows (CPU time per request):
* dispatch: the four request lifecycle hooks (and their `update` events) through mitmproxy's
  stock `AddonManager` and through `agent.hook_dispatch.CachedHookDispatch`, with Candor's chain;
* filter: the `requestheaders` handlers of Candor's addons (own links, DoH, the request filter,
  SafeSearch, the canary), called in chain order, for an allowed and a blocked plain-HTTP
  request.

Complements bench_proxy.py (the end-to-end figures against mitmdump); never run by the tests.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.proxy.lean_start import register_bare_addons_package

register_bare_addons_package()

from mitmproxy import http, master, options  # noqa: E402
from mitmproxy.proxy.layers import http as http_layer  # noqa: E402
from mitmproxy.test import taddons, tflow  # noqa: E402

from agent.proxy.chain import CandorAddons  # noqa: E402
from agent.proxy.filter_settings import FilterSettings  # noqa: E402
from agent.proxy.hook_dispatch import CachedHookDispatch  # noqa: E402
from rules.matcher import CategoryPolicy, Matcher, Policy  # noqa: E402
from rules.model import Rule, RuleKind  # noqa: E402

FLOWS = 3_000
PASSES = 7
HOOKS = (
    http_layer.HttpRequestHeadersHook,
    http_layer.HttpRequestHook,
    http_layer.HttpResponseHeadersHook,
    http_layer.HttpResponseHook,
)


def matcher() -> Matcher:
    rules = [Rule(RuleKind.DOMAIN, "blocked.test", source="adult.txt:1")]
    return Matcher.compile(Policy(categories=[CategoryPolicy("adult", "block", rules)]))


def candor_addons() -> CandorAddons:
    found = matcher()
    return CandorAddons(lambda: found, lambda event: None, FilterSettings)


def flows(host: str, answered: bool) -> list[http.HTTPFlow]:
    made = []
    for _ in range(FLOWS):
        request = http.Request.make(
            "GET", f"http://{host}:8000/", headers={"Host": f"{host}:8000", "User-Agent": "hey"}
        )
        made.append(tflow.tflow(req=request, resp=answered))
    return made


def per_request(run: Callable[[list[http.HTTPFlow]], None], host: str, answered: bool) -> float:
    results = []
    for _ in range(PASSES):
        batch = flows(host, answered)
        began = time.process_time()
        run(batch)
        results.append((time.process_time() - began) / len(batch) * 1e6)
    return statistics.median(results)


def dispatch(cached: bool) -> float:
    async def main() -> float:
        m = master.Master(options.Options())
        if cached:
            m.addons = CachedHookDispatch(m)
        m.addons.add(*candor_addons().chain())
        results = []
        for _ in range(PASSES):
            # Answered flows: the filter returns at once, so this is the dispatch alone.
            batch = flows("127.0.0.1", answered=True)
            began = time.process_time()
            for flow in batch:
                for hook in HOOKS:
                    await m.addons.handle_lifecycle(hook(flow))
            results.append((time.process_time() - began) / len(batch) * 1e6)
        return statistics.median(results)

    return asyncio.run(main())


def main() -> int:
    stock, cached = dispatch(cached=False), dispatch(cached=True)
    print(f"dispatch, 4 request hooks + updates: stock {stock:.1f} µs, cached {cached:.1f} µs")
    chain = [a for a in candor_addons().chain() if type(a).__module__.startswith("agent.")]
    handlers = [a.requestheaders for a in chain if hasattr(a, "requestheaders")]

    def run(batch: list[http.HTTPFlow]) -> None:
        for flow in batch:
            for handler in handlers:
                handler(flow)

    with taddons.context(*chain):
        allowed = per_request(run, "127.0.0.1", answered=False)
        blocked = per_request(run, "blocked.test", answered=False)
    print(
        f"Candor's requestheaders handlers: allowed {allowed:.1f} µs, "
        f"blocked (page built) {blocked:.1f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
