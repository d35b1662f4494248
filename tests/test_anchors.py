"""Issue 11, finding 8: anchors in public time, against a real local time-stamping authority
(`openssl ts -reply` behind a loopback HTTP server, tests/local_tsa.py).

A real agent anchors its chain head while a partner has confirmed, and only the SHA-256 of the
head's hash reaches the authority; a rewrite of journal rows before the last token is caught by
`candor verify` and by stock `openssl ts -verify` on the report's attachment; an authority that
cannot be reached gives hours "with no time anchor" in the report; anchoring turned off is said
in the next report.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, Home, load_config
from agent.journal import Journal, canonical_json, record_hash
from agent.journal.anchors import AnchorLoop, anchor_once, imprint_of, verify_token
from agent.journal.events import Anchor, AnchorFailed
from reporter import consent, render_text, schedule, signing
from reporter.build import BuiltReport, build_report
from reporter.delivery.messages import report_email, report_webhook_body
from reporter.document import read_document
from reporter.invitation import invitation
from tests.conftest import require_tool
from tests.local_tsa import NOWHERE, LocalTsa, start_tsa
from tests.proxy_fixtures import start_agent
from tests.report_helpers import candor, heartbeats, make_home, next_report

PARTNER = {"name": "Alex", "email": "alex@example.org"}


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    """A real RFC 3161 authority on loopback, recording every request it receives."""
    running = start_tsa(tmp_path / "tsa")
    try:
        yield running
    finally:
        running.stop()


def anchored_home(
    root: Path,
    tsa: LocalTsa,
    *,
    confirmed_at: datetime | None = None,
    changes: tuple[str, ...] = ("given", "confirmed"),
) -> Home:
    """A home whose partner has confirmed (`changes`), anchoring with the local authority."""
    home, _ = make_home(root)
    home.config_file.write_text(home.config_file.read_text().replace(NOWHERE, tsa.url))
    clock = (lambda: confirmed_at) if confirmed_at else None
    with (
        Journal(home.journal_file, clock=clock) if clock else Journal(home.journal_file)
    ) as journal:
        for change in changes:
            consent.record(journal, change, level="summary", **PARTNER)
    return home


def head_of(journal: Journal) -> tuple[int, str] | None:
    """The journal's head as the agent hands it to the anchor loop."""
    row = journal.head()
    return None if row is None else (row.seq, row.hash)


