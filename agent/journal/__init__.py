"""The journal: Candor's append-only, hash-chained record, the only source of truth.

`from agent.journal import ...` is the public way in for the agent and the reporter; the modules
below hold one idea each (events, store, chain, writer, schema, errors, clock). A name's module is
imported when the name is first used, so a command that only needs the clock or the words of a
loosening does not load the store, the writer and every event body (see `EXPORTED_FROM`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.lazy_names import lazy_names

if TYPE_CHECKING:
    from agent.journal import clock
    from agent.journal.canonical import canonical_json
    from agent.journal.chain import GENESIS_HASH, Break, VerifyResult, record_hash
    from agent.journal.clock import Clock, format_ts, parse_ts, utc_now
    from agent.journal.errors import JournalError, JournalTooNew, JournalWriteError
    from agent.journal.events import KINDS, Event, Kind
    from agent.journal.store import Journal
    from agent.journal.writer import JournalWriter

__all__ = [
    "GENESIS_HASH",
    "KINDS",
    "Break",
    "Clock",
    "Event",
    "Journal",
    "JournalError",
    "JournalTooNew",
    "JournalWriteError",
    "JournalWriter",
    "Kind",
    "VerifyResult",
    "canonical_json",
    "clock",
    "format_ts",
    "parse_ts",
    "record_hash",
    "utc_now",
]

EXPORTED_FROM: dict[str, str] = {
    "clock": "agent.journal.clock",
    "canonical_json": "agent.journal.canonical",
    "GENESIS_HASH": "agent.journal.chain",
    "Break": "agent.journal.chain",
    "VerifyResult": "agent.journal.chain",
    "record_hash": "agent.journal.chain",
    "Clock": "agent.journal.clock",
    "format_ts": "agent.journal.clock",
    "parse_ts": "agent.journal.clock",
    "utc_now": "agent.journal.clock",
    "KINDS": "agent.journal.events",
    "Event": "agent.journal.events",
    "Kind": "agent.journal.events",
    "JournalError": "agent.journal.errors",
    "JournalTooNew": "agent.journal.errors",
    "JournalWriteError": "agent.journal.errors",
    "Journal": "agent.journal.store",
    "JournalWriter": "agent.journal.writer",
}
"""The module that holds each public name, imported when the name is first used."""

__getattr__, __dir__ = lazy_names(__name__, EXPORTED_FROM)
