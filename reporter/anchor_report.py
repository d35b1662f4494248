"""A report's public time anchors: which tokens it carries, which hours have none and why, and
the attachment that lets a partner check every token with stock `openssl ts -verify`.

Read from the journal's `anchor`, `anchor_failed`, `config_changed` and `rules_applied` rows.
Each token's `.head` file in the attachment is the hash the journal holds *now* for the row the
token covers, so a journal rewritten after the token no longer matches it, in Candor's check and
in OpenSSL's alike.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from agent.journal import Event, Journal, Kind, parse_ts
from agent.journal.events import Anchor
from reporter import document as doc
from reporter.scope import Scope

HOUR = timedelta(hours=1)
ANCHORS_SETTING = "anchors.enabled"
"""The `config_changed` entry for turning anchoring off or on (agent.policy.cooling_off)."""
FAILURE_REASONS = ("offline", "refused", "bad_reply")


@dataclass(frozen=True, slots=True)
class PeriodAnchors:
    """Everything the report needs about its anchors, read once."""

    tokens: list[doc.AnchorToken]
    """Every token of the period, in journal order."""
    section: doc.Anchors
    attachment: bytes | None
    """The tar the partner feeds to OpenSSL; None when the period has no token."""


def attachment_name(period_id: str) -> str:
    """The attachment's file name (and the folder inside it)."""
    return f"candor-anchors-{period_id}.tar"


def read_anchors(journal: Journal, scope: Scope, period_id: str, seq: int) -> PeriodAnchors:
    """The period's anchors: the section of the document and the attachment."""
    tokens = [_token(e) for e in scope.rows(journal, [Kind.ANCHOR])]
    tokens = [t for t in tokens if t is not None]
    changes = _setting_changes(scope.rows(journal, [Kind.CONFIG_CHANGED]))
    enabled = changes[-1].enabled if changes else _enabled_at_end(journal, scope.last_seq)
    failures = [
        (e.time, str(e.body.get("reason")))
        for e in scope.rows(journal, [Kind.ANCHOR_FAILED])
        if e.body.get("reason") in FAILURE_REASONS
    ]
    begin = _confirmed_at(journal, scope)
    running = {_hour_of(e.time) for e in scope.rows(journal, [Kind.HEARTBEAT])}
    running |= {_hour_of(at) for at, _ in failures}
    missing = (
        _missing(scope, begin, tokens, failures, changes, enabled, running)
        if begin is not None
        else []
    )
    attachment = build_attachment(journal, tokens, period_id=period_id, seq=seq) if tokens else None
    section = doc.Anchors(
        enabled=enabled,
        count=len(tokens),
        tokens=_daily_and_latest(tokens, scope.zone),
        missing=missing,
        changes=changes,
        attachment=attachment_name(period_id) if attachment else None,
        attachment_sha256=hashlib.sha256(attachment).hexdigest() if attachment else None,
    )
    return PeriodAnchors(tokens=tokens, section=section, attachment=attachment)


def _token(event: Event) -> doc.AnchorToken | None:
    body = event.body
    try:
        anchor = Anchor(
            tsa=str(body["tsa"]),
            head_seq=int(body["head_seq"]),
            head_hash=str(body["head_hash"]),
            gen_time=str(body["gen_time"]),
            token=str(body["token"]),
        )
        parse_ts(anchor.gen_time)
    except (KeyError, TypeError, ValueError):
        return None
    return doc.AnchorToken(
        time=anchor.gen_time,
        tsa=anchor.tsa,
        head_seq=anchor.head_seq,
        head_hash=anchor.head_hash,
        token=anchor.token,
    )


def _setting_changes(rows: Iterable[Event]) -> list[doc.AnchorSetting]:
    out: list[doc.AnchorSetting] = []
    for event in rows:
        items = event.body.get("changes")
        for c in items if isinstance(items, list) else []:
            if isinstance(c, dict) and c.get("what") == ANCHORS_SETTING:
                out.append(doc.AnchorSetting(time=event.ts, enabled=bool(c.get("to"))))
    return out


def _enabled_at_end(journal: Journal, last_seq: int) -> bool:
    """Anchoring as the newest `rules_applied` row up to the report's last row records it."""
    for event in journal.latest([Kind.RULES_APPLIED]):
        if event.seq > last_seq:
            continue
        settings = event.body.get("settings")
        value = settings.get("anchors") if isinstance(settings, dict) else None
        return value if isinstance(value, bool) else True
    return True


def _confirmed_at(journal: Journal, scope: Scope) -> datetime | None:
    """From when anchors were due this period: the later of its start and the partner's
    confirmation (None: no partner has confirmed)."""
    confirmed: datetime | None = None
    for event in journal.events(kinds=[Kind.CONSENT_CHANGED]):
        if event.seq > scope.last_seq:
            break
        if event.body.get("change") == "confirmed":
            confirmed = event.time
        elif event.body.get("change") in ("revoked", "given", "partner_changed"):
            confirmed = None
    return None if confirmed is None else max(confirmed, scope.start)


