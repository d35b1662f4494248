"""Package data: the shipped snapshot of public lists (NOTICE.md gives origin and licence)."""
