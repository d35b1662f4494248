"""The errors the journal raises, apart from the database code so catching them loads no SQLite."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be opened or used; the message is meant for the person."""


class JournalTooNew(JournalError):
    """The file was written by a newer Candor whose schema this version does not know."""


DISK_FULL = "the disk is full"
"""The words for a write that failed for want of space (`JournalWriteError.cause`)."""


class JournalWriteError(JournalError):
    """Rows could not be written (the disk is full, the file is read-only): none of them was
    kept, so whatever they record must not take effect. `cause` says why, in a few words."""

    def __init__(self, cause: str, detail: str = "") -> None:
        self.cause = cause
        self.detail = detail
        super().__init__(f"Candor could not write to its journal ({cause}).")

    def sentence(self, outcome: str) -> str:
        """What this failure meant, for the person: "Candor could not write to its journal
        (the disk is full), so OUTCOME. Free some space and try again." """
        advice = "Free some space and try again." if self.cause == DISK_FULL else "Try again later."
        return f"Candor could not write to its journal ({self.cause}), so {outcome}. {advice}"