def _hour_of(moment: datetime) -> datetime:
    """The clock hour (UTC) `moment` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hours(begin: datetime, until: datetime) -> Iterator[datetime]:
    """Every whole clock hour (UTC) that starts at or after `begin` and ends by `until`."""
    hour = begin.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if hour < begin:
        hour += HOUR
    while hour + HOUR <= until:
        yield hour
        hour += HOUR


def _missing(
    scope: Scope,
    begin: datetime,
    tokens: list[doc.AnchorToken],
    failures: list[tuple[datetime, str]],
    changes: list[doc.AnchorSetting],
    enabled_at_end: bool,
    running: set[datetime],
) -> list[doc.AnchorGap]:
    """The hours Candor was running with no token, merged into stretches with one reason each
    (an hour it was not running is a gap in the integrity section already)."""
    anchored = {_hour_of(parse_ts(t.time)) for t in tokens}
    gaps: list[doc.AnchorGap] = []
    for hour in _hours(begin, scope.until):
        if hour in anchored or hour not in running:
            continue
        reason = _reason(hour, failures, changes, enabled_at_end)
        end = hour + HOUR
        last = gaps[-1] if gaps else None
        if last is not None and last.reason == reason and last.end == end_text(hour):
            gaps[-1] = last.model_copy(update={"end": end_text(end)})
        else:
            gaps.append(doc.AnchorGap(start=end_text(hour), end=end_text(end), reason=reason))
    return gaps


def end_text(moment: datetime) -> str:
    """A gap's bound as the document holds it (ISO, UTC)."""
    return moment.astimezone(UTC).isoformat()


def _reason(
    hour: datetime,
    failures: list[tuple[datetime, str]],
    changes: list[doc.AnchorSetting],
    enabled_at_end: bool,
) -> doc.AnchorGapReason:
    if not _enabled_at(hour, changes, enabled_at_end):
        return "off"
    seen = [reason for at, reason in failures if hour - HOUR <= at < hour + HOUR]
    if seen:
        return seen[-1]  # type: ignore[return-value]
    return "not_asked"


def _enabled_at(hour: datetime, changes: list[doc.AnchorSetting], at_end: bool) -> bool:
    """Anchoring during `hour`: off if it was off for any of it."""
    times = [parse_ts(c.time) for c in changes]
    before = [c for c, t in zip(changes, times, strict=True) if t <= hour]
    during = [c for c, t in zip(changes, times, strict=True) if hour < t < hour + HOUR]
    if before:
        state = before[-1].enabled
    elif changes:
        state = not changes[0].enabled
    else:
        state = at_end
    return state and all(c.enabled for c in during)


def _daily_and_latest(tokens: list[doc.AnchorToken], zone: tzinfo) -> list[doc.AnchorToken]:
    """The first token of each day in the person's time zone, and the latest."""
    chosen: dict[str, doc.AnchorToken] = {}
    for t in tokens:
        day = parse_ts(t.time).astimezone(zone).date().isoformat()
        chosen.setdefault(day, t)
    out = list(chosen.values())
    if tokens and tokens[-1] not in out:
        out.append(tokens[-1])
    return out


def token_stem(token: doc.AnchorToken) -> str:
    """A token's file name without extension: the journal row it covers."""
    return f"row-{token.head_seq:08d}"


def build_attachment(
    journal: Journal, tokens: list[doc.AnchorToken], *, period_id: str, seq: int
) -> bytes:
    """A tar of `row-N.tsr` (the token), `row-N.head` (the hash the journal holds now for row
    N), `row-N.digest` (SHA-256 of that, hex) and a README with the OpenSSL commands."""
    folder = attachment_name(period_id).removesuffix(".tar")
    files: dict[str, bytes] = {}
    gone: list[int] = []
    for t in tokens:
        stem = token_stem(t)
        files[f"{stem}.tsr"] = base64.b64decode(t.token)
        row = next(journal.events(after_seq=t.head_seq - 1, limit=1), None)
        if row is None or row.seq != t.head_seq:
            gone.append(t.head_seq)
            continue
        files[f"{stem}.head"] = row.hash.encode("ascii")
        files[f"{stem}.digest"] = (
            hashlib.sha256(row.hash.encode("ascii")).hexdigest() + "\n"
        ).encode()
    files["README.txt"] = readme(tokens, seq=seq, gone=gone).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def readme(tokens: list[doc.AnchorToken], *, seq: int, gone: list[int]) -> str:
    """The attachment's README: what the files are and the exact commands."""
    authorities = sorted({t.tsa for t in tokens})
    lines = [
        f"Public time anchors of Candor report #{seq}: {len(tokens)} time-stamp tokens.",
        "",
        "Each row-N.tsr is a time-stamp token, signed by a public time-stamping service",
        f"({', '.join(authorities)}), over SHA-256 of row-N.head: the hash of journal row N",
        "as the journal holds it now. If the journal up to row N was changed after the token",
        "was made, the hash differs and the check below says FAILED.",
        "",
        "Check one token (cacert.pem: the time-stamping service's CA certificate; see",
        "docs/reports.md for where to get it):",
        "",
        "    openssl ts -verify -in row-N.tsr -data row-N.head -CAfile cacert.pem",
        "",
        "or, with the digest instead of the file:",
        "",
        '    openssl ts -verify -in row-N.tsr -digest "$(cat row-N.digest)" -CAfile cacert.pem',
        "",
        "Check them all:",
        "",
        '    for t in row-*.tsr; do echo "$t"; openssl ts -verify -in "$t" \\',
        '        -data "${t%.tsr}.head" -CAfile cacert.pem; done',
        "",
        '"Verification: OK" means the journal up to that row existed, as it is now, at the time',
        "in the token. See that time with:  openssl ts -reply -in row-N.tsr -text",
    ]
    if gone:
        rows = ", ".join(str(n) for n in gone)
        lines += ["", f"The journal no longer holds row(s) {rows}: there is no .head to check."]
    return "\n".join(lines) + "\n"
