"""The journal: Candor's append-only, hash-chained record, the only source of truth.

`from agent.journal import ...` is the public way in for the agent and the reporter; the modules
below hold one idea each (events, store, chain, writer, schema, clock).
"""

from agent.journal import clock
from agent.journal.canonical import canonical_json
from agent.journal.chain import GENESIS_HASH, Break, VerifyResult, record_hash
from agent.journal.clock import Clock, format_ts, parse_ts, utc_now
from agent.journal.events import KINDS, Event, Kind
from agent.journal.schema import JournalError, JournalTooNew
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
