"""The cached addon dispatch keeps mitmproxy's semantics: order, children, errors, halts."""

from __future__ import annotations

import asyncio
import logging

import pytest
from mitmproxy import exceptions, master, options
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
from mitmproxy.test import tflow

from agent.proxy.hook_dispatch import CachedHookDispatch


class Seen:
    def __init__(self, name: str, calls: list[str], fail: BaseException | None = None) -> None:
        self.name = name
        self._calls = calls
        self._fail = fail

    def requestheaders(self, flow) -> None:
        self._calls.append(self.name)
        if self._fail is not None:
            raise self._fail


class Parent(Seen):
    def __init__(self, name: str, calls: list[str], child: Seen) -> None:
        super().__init__(name, calls)
        self.addons = [child]


class Later(Seen):
    async def requestheaders(self, flow) -> None:
        await asyncio.sleep(0)
        self._calls.append(self.name)


def test_dispatch_keeps_order_errors_halts_and_follows_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> list[list[str]]:
        m = master.Master(options.Options())
        m.addons = CachedHookDispatch(m)
        calls: list[str] = []
        rounds: list[list[str]] = []
        flow = tflow.tflow()

        async def fire() -> None:
            calls.clear()
            await m.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
            rounds.append(list(calls))

        m.addons.add(
            Parent("parent", calls, Seen("child", calls)),
            Seen("broken", calls, RuntimeError("boom")),
            Later("async", calls),
        )
        await fire()
        m.addons.add(Seen("halt", calls, exceptions.AddonHalt()), Seen("after", calls))
        await fire()
        m.addons.remove(m.addons.get("halt"))
        await fire()
        return rounds

    with caplog.at_level(logging.ERROR):
        rounds = asyncio.run(run())
    assert rounds == [
        ["parent", "child", "broken", "async"],
        ["parent", "child", "broken", "async", "halt"],
        ["parent", "child", "broken", "async", "after"],
    ]
    assert "Addon error: boom" in caplog.text
