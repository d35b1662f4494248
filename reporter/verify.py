"""Check a report the way a partner would: its signature, then its place in the sequence.

A report file is either the document as attached (`…json`, with its `signature`) or the signed
bytes alone (`…signed.json`) with the detached signature next to it (`….sig` or `….sshsig`).
With a folder of earlier reports, every link is checked too: sequence numbers without gaps or
repeats, each `prev_report_hash` equal to the SHA-256 of the report before, one signing key
throughout, and each report's journal rows starting right after the last row of the report
before (`rows.after_seq` = the previous `chain_head.seq`), so no stretch of Candor's record was
left out between two reports. Any failure makes the whole check fail; a partner should not have
to weigh warnings.

Both shapes are read: `candor.report/2` (a period and its rows) and `candor.report/1` (an ISO
week), which reports built before periods have.

Time anchors: each RFC 3161 token the report (and its anchors attachment) carries must be
signed by a trusted time-stamping service (`--tsa-ca`) over the hash its journal row has now
(the journal's own, when `candor verify` runs where the journal is), so a record rewritten
after a token fails.

A notice (`candor-notice/1`: Candor uninstalled, reporting ended) is checked the same way, by
its signature; it is not numbered, so it has no place in the sequence to check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from reporter import signing
from reporter.document import WEEK_SCHEMA, read_document, signed_bytes

NOTICE_SCHEMA = "candor-notice/1"
_NOTICE_FIELDS = ("kind", "device", "time", "partner", "chain_head")


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome, as a line `candor verify` prints."""

    ok: bool
    message: str


@dataclass(slots=True)
class Outcome:
    """Every check made on one file; it passes only if all of them pass."""

    fingerprint: str
    checks: list[Check] = field(default_factory=list)
    what: str = "report"
    """What was checked, in words: "report" or "notice"."""

    @property
    def ok(self) -> bool:
        """Whether there were checks and every one passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, ok: bool, message: str) -> None:
        """Record one check."""
        self.checks.append(Check(ok, message))


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A report or notice read from disk: its document, signed bytes and signatures."""

    path: Path
    document: dict[str, Any]
    signed: bytes
    raw_signature: bytes | None
    sshsig: str | None

    @property
    def seq(self) -> int | None:
        """The report's sequence number, or None for a notice."""
        seq = self.document.get("seq")
        return seq if isinstance(seq, int) else None

    @property
    def is_notice(self) -> bool:
        """Whether this is a notice (not numbered) rather than a report."""
        return self.document.get("schema") == NOTICE_SCHEMA

    @property
    def hash(self) -> str:
        """SHA-256 of the signed bytes: what the next report's link must equal."""
        return hashlib.sha256(self.signed).hexdigest()

    @property
    def key(self) -> str | None:
        """The fingerprint the document says signed it."""
        signature = self.document.get("signature")
        return signature.get("key") if isinstance(signature, dict) else None


class ReportUnreadable(Exception):
    """A file that is not a Candor report or notice; `str()` says why."""

    pass


