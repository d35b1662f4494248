"""Partner-held unlock codes: two keys, no server.

At confirmation (and at `candor partner codes`) the partner receives a numbered sheet of
one-time codes, each 12 Crockford base32 characters (60 bits) from `secrets`. Candor keeps only
the sheet's salt and a slow scrypt hash of each code, in the journal (`unlock_sheet_issued`);
the plain codes exist only in the outgoing message, which the outbox wipes once it has left.
`candor unlock CODE` checks a typed code against the unused codes of the partner's current
sheet: a code works once, and every use and every refusal is journaled by number ("code 7 of
sheet 2") and reported, so a partner sees a code used that they never gave.

One salt per sheet (16 random bytes) rather than one per code, so checking a typed code costs
one scrypt, not twenty; a guess then tests all of a sheet's codes at once, which takes about
4 of the 60 bits away: still far out of reach at scrypt's cost (docs/unlock-codes.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agent.journal import Event, Journal, Kind
from agent.journal.events import UnlockRefused, UnlockSheetIssued, UnlockSheetVoided, UnlockUsed

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read aloud or handwritten is not misread."""
CODE_LENGTH = 12
"""Characters per code: 12 × 5 bits = 60 bits."""
SHEET_SIZE = 20
"""Codes per sheet."""
SALT_BYTES = 16
MASKED = "••••-••••-••••"
"""How a code is shown anywhere but the partner's message (previews, listings)."""
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


@dataclass(frozen=True, slots=True)
class HashParams:
    """scrypt's costs, kept with each sheet so codes hashed with other costs still check."""

    n: int = 2**15
    r: int = 8
    p: int = 1
    dklen: int = 32

    def as_json(self) -> dict[str, int]:
        """The costs as the journal keeps them."""
        return {"n": self.n, "r": self.r, "p": self.p, "dklen": self.dklen}

    @classmethod
    def from_json(cls, raw: Any) -> HashParams:
        """Costs read back from a sheet's row (the shipped ones if the row lacks them)."""
        if not isinstance(raw, dict):
            return cls()
        values = {k: raw[k] for k in ("n", "r", "p", "dklen") if isinstance(raw.get(k), int)}
        return cls(**values)


SHIPPED_PARAMS = HashParams()
"""n = 2**15, r = 8, p = 1: about 32 MiB and a sizeable fraction of a second per code."""

_injected_params: HashParams | None = None


def use_hash_params(params: HashParams | None) -> None:
    """Hash new sheets with `params` (None: `SHIPPED_PARAMS`). For tests, through the Python API
    only (tests/harness.py), so a test's sheet costs milliseconds; nothing a person can set
    changes them. Codes are always checked with the costs their sheet recorded."""
    global _injected_params
    _injected_params = params


def sheet_params() -> HashParams:
    """The costs new sheets are hashed with."""
    return _injected_params or SHIPPED_PARAMS