def query_text(body: bytes, folder: Path) -> str:
    """A time-stamp request as `openssl ts -query -text` reads it."""
    path = folder / "request.tsq"
    path.write_bytes(body)
    return subprocess.run(
        [require_tool("openssl"), "ts", "-query", "-in", str(path), "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def openssl_verify(folder: Path, stem: str, ca: Path) -> str:
    """Stock OpenSSL's verdict on one token of the attachment, as the README says to run it."""
    proc = subprocess.run(
        [require_tool("openssl"), "ts", "-verify", "-in", f"{stem}.tsr", "-data", f"{stem}.head",
         "-CAfile", str(ca)],
        capture_output=True, text=True, cwd=folder,
    )  # fmt: skip
    return proc.stdout.strip()


def build(home: Home, journal: Journal, now: datetime, seq: int = 1) -> BuiltReport:
    """The report of the seven days up to the next report time, as the sender builds it."""
    config: Config = load_config(home)
    zone = config.report.zone()
    end = schedule.report_time_after(now, config.report, zone)
    period = schedule.ReportPeriod(schedule.seven_days_before(end, zone), end, zone)
    state = consent.consent_state(journal)
    return build_report(home, config, journal, period, seq=seq, prev_report_hash=None, now=now,
                        confirmed_seq=state.confirmed_seq)  # fmt: skip


def save(built: BuiltReport, folder: Path) -> tuple[Path, Path]:
    """The report and its anchors attachment as the partner saves them, the tar unpacked."""
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "report.json"
    report.write_bytes(built.json_bytes)
    assert built.anchors_tar is not None, "the report has an anchors attachment"
    name = built.document["anchors"]["attachment"]
    (folder / name).write_bytes(built.anchors_tar)
    with tarfile.open(folder / name) as tar:
        tar.extractall(folder, filter="data")
    return report, folder / name.removesuffix(".tar")


def rewrite_row(journal_file: Path, seq: int, body: dict[str, Any]) -> None:
    """What a determined person could do: change row `seq` and re-chain every row after it, so
    the journal's own check still passes."""
    conn = sqlite3.connect(journal_file)
    try:
        conn.execute("DROP TRIGGER IF EXISTS events_append_only")
        rows = conn.execute(
            "SELECT seq, ts, kind, body, prev_hash FROM events WHERE seq >= ? ORDER BY seq", (seq,)
        ).fetchall()
        prev = rows[0][4]
        for n, ts, kind, text, _ in rows:
            new_body = body if n == seq else json.loads(text)
            digest = record_hash(n, ts, kind, new_body, prev)
            conn.execute(
                "UPDATE events SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (canonical_json(new_body).decode(), prev, digest, n),
            )
            prev = digest
        conn.commit()
    finally:
        conn.close()


def test_a_real_agent_anchors_its_chain_head_and_only_the_hash_leaves(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    home = anchored_home(tmp_path / "home", tsa)
    agent = start_agent(home.root, anchor_interval=1.0)
    try:
        agent.wait_for_event("anchor", timeout=30)
        deadline = time.monotonic() + 30
        while len(agent.events("anchor")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        assert agent.stop() == 0
    with Journal(home.journal_file) as journal:
        anchors = list(journal.events(kinds=["anchor"]))
        hashes = {e.seq: e.hash for e in journal.events()}
        assert journal.verify().ok
    assert len(anchors) >= 2, "the agent anchors again after its interval"
    for row in anchors:
        body = row.body
        assert body["tsa"] == tsa.url
        assert hashes[body["head_seq"]] == body["head_hash"], "the token covers a journal row"
        assert body["head_seq"] < row.seq
        reply = base64.b64decode(body["token"])
        assert verify_token(reply, body["head_hash"], [tsa.ca.read_bytes()]) is None
    # What reached the authority: one request per anchor, each only the head's digest.
    assert len(tsa.requests) == len(anchors)
    for row, body in zip(anchors, tsa.requests, strict=True):
        text = query_text(body, tmp_path)
        dump = text.split("Message data:\n")[1].split("Policy OID")[0].splitlines()
        digest = "".join(line.split(" - ", 1)[1][:47].replace("-", " ") for line in dump)
        assert bytes.fromhex(digest) == imprint_of(row.body["head_hash"])
        lines = [line for line in text.splitlines() if not line.startswith("    ")]
        assert lines[0] == "Version: 1" and lines[1] == "Hash Algorithm: sha256"
        assert lines[2:] == [
            "Message data:",
            "Policy OID: unspecified",
            lines[4],
            "Certificate required: yes",
            "Extensions:",
        ]
        assert re.fullmatch(r"Nonce: 0x[0-9A-F]+", lines[4])
        assert len(body) < 100, "a request holds a digest and a nonce, nothing more"
        assert row.body["head_hash"].encode() not in body and b"candor" not in body.lower()


def test_nothing_is_sent_before_the_partner_confirms(tmp_path: Path, tsa: LocalTsa) -> None:
    home = anchored_home(tmp_path / "home", tsa, changes=("given",))
    agent = start_agent(home.root, anchor_interval=1.0)
    try:
        agent.wait_for_event("heartbeat")
        time.sleep(4)
        assert agent.events("anchor") == [] and agent.events("anchor_failed") == []
    finally:
        assert agent.stop() == 0
    assert tsa.requests == [], "nothing reaches the time-stamping service"


def test_after_a_token_the_next_falls_due_a_minute_past_the_next_hour() -> None:
    loop = AnchorLoop(lambda e: None, lambda: None, lambda: [])
    token = Anchor(tsa="t", head_seq=1, head_hash="h", gen_time="g", token="")
    failed = AnchorFailed(reason="offline", detail="d")
    at = datetime(2026, 12, 1, 2, 17, tzinfo=UTC).timestamp()
    assert loop.next_due(at, token) == datetime(2026, 12, 1, 3, 1, tzinfo=UTC).timestamp()
    assert loop.next_due(at, failed) == at + 300
    assert loop.next_due(at, None) == at + 300


def test_a_rewrite_before_the_last_token_is_caught_by_candor_verify_and_by_openssl(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    now = datetime.now(UTC)
    home = anchored_home(tmp_path / "home", tsa, confirmed_at=now - timedelta(hours=3))
    with Journal(home.journal_file) as journal:
        heartbeats(journal, now - timedelta(hours=2), 60, mono=1000.0, boot=1000.0)
        rewritten = journal.append_raw(
            "decision",
            {"decision": "block", "category": "adult", "action": "block", "rule": "bad.example",
             "source": "adult.txt", "host": "bad.example"},
        ).seq  # fmt: skip
        first = anchor_once(lambda: head_of(journal), [tsa.url])
        journal.append(first)
        heartbeats(journal, now - timedelta(minutes=30), 20, mono=9000.0, boot=9000.0)
        last = anchor_once(lambda: head_of(journal), [tsa.url])
        journal.append(last)
        built = build(home, journal, now)
    report, files = save(built, tmp_path / "partner")
    assert built.document["anchors"]["count"] == 2
    mail = report_email(load_config(home), built, to="alex@example.org", message_id="<1@x>", seq=1)
    [tar] = [p for p in mail.iter_attachments() if p.get_filename().endswith(".tar")]
    assert tar.get_filename() == built.document["anchors"]["attachment"]
    assert tar.get_payload(decode=True) == built.anchors_tar
    hook = json.loads(report_webhook_body(load_config(home), built, seq=1))["data"]["anchors"]
    assert hook["filename"] == tar.get_filename()
    assert base64.b64decode(hook["tar_base64"]) == built.anchors_tar  # a webhook carries it too
    stems = sorted(p.stem for p in files.glob("row-*.tsr"))
    assert len(stems) == 2
    assert "openssl ts -verify -in row-N.tsr -data row-N.head" in (files / "README.txt").read_text()

    # Before any rewrite: both checks pass.
    for stem in stems:
        assert openssl_verify(files, stem, tsa.ca) == "Verification: OK"
    checked = candor(home.root, "verify", str(report), "--tsa-ca", str(tsa.ca))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert "2 time anchors check out against the journal as it is now" in checked.stdout.decode()

    # And a token checked against a different authority's certificate is refused.
    other = start_tsa(tmp_path / "other")
    other.stop()
    refused = candor(home.root, "verify", str(report), "--tsa-ca", str(other.ca))
    assert refused.returncode == 1
    assert "signature does not check out against the time-stamping certificate" in " ".join(
        refused.stdout.decode().split()
    )

    # A row written before both tokens is changed, and everything after it re-chained.
    rewrite_row(home.journal_file, rewritten, {"decision": "log", "host": "fine.example"})
    with Journal(home.journal_file) as journal:
        assert journal.verify().ok, "the journal's own chain cannot tell"
        after = build(home, journal, now, seq=2)

    checked = candor(home.root, "verify", str(report), "--tsa-ca", str(tsa.ca))
    out = " ".join(checked.stdout.decode().split())
    assert checked.returncode == 1
    assert "FAIL time anchor over row" in out and "was changed after that time" in out
    # The partner, with the next report's attachment and stock OpenSSL only.
    next_report_file, files_after = save(after, tmp_path / "partner-next")
    for stem in stems:
        assert "Verification: FAILED" in openssl_verify(files_after, stem, tsa.ca)
    # And with Candor on the partner's own computer: no journal there, only the attachment.
    pub = tmp_path / "candor-signing-key.pub"
    pub.write_text(signing.public_key_openssh(home))
    partner = candor(tmp_path / "partner-home", "verify", str(next_report_file), "--key", str(pub),
                     "--tsa-ca", str(tsa.ca))  # fmt: skip
    out = " ".join(partner.stdout.decode().split())
    assert partner.returncode == 1, out
    assert "(the attachment): Candor's record up to that row was changed after that time" in out


def test_an_authority_that_cannot_be_reached_gives_hours_with_no_time_anchor(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    home = anchored_home(tmp_path / "home", tsa, confirmed_at=hour - timedelta(hours=8))
    tsa.stop()  # nothing answers there any more: the computer is offline, or it is blocked
    with Journal(home.journal_file) as journal:
        heartbeats(journal, hour - timedelta(hours=6), 6 * 60, mono=10.0, boot=10.0)
        loop = AnchorLoop(journal.append, lambda: head_of(journal), lambda: [tsa.url])
        outcomes = [loop.anchor_now() for _ in range(3)]
        assert all(isinstance(o, AnchorFailed) and o.reason == "offline" for o in outcomes)
        assert len(list(journal.events(kinds=["anchor_failed"]))) == 1, "one row an hour"
        for hours in range(6, 0, -1):  # as the hourly attempts of the last six hours wrote them
            failed = anchor_once(lambda: head_of(journal), [tsa.url])
            journal.append(failed, ts=hour - timedelta(hours=hours, minutes=-1))
    document, text = next_report(home.root)
    missing = document["anchors"]["missing"]
    start, end = hour - timedelta(hours=6), hour
    assert [(m["reason"], m["start"], m["end"]) for m in missing] == [
        ("offline", start.isoformat(), end.isoformat())
    ]
    zone = render_text.zone_of(read_document(document))
    a, b = start.astimezone(zone), end.astimezone(zone)
    assert (
        f"No time anchor from {a:%H:%M} to {b:%H:%M} on {a:%a} {a.day} {a:%b}: the computer was "
        "offline or the time-stamping service could not be reached." in text
    )


def test_anchoring_turned_off_is_said_in_the_next_report(tmp_path: Path, tsa: LocalTsa) -> None:
    home = anchored_home(tmp_path / "home", tsa)
    agent = start_agent(home.root, anchor_interval=1.0)
    try:
        agent.wait_for_event("anchor", timeout=30)
        config = home.config_file.read_text().replace("[anchors]\n", "[anchors]\nenabled = false\n")
        home.config_file.write_text(config)
        agent.wait_for_event(
            "config_changed",
            lambda e: any(c.get("what") == "anchors.enabled" for c in e["changes"]),
            timeout=30,
        )
        time.sleep(1.5)
        count = len(agent.events("anchor"))
        time.sleep(3)
        assert len(agent.events("anchor")) == count, "no anchor once it is off"
    finally:
        assert agent.stop() == 0
    document, text = next_report(home.root)
    [change] = document["anchors"]["changes"]
    assert change["enabled"] is False and document["anchors"]["enabled"] is False
    assert "Time anchoring was turned off on" in text
    assert "Time anchoring is off:" in text


def test_the_invitation_says_what_is_sent_to_whom_how_often_and_that_it_may_be_turned_off(
    tmp_path: Path, tsa: LocalTsa
) -> None:
    home = anchored_home(tmp_path / "home", tsa)
    config = load_config(home)
    sent = datetime(2026, 11, 25, 12, tzinfo=UTC)  # when the invitation goes
    words = " ".join(
        invitation(config, now=sent, person="Sam", code="ABCDEFGH", fingerprint="SHA256:x",
                   public_key="ssh-ed25519 AAAA", categories=["adult"]).text.split()
    )  # fmt: skip
    assert "Once an hour, Candor sends a fingerprint of its record" in words
    assert f"public time-stamping service, {tsa.url}, which signs it" in words
    assert "The fingerprint is a SHA-256 hash" in words and "Nothing else is sent" in words
    assert "Sam may turn this off; the next report then says so." in words
    off = config.model_copy(
        update={"anchors": config.anchors.model_copy(update={"enabled": False})}
    )
    words = " ".join(
        invitation(off, now=sent, person="Sam", code="ABCDEFGH", fingerprint="SHA256:x",
                   public_key="ssh-ed25519 AAAA", categories=["adult"]).text.split()
    )  # fmt: skip
    assert "Public time anchors are turned off on this computer." in words