def read_report(path: Path) -> ReportFile:
    """Read a report as attached or as signed bytes, with its detached signatures."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportUnreadable(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    try:
        document = json.loads(data)
    except ValueError:
        raise ReportUnreadable(f"{path}: this is not a Candor report (not JSON).") from None
    if not isinstance(document, dict) or (
        "seq" not in document and document.get("schema") != NOTICE_SCHEMA
    ):
        raise ReportUnreadable(f"{path}: this is not a Candor report.")
    raw: bytes | None = None
    signature = document.get("signature")
    if isinstance(signature, dict) and isinstance(signature.get("value"), str):
        try:
            raw = base64.b64decode(signature["value"], validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        signed = signed_bytes(document)
    else:
        signed = data
        sig_file = path.with_name(path.name + ".sig")
        if sig_file.exists():
            raw = sig_file.read_bytes()
    ssh_file = path.with_name(path.name + ".sshsig")
    if not ssh_file.exists() and path.name.endswith(".json"):
        ssh_file = path.with_name(path.name[: -len(".json")] + ".signed.json.sshsig")
    sshsig = ssh_file.read_text("ascii", "replace") if ssh_file.exists() else None
    return ReportFile(path, document, signed, raw, sshsig)


def check_signature(report: ReportFile, key: Ed25519PublicKey, outcome: Outcome) -> None:
    """Check the raw and SSH signatures and the key the document names."""
    if report.raw_signature is None and report.sshsig is None:
        outcome.add(False, f"{report.path.name}: no signature found.")
        return
    if report.raw_signature is not None:
        good = signing.verify_raw(key, report.signed, report.raw_signature)
        outcome.add(
            good,
            f"{report.path.name}: signature is good."
            if good
            else f"{report.path.name}: the signature does not match: the report was changed "
            "after it was signed, or it was signed with a different key.",
        )
    if report.sshsig is not None:
        good = signing.verify_sshsig(key, report.signed, report.sshsig)
        outcome.add(
            good,
            f"{report.path.name}: SSH signature is good."
            if good
            else f"{report.path.name}: the SSH signature does not match.",
        )
    if report.key is not None and report.key != outcome.fingerprint:
        outcome.add(False, f"{report.path.name}: it names key {report.key}, not this key.")


def verify(
    path: Path,
    key: Ed25519PublicKey,
    previous: Path | None = None,
    anchors: AnchorCheck | None = None,
) -> Outcome:
    """`candor verify`: the signature, with `previous` the report's place in the chain, and
    with `anchors` its time-stamp tokens."""
    outcome = Outcome(fingerprint=signing.key_fingerprint(key))
    try:
        report = read_report(path)
    except ReportUnreadable as exc:
        outcome.add(False, str(exc))
        return outcome
    check_signature(report, key, outcome)
    if report.is_notice:
        outcome.what = "notice"
        missing = [name for name in _NOTICE_FIELDS if name not in report.document]
        if missing:
            outcome.add(False, f"{path.name}: not a valid notice (no {', '.join(missing)}).")
        if previous is not None:
            outcome.add(True, "a notice is not numbered, so it has no place in the sequence.")
        return outcome
    if "signature" in report.document:
        try:
            read_document(report.document)
        except ValidationError as exc:
            outcome.add(False, f"{path.name}: not a valid report ({exc.error_count()} problems).")
    if previous is not None:
        check_links(report, previous, key, outcome)
    if anchors is not None:
        check_anchors(report, anchors, outcome)
    return outcome


def check_links(report: ReportFile, folder: Path, key: Ed25519PublicKey, outcome: Outcome) -> None:
    """Every report in `folder` plus this one: consecutive, linked, one key."""
    if not folder.is_dir():
        outcome.add(False, f"{folder}: not a folder of earlier reports.")
        return
    by_seq = _numbered_reports(report, folder, outcome)
    if report.seq is None:
        outcome.add(False, f"{report.path.name}: it has no sequence number.")
        return
    if report.seq in by_seq and by_seq[report.seq].hash != report.hash:
        outcome.add(False, f"the folder already holds a different report #{report.seq}.")
    by_seq[report.seq] = report
    earlier = sorted(s for s in by_seq if s < report.seq)
    for seq in earlier:
        check_signature(by_seq[seq], key, outcome)
    chain = sorted(by_seq)
    start = chain[0]
    for seq in range(start, report.seq + 1):
        current = by_seq.get(seq)
        if current is None:
            outcome.add(False, f"report #{seq} is missing from {folder}.")
            continue
        _check_link(seq, current, by_seq.get(seq - 1), outcome)
    if start > 1 and report.seq >= start:
        outcome.add(True, f"reports before #{start} were not in the folder; checked from there.")


def _numbered_reports(report: ReportFile, folder: Path, outcome: Outcome) -> dict[int, ReportFile]:
    """The numbered reports in `folder` other than `report`, by sequence number."""
    by_seq: dict[int, ReportFile] = {}
    for candidate in sorted(folder.iterdir()):
        if not candidate.is_file() or not candidate.name.endswith(".json"):
            continue
        if candidate.resolve() == report.path.resolve():
            continue
        try:
            found = read_report(candidate)
        except ReportUnreadable:
            continue
        if found.seq is None:
            continue
        known = by_seq.get(found.seq)
        if known is not None and known.hash != found.hash:
            outcome.add(False, f"two different reports both numbered #{found.seq}.")
        by_seq[found.seq] = found
    return by_seq


def _check_link(seq: int, current: ReportFile, before: ReportFile | None, outcome: Outcome) -> None:
    """Report `seq` names the one before it, with the same key and a journal no shorter."""
    link = current.document.get("prev_report_hash")
    if before is None:
        if seq == 1 and link is None:
            outcome.add(True, "report #1 starts the sequence.")
        return
    if link == before.hash:
        outcome.add(True, f"report #{seq} follows report #{seq - 1}.")
    else:
        outcome.add(
            False,
            f"report #{seq} does not follow report #{seq - 1} (its prev_report_hash "
            "differs): a report was changed, replaced or dropped.",
        )
    if before.key and current.key and before.key != current.key:
        outcome.add(False, f"report #{seq} is signed with a different key from #{seq - 1}.")
    a, b = before.document.get("chain_head"), current.document.get("chain_head")
    shorter = isinstance(a, dict) and isinstance(b, dict) and b["seq"] < a["seq"]
    if shorter:
        outcome.add(False, f"report #{seq}'s journal is shorter than #{seq - 1}'s.")
    _check_rows(seq, current, a, before.document.get("schema") == WEEK_SCHEMA, outcome)


def _check_rows(
    seq: int, current: ReportFile, head: Any, before_periods: bool, outcome: Outcome
) -> None:
    """Report `seq` starts right after the last row of the report before it (after a report
    built before periods, which counted by time, at or before it)."""
    rows = current.document.get("rows")
    if not isinstance(rows, dict) or not isinstance(head, dict):
        return
    after, last = rows.get("after_seq"), head.get("seq")
    if not isinstance(after, int) or not isinstance(last, int):
        return
    if after == last or (before_periods and after <= last):
        outcome.add(True, f"report #{seq} covers Candor's record from where #{seq - 1} ended.")
    else:
        outcome.add(
            False,
            f"report #{seq} does not start where report #{seq - 1} ended (it covers rows "
            f"after #{after}; #{seq - 1} ended at row #{last}): part of Candor's record may "
            "have been left out.",
        )


# --- public time anchors ----------------------------------------------------------------------

RowHash = Callable[[int], str | None]
"""The hash the journal holds now for a row (None: no such row), when a journal is at hand."""


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """What the time anchors are checked against: the TSA certificates, and, when `candor
    verify` runs where the journal is, that journal's rows as they are now."""

    roots: list[bytes]
    """PEM certificates of the time-stamping services trusted for this check."""
    row_hash: RowHash | None = None
    attachment: Path | None = None
    """The report's anchors attachment (a tar); found next to the report when not given."""


