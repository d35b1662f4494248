"""The errors the journal raises, apart from the database code so catching them loads no SQLite."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be opened or used; the message is meant for the person."""


class JournalTooNew(JournalError):
    """The file was written by a newer Candor whose schema this version does not know."""
