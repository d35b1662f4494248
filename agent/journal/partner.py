"""The stable id of a partner: what report chains and outbox rows are keyed by.

Derived from the partner's address as consent recorded it (lower-cased), so an existing home
gets the same id the day it upgrades, a renewal or a new confirmation keeps it, and a different
partner gets another one. One partner today; several later need no migration.
"""

from __future__ import annotations

import hashlib

NO_PARTNER = "none"
"""The id used when no partner address is recorded (a preview before consent)."""


def partner_id(email: str | None) -> str:
    """The id of the partner at `email`: `p-` and 16 hex digits of its SHA-256."""
    if not email:
        return NO_PARTNER
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
    return f"p-{digest[:16]}"
