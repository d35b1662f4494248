"""Signatures a partner can check: `candor verify`, OpenSSL and ssh-keygen, with real keys; and
tampering with a report, or with the sequence of reports, caught by `candor verify --previous`."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

from agent.journal import Journal
from reporter import schedule, signing
from reporter.build import BuiltReport, build_report, previous_from_document, report_hash
from reporter.verify import verify
from tests.conftest import require_tool
from tests.harness import ClockControl
from tests.report_helpers import BUILD_AT, MONDAY, WEEK, candor, heartbeats, make_home

ARTIFACTS = Path(__file__).parent / "artifacts"


def _build(home, config, seq=1, prev=None, week=WEEK, after=None) -> BuiltReport:
    """Report `seq` for the period ending in `week`, continuing report `after` if given."""
    with Journal(home.journal_file) as journal:
        if journal.head() is None:
            heartbeats(journal, MONDAY + timedelta(hours=30), 90, mono=4000, boot=4000)
            journal.append_raw(
                "decision",
                {"decision": "block", "category": "adult", "host": "bad.example"},
                ts=MONDAY + timedelta(hours=31),
            )
        period = schedule.period_ending_in_week(week, config.report, config.report.zone())
        previous = previous_from_document(after.document, seq - 1) if after else None
        return build_report(home, config, journal, period, seq=seq, prev_report_hash=prev,
                            now=BUILD_AT, previous=previous)  # fmt: skip


def _save(built: BuiltReport, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"candor-report-{built.period.id}-{built.document['seq']}"
    path = stem.with_suffix(".json")
    path.write_bytes(built.json_bytes)
    signed = Path(f"{stem}.signed.json")
    signed.write_bytes(built.signed_bytes)
    Path(f"{signed}.sig").write_bytes(built.raw_signature)
    Path(f"{signed}.sshsig").write_text(built.sshsig)
    return path


def test_key_is_private_and_stable(tmp_path: Path) -> None:
    home, _ = make_home(tmp_path / "home")
    first = signing.fingerprint(home)
    assert signing.fingerprint(home) == first
    mode = stat.S_IMODE(os.stat(home.keys_dir / signing.KEY_FILE).st_mode)
    assert mode == 0o600
    assert [h["fingerprint"] for h in signing.key_history(home)] == [first]
    ssh = require_tool("ssh-keygen")
    shown = subprocess.run(
        [ssh, "-lf", str(home.keys_dir / signing.PUBLIC_FILE)], capture_output=True, text=True
    )
    assert first in shown.stdout


def test_signature_verifies_with_candor_openssl_and_ssh_keygen(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home")
    built = _build(home, config)
    assert built.document["signature"]["key"] == signing.fingerprint(home)
    assert len(built.raw_signature) == 64
    assert report_hash(built) == hashlib.sha256(built.signed_bytes).hexdigest()
    path = _save(built, tmp_path / "inbox")
    signed = Path(str(path).replace(".json", ".signed.json"))
    pub = tmp_path / "candor-signing-key.pub"
    pub.write_text(signing.public_key_openssh(home) + "\n")
    pem = tmp_path / "candor-signing-key.pem"
    pem.write_text(signing.public_key_pem(home))

    own = candor(home.root, "verify", str(path))
    assert own.returncode == 0, own.stdout + own.stderr
    assert signing.fingerprint(home).encode() in own.stdout
    partner = candor(tmp_path / "partner-home", "verify", str(path), "--key", str(pub))
    assert partner.returncode == 0, partner.stdout + partner.stderr
    detached = candor(tmp_path / "partner-home", "verify", str(signed), "--key", str(pem))
    assert detached.returncode == 0, detached.stdout + detached.stderr

    openssl = require_tool("openssl")
    result = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
         "-in", str(signed), "-sigfile", f"{signed}.sig"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout

    ssh = require_tool("ssh-keygen")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'candor namespaces="candor-report" {pub.read_text()}')
    with signed.open("rb") as stdin:
        result = subprocess.run(
            [ssh, "-Y", "verify", "-f", str(allowed), "-I", "candor", "-n", "candor-report",
             "-s", f"{signed}.sshsig"],
            stdin=stdin, capture_output=True, text=True,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Good" in result.stdout + result.stderr


def test_a_changed_report_fails_everywhere(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home")
    built = _build(home, config)
    path = _save(built, tmp_path / "inbox")
    document = json.loads(path.read_bytes())
    document["summary"]["totals"]["block"] = 0
    path.write_text(json.dumps(document, indent=2))
    result = candor(home.root, "verify", str(path))
    assert result.returncode == 1
    assert b"FAIL" in result.stdout

    signed = Path(str(path).replace(".json", ".signed.json"))
    signed.write_bytes(signed.read_bytes().replace(b'"block":1', b'"block":0', 1))
    openssl = require_tool("openssl")
    pem = tmp_path / "k.pem"
    pem.write_text(signing.public_key_pem(home))
    result = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
         "-in", str(signed), "-sigfile", f"{signed}.sig"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0

    other, _ = make_home(tmp_path / "other")
    pub = tmp_path / "other.pub"
    pub.write_text(signing.public_key_openssh(other))
    original = _save(built, tmp_path / "inbox2")
    outcome = verify(original, signing.public_key(other))
    assert not outcome.ok and "different key" in " ".join(c.message for c in outcome.checks)


def test_previous_reports_link_up_and_gaps_or_swaps_fail(tmp_path: Path) -> None:
    home, config = make_home(tmp_path / "home")
    inbox = tmp_path / "inbox"
    one = _build(home, config, 1, None, "2026-W47")
    two = _build(home, config, 2, report_hash(one), "2026-W48", one)
    three = _build(home, config, 3, report_hash(two), "2026-W49", two)
    _save(one, inbox)
    _save(two, inbox)
    latest = _save(three, tmp_path / "new")
    ok = candor(home.root, "verify", str(latest), "--previous", str(inbox))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert b"report #3 follows report #2" in ok.stdout

    # a dropped report
    (inbox / f"candor-report-{two.period.id}-2.json").unlink()
    (inbox / f"candor-report-{two.period.id}-2.signed.json").unlink()
    key = signing.public_key(home)
    missing = verify(latest, key, inbox)
    assert not missing.ok and "report #2 is missing" in _messages(missing)

    # a replaced report #2 (built again, so a different hash)
    with Journal(home.journal_file) as journal:
        journal.append_raw("agent_start", {"version": "x"})
    again = _build(home, config, 2, report_hash(one), "2026-W48", one)
    assert report_hash(again) != report_hash(two)
    _save(again, inbox)
    swapped = verify(latest, key, inbox)
    assert not swapped.ok and "does not follow report #2" in _messages(swapped)

    # a report from another installation (a reinstall): another key
    other, other_config = make_home(tmp_path / "other")
    stranger = _build(other, other_config, 4, report_hash(three), "2026-W50", three)
    clean = tmp_path / "clean"
    for built in (one, two, three):
        _save(built, clean)
    mixed = verify(_save(stranger, tmp_path / "newer"), key, clean)
    assert not mixed.ok and "different key" in _messages(mixed)


def _messages(outcome) -> str:
    return " ".join(c.message for c in outcome.checks)


def test_preview_prints_the_signed_document_byte_for_byte(
    tmp_path: Path, simulated_clock: ClockControl
) -> None:
    home, _ = make_home(tmp_path / "home")
    simulated_clock.at("2026-12-06T17:00:00+00:00")
    with Journal(home.journal_file) as journal:
        heartbeats(journal, MONDAY + timedelta(hours=30), 30, mono=4000, boot=4000)
    result = candor(home.root, "report", "preview", "--week", WEEK, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["seq"] == 1 and document["prev_report_hash"] is None
    # the period ending in that ISO week: the seven days up to its Sunday 18:00
    assert document["period"] == {
        "start": "2026-11-22T18:00:00+01:00", "end": "2026-11-29T18:00:00+01:00",
        "timezone": "Europe/Berlin",
    }  # fmt: skip
    saved = tmp_path / "preview.json"
    saved.write_bytes(result.stdout)
    assert candor(home.root, "verify", str(saved)).returncode == 0
    by_day = candor(home.root, "report", "preview", "--period", "2026-11-29", "--format", "json")
    assert json.loads(by_day.stdout)["period"] == document["period"]
    text = candor(home.root, "report", "preview", "--week", WEEK)
    assert text.returncode == 0 and b"Candor weekly report" in text.stdout
    assert b"22 Nov 18:00 \xe2\x80\x93 29 Nov 18:00 (Europe/Berlin)" in text.stdout
    bad = candor(home.root, "report", "preview", "--week", "48")
    assert bad.returncode == 1 and b"ISO week" in bad.stderr
    bad = candor(home.root, "report", "preview", "--period", "29 Nov")
    assert bad.returncode == 1 and b"2026-12-06" in bad.stderr


def test_html_renders_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    home, config = make_home(tmp_path / "home", "domains")
    with Journal(home.journal_file) as journal:
        mono, boot = heartbeats(journal, MONDAY + timedelta(hours=8), 600, mono=4000, boot=4000)
        heartbeats(journal, MONDAY + timedelta(hours=8, minutes=599 + 80), 300,
                   mono=mono + 80 * 60, boot=boot + 80 * 60)  # fmt: skip
        for day, hour in ((0, 21), (0, 22), (2, 23), (4, 22), (4, 22)):
            journal.append_raw(
                "decision",
                {"decision": "block", "category": "adult", "host": "bad.example"},
                ts=MONDAY + timedelta(days=day, hours=hour),
            )
        warn = {"decision": "warn", "category": "gambling", "host": "bet.example"}
        journal.append_raw("decision", warn, ts=MONDAY + timedelta(days=3, hours=20))
        journal.append_raw("warn_continue", {"host": "bet.example", "category": "gambling"},
                       ts=MONDAY + timedelta(days=3, hours=20, minutes=1))  # fmt: skip
    built = _build(home, config)
    assert "<script" not in built.html and "http://" not in built.html
    assert "https://" not in built.html and "<style" not in built.html
    page = tmp_path / "report.html"
    page.write_text(built.html)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=420,2400", "--hide-scrollbars", page.as_uri()],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000


def test_verify_without_a_key_says_what_to_do(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text("{}")
    result = candor(tmp_path / "fresh", "verify", str(report))
    assert result.returncode == 1 and b"--key" in result.stderr
    assert not (tmp_path / "fresh" / "keys" / "signing_key").exists()