def new_code() -> str:
    """A fresh code: 12 characters of Crockford base32 from the system's secure generator."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown_code(code: str) -> str:
    """A code as the partner reads it: `XXXX-XXXX-XXXX`."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(text: str) -> str | None:
    """The code a person typed, forgiving case, dashes, spaces and O/0, I/L/1; None if it
    cannot be a code at all."""
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def code_hash(code: str, salt: bytes, params: HashParams) -> bytes:
    """scrypt of the normalised code with the sheet's salt."""
    return hashlib.scrypt(
        code.encode("ascii"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=256 * params.n * params.r + 2**20,
        dklen=params.dklen,
    )


@dataclass(frozen=True, slots=True)
class NewSheet:
    """A sheet just made: its plain codes (for the message only) and the row to journal."""

    number: int
    codes: tuple[str, ...]
    """Code k is `codes[k - 1]`; never written anywhere but the partner's message."""
    salt: bytes
    params: HashParams


def make_sheet(number: int, params: HashParams | None = None, count: int = SHEET_SIZE) -> NewSheet:
    """A new sheet of `count` distinct codes (hashed with `params`, else `sheet_params()`)."""
    params = params or sheet_params()
    codes: list[str] = []
    while len(codes) < count:
        code = new_code()
        if code not in codes:
            codes.append(code)
    return NewSheet(number, tuple(codes), secrets.token_bytes(SALT_BYTES), params)


def issued_event(
    sheet: NewSheet, partner: str, message_ids: Iterable[str], reason: str, replaces: int | None
) -> UnlockSheetIssued:
    """The journal row of a new sheet: salt and hashes only, never a code."""
    rows = [
        {
            "number": k,
            "salt": sheet.salt.hex(),
            "hash": code_hash(code, sheet.salt, sheet.params).hex(),
        }
        for k, code in enumerate(sheet.codes, start=1)
    ]
    return UnlockSheetIssued(
        partner_id=partner,
        sheet=sheet.number,
        count=len(rows),
        params=sheet.params.as_json(),
        codes=rows,
        message_ids=list(message_ids),
        replaces=replaces,
        reason=reason,
    )


@dataclass(slots=True)
class Sheet:
    """A sheet as the journal remembers it: hashes, which codes were used, whether voided."""

    partner_id: str
    number: int
    params: HashParams
    hashes: dict[int, tuple[bytes, bytes]]
    """Code number → (salt, hash)."""
    issued_at: str
    message_ids: tuple[str, ...] = ()
    used: dict[int, str] = field(default_factory=dict)
    """Code number → when it was used (ISO time)."""
    voided: str | None = None
    """Why its codes stopped working, or None."""

    def matching(self, code: str) -> int | None:
        """The number of the code on this sheet equal to `code`, used or not; None if none."""
        cache: dict[bytes, bytes] = {}
        found = None
        for number, (salt, digest) in sorted(self.hashes.items()):
            if salt not in cache:
                cache[salt] = code_hash(code, salt, self.params)
            if hmac.compare_digest(cache[salt], digest) and found is None:
                found = number
        return found


def sheets(journal: Journal, partner: str) -> list[Sheet]:
    """Every sheet of `partner`, oldest first, replayed from the journal."""
    found: dict[int, Sheet] = {}
    kinds = [Kind.UNLOCK_SHEET_ISSUED, Kind.UNLOCK_SHEET_VOIDED, Kind.UNLOCK_USED]
    for event in journal.events(kinds=kinds):
        body = event.body
        if body.get("partner_id") != partner or not isinstance(body.get("sheet"), int):
            continue
        number = body["sheet"]
        if event.kind == Kind.UNLOCK_SHEET_ISSUED:
            found[number] = _sheet_of(event, partner)
        elif number in found and event.kind == Kind.UNLOCK_SHEET_VOIDED:
            found[number].voided = str(body.get("reason", "replaced"))
        elif number in found and isinstance(body.get("number"), int):
            found[number].used.setdefault(body["number"], event.ts)
    return [found[k] for k in sorted(found)]


def _sheet_of(event: Event, partner: str) -> Sheet:
    body = event.body
    hashes: dict[int, tuple[bytes, bytes]] = {}
    for row in body.get("codes") or ():
        try:
            hashes[int(row["number"])] = (bytes.fromhex(row["salt"]), bytes.fromhex(row["hash"]))
        except (KeyError, TypeError, ValueError):
            continue
    ids = body.get("message_ids") or ()
    return Sheet(
        partner_id=partner,
        number=int(body["sheet"]),
        params=HashParams.from_json(body.get("params")),
        hashes=hashes,
        issued_at=event.ts,
        message_ids=tuple(str(i) for i in ids),
    )


def current_sheet(journal: Journal, partner: str) -> Sheet | None:
    """The partner's sheet in use: the newest one not voided."""
    live = [s for s in sheets(journal, partner) if s.voided is None]
    return live[-1] if live else None


def next_number(journal: Journal, partner: str) -> int:
    """The number the partner's next sheet gets."""
    known = sheets(journal, partner)
    return known[-1].number + 1 if known else 1


def void_event(partner: str, sheet: int, reason: str) -> UnlockSheetVoided:
    """The row that stops a sheet's codes working."""
    return UnlockSheetVoided(partner_id=partner, sheet=sheet, reason=reason)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a typed code is: `ok` (unused, on the current sheet), `used`, `voided`, `wrong`,
    or `no_sheet`; with its sheet and number when one was found."""

    outcome: str
    sheet: int | None = None
    number: int | None = None
    used_at: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the code may unlock now."""
        return self.outcome == "ok"


def check(journal: Journal, partner: str, typed: str) -> Verdict:
    """Look a typed code up: the current sheet first, then the sheet it replaced."""
    code = normalise(typed)
    known = sheets(journal, partner)
    current = next((s for s in reversed(known) if s.voided is None), None)
    if current is None and not known:
        return Verdict("no_sheet")
    if code is None:
        return Verdict("wrong")
    if current is not None and (number := current.matching(code)) is not None:
        if number in current.used:
            return Verdict("used", current.number, number, current.used[number])
        return Verdict("ok", current.number, number)
    voided = [s for s in known if s.voided is not None]
    if voided and (number := voided[-1].matching(code)) is not None:
        return Verdict("voided", voided[-1].number, number)
    return Verdict("wrong")


def refusal_event(partner: str, verdict: Verdict) -> UnlockRefused:
    """The row for a refused code (the typed text is never kept)."""
    return UnlockRefused(
        partner_id=partner, reason=verdict.outcome, sheet=verdict.sheet, number=verdict.number
    )


def use(journal: Journal, used: UnlockUsed) -> bool:
    """Journal a code's use, unless it was used or voided meanwhile (another process): the
    check and the row are one transaction, so a code works exactly once."""

    def still_unused(conn: Any) -> bool:
        taken = conn.execute(
            "SELECT 1 FROM events WHERE ((kind = ? AND json_extract(body, '$.number') = ?) "
            "OR kind = ?) AND json_extract(body, '$.partner_id') = ? "
            "AND json_extract(body, '$.sheet') = ? LIMIT 1",
            (Kind.UNLOCK_USED, used.number, Kind.UNLOCK_SHEET_VOIDED, used.partner_id, used.sheet),
        ).fetchone()
        return taken is None

    return journal.append_with(used, still_unused) is not None


def code_words(sheet: int, number: int) -> str:
    """How a code is named to the person and the partner: "code 7 of sheet 2"."""
    return f"code {number} of sheet {sheet}"