@dataclass(frozen=True, slots=True)
class HeldToken:
    """One token to check: the row it covers and the hash that row should have now."""

    head_seq: int
    time: str
    token: bytes
    head_hash: str
    """From the journal when at hand, else the attachment's `.head`, else the document's."""
    source: str
    """Where `head_hash` came from: "journal", "attachment" or "report"."""


def check_anchors(report: ReportFile, check: AnchorCheck, outcome: Outcome) -> None:
    """Each time-stamp token of the report (and its attachment): signed by a trusted service,
    over the hash its journal row has now."""
    anchors = report.document.get("anchors")
    if not isinstance(anchors, dict):
        return
    held = _held_tokens(report, anchors, check, outcome)
    if not held:
        outcome.add(True, "this report carries no time anchors to check.")
        return
    if not check.roots:
        outcome.add(
            True,
            f"{len(held)} time anchors not checked: give the time-stamping service's "
            "certificate with --tsa-ca FILE (see docs/reports.md).",
        )
        return
    from agent.journal.anchors import DIFFERENT_HEAD, verify_token

    bad = 0
    for t in held:
        problem = verify_token(t.token, t.head_hash, check.roots)
        if problem is not None:
            bad += 1
            where = {"journal": "the journal", "attachment": "the attachment"}.get(
                t.source, "the report"
            )
            changed = (
                ": Candor's record up to that row was changed after that time"
                if problem == DIFFERENT_HEAD
                else ""
            )
            words = f"time anchor over row #{t.head_seq} ({t.time}): {problem} ({where})"
            outcome.add(False, f"{words}{changed}.")
    if not bad:
        source = "the journal as it is now" if check.row_hash else "the report"
        outcome.add(
            True,
            f"{len(held)} time anchors check out against {source}: the record up to "
            f"row #{max(t.head_seq for t in held)} existed, as it is, at {held[-1].time}.",
        )


def _held_tokens(
    report: ReportFile, anchors: dict[str, Any], check: AnchorCheck, outcome: Outcome
) -> list[HeldToken]:
    """The report's tokens and its attachment's, each with the hash to check it against."""
    from_tar = _attachment_tokens(report, anchors, check.attachment, outcome)
    tokens: dict[tuple[int, bytes], HeldToken] = {}
    for raw in anchors.get("tokens") or []:
        try:
            token = base64.b64decode(raw["token"], validate=True)
            tokens[(int(raw["head_seq"]), token)] = HeldToken(
                int(raw["head_seq"]), str(raw["time"]), token, str(raw["head_hash"]), "report"
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            outcome.add(False, f"{report.path.name}: a time anchor in it cannot be read.")
    from agent.journal.anchors import token_time

    for seq, token, head in from_tar:
        when = token_time(token) or "an unknown time"
        tokens[(seq, token)] = HeldToken(seq, when, token, head, "attachment")
    out = []
    for t in sorted(tokens.values(), key=lambda t: t.head_seq):
        now = check.row_hash(t.head_seq) if check.row_hash else None
        if check.row_hash is not None and now is None:
            outcome.add(
                False,
                f"time anchor over row #{t.head_seq}: the journal no longer holds that row (cut "
                "off, or pruned by retention).",
            )
            continue
        out.append(HeldToken(t.head_seq, t.time, t.token, now, "journal") if now else t)
    return out


def _attachment_tokens(
    report: ReportFile, anchors: dict[str, Any], given: Path | None, outcome: Outcome
) -> list[tuple[int, bytes, str]]:
    """(row, token, .head) from the anchors attachment, checked against the report's hash of it."""
    name = anchors.get("attachment")
    path = given or (report.path.with_name(name) if isinstance(name, str) else None)
    if path is None or not path.is_file():
        return []
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != anchors.get("attachment_sha256"):
        outcome.add(False, f"{path.name}: this is not the anchors attachment this report names.")
    found: list[tuple[int, bytes, str]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            files = {
                PurePosixPath(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }
    except (tarfile.TarError, OSError):
        outcome.add(False, f"{path.name}: the anchors attachment cannot be read.")
        return []
    for name, token in sorted(files.items()):
        match = re.fullmatch(r"row-(\d+)\.tsr", name)
        head = files.get(name.removesuffix(".tsr") + ".head")
        if match and head is not None:
            found.append((int(match[1]), token, head.decode("ascii", "replace").strip()))
    return found
