"""Slow servers do not hang Candor (issue 12, item 8, and two of item 14's smaller findings).

Real loopback servers that trickle one byte at a time (tests/trickle_server.py): every byte
comes well within any per-read timeout, so only a total deadline ends the exchange. The
deadlines are shipped constants; these tests pass shorter ones through the Python API.
"""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug import Response

from agent.config import SmtpSettings
from agent.health.status import collect
from agent.journal import Journal, anchors, clock
from agent.policy import imported_lists
from agent.policy.imported_lists import ImportFailed, import_list, update_lists
from agent.policy.list_download import redirect_allowed
from reporter.delivery import smtp, webhook
from reporter.delivery.outbox import Outbox
from reporter.delivery.sender import Sender, describe, send_notice, status_notes
from tests.origins import make_origin_cert
from tests.test_delivery import W48_DUE, at, make_home, send_due
from tests.trickle_server import HTTP_TRICKLE, SMTP_TRICKLE, TrickleServer

pytestmark = pytest.mark.usefixtures("simulated_clock")

DEADLINE = 1.5
"""The short deadline the tests pass; the shipped ones are a minute or more."""
SLACK = 3.0
"""How much later than the deadline an attempt may end on a busy 2-core machine."""


@pytest.fixture
def trickle_smtp():
    server = TrickleServer(*SMTP_TRICKLE).start()
    yield server
    server.stop()


@pytest.fixture
def trickle_http():
    server = TrickleServer(*HTTP_TRICKLE).start()
    yield server
    server.stop()


class SlowMail:
    """`make_home`'s view of a mail server: the trickling one, plain SMTP on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port

    def smtp_settings(self) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "sender": "me@x.org"}


def test_the_shipped_deadlines_are_bounded() -> None:
    assert 0 < smtp.SEND_DEADLINE <= 60
    assert 0 < webhook.POST_DEADLINE <= 60
    assert 0 < imported_lists.DOWNLOAD_DEADLINE <= 300


# -- email ----------------------------------------------------------------------------------


def test_a_trickling_mail_server_fails_the_attempt_at_the_deadline_and_it_is_retried(
    tmp_path, monkeypatch, trickle_smtp: TrickleServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=SlowMail(trickle_smtp.port))  # type: ignore[arg-type]
    moment = W48_DUE + timedelta(minutes=1)
    at(moment)
    with Sender(home, deadline=DEADLINE) as s:
        started = time.monotonic()
        result = s.run_once()
        took = time.monotonic() - started
        [(_, reason, permanent)] = result.failed
        assert took < DEADLINE + SLACK, f"the attempt took {took:.1f} s"
        assert reason == (
            f"The mail server at 127.0.0.1:{trickle_smtp.port} did not finish within 1.5 s."
        )
        assert not permanent
        [line] = [line for line in describe(result) if "not sent" in line]
        assert line.startswith("Report #1 not sent by email: The mail server at 127.0.0.1:")
        assert "Candor will try again at " in line
        [stored] = s.outbox.rows()
        assert stored.state == "pending" and stored.attempts == 1
        assert stored.last_error == reason and stored.attempt_started_at is None
        assert stored.next_attempt_at > moment, "retried later, not at once"
        failed = [e.body for e in s.journal.events(kinds=["report_failed"])]
        assert [(f["reason"], f["permanent"]) for f in failed] == [(reason, False)]

        assert s.run_once().failed == [], "not before its time"
        at(stored.next_attempt_at + timedelta(seconds=1))
        again = s.run_once()
        assert [r.attempts for r, _, _ in again.failed] == [1], "the second try"
        assert s.outbox.rows()[0].attempts == 2
    assert trickle_smtp.connections == 2


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_smtp_send_ends_at_the_deadline_whatever_the_security(
    trickle_smtp: TrickleServer, security: str
) -> None:
    """What `candor delivery test` and the notices call: bounded for every kind of server."""
    settings = SmtpSettings.model_validate(
        {"host": "127.0.0.1", "port": trickle_smtp.port, "security": security, "sender": "a@x.org"}
    )
    started = time.monotonic()
    with pytest.raises(smtp.DeliveryError) as caught:
        smtp.send(settings, b"Subject: hi\r\n\r\nhi\r\n", ["b@x.org"], deadline=DEADLINE)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert "did not finish within 1.5 s" in str(caught.value)
    assert not caught.value.permanent


# -- webhook --------------------------------------------------------------------------------


def test_a_trickling_webhook_fails_at_the_deadline_without_showing_its_token(
    tmp_path, monkeypatch, trickle_http: TrickleServer
) -> None:
    url = f"http://user:pw@127.0.0.1:{trickle_http.port}/hook?token=s3cret"
    home = make_home(tmp_path, monkeypatch, webhook_url=url)
    moment = W48_DUE + timedelta(minutes=1)
    at(moment)
    with Sender(home, deadline=DEADLINE) as s:
        started = time.monotonic()
        result = s.run_once()
        assert time.monotonic() - started < DEADLINE + SLACK
        [(_, reason, permanent)] = result.failed
        assert reason == (
            f"The webhook at http://…@127.0.0.1:{trickle_http.port}/hook?… did not finish "
            "within 1.5 s."
        )
        assert not permanent
        [stored] = s.outbox.rows()
        assert stored.state == "pending" and stored.attempts == 1
        assert stored.next_attempt_at > moment
        at(stored.next_attempt_at + timedelta(seconds=1))
        assert s.run_once().failed
    assert trickle_http.connections == 2
    assert not any("s3cret" in line or "pw@" in line for line in describe(result))


def test_a_webhook_whose_headers_trickle_ends_at_the_deadline() -> None:
    server = TrickleServer(b"HTTP/1.1 200 OK\r\n", b"X-Slow: yes\r\n").start()
    try:
        started = time.monotonic()
        with pytest.raises(smtp.DeliveryError, match=r"did not finish within 1\.5 s"):
            webhook.post(
                f"http://127.0.0.1:{server.port}/hook",
                b"{}",
                webhook_id="test",
                key=Ed25519PrivateKey.generate(),
                now=datetime.now(UTC),
                deadline=DEADLINE,
            )
        assert time.monotonic() - started < DEADLINE + SLACK
    finally:
        server.stop()


def test_a_notice_to_a_trickling_server_ends_at_the_deadline(
    tmp_path, monkeypatch, trickle_smtp: TrickleServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=SlowMail(trickle_smtp.port))  # type: ignore[arg-type]
    started = time.monotonic()
    assert send_notice(home, "uninstalled", queue_failed=True, deadline=DEADLINE) is False
    assert time.monotonic() - started < DEADLINE + SLACK
    with Journal(home.journal_file) as journal:
        [failed] = [e.body for e in journal.events(kinds=["report_failed"])]
    assert "did not finish within 1.5 s" in failed["reason"]


def test_send_due_shows_a_webhook_without_its_token(tmp_path, monkeypatch, httpserver) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_response(Response("ok"))
    url = httpserver.url_for("/hook").replace("http://", "http://me:pw@") + "?token=s3cret"
    home = make_home(tmp_path, monkeypatch, webhook_url=url)
    at(W48_DUE + timedelta(minutes=1))
    done = send_due(home)
    assert done.returncode == 0, done.stderr
    shown = f"http://…@{httpserver.host}:{httpserver.port}/hook?…"
    assert f"Report #1 sent by webhook to {shown}." in done.stdout
    assert "s3cret" not in done.stdout + done.stderr and "pw@" not in done.stdout


def test_shown_url_keeps_scheme_host_and_path_only() -> None:
    assert webhook.shown_url("https://h.example/p/q") == "https://h.example/p/q"
    assert (
        webhook.shown_url("https://a:b@h.example:8443/p?t=1#x") == "https://…@h.example:8443/p?…#…"
    )
    assert webhook.shown_url("http://[::1]:80/p?k") == "http://[::1]:80/p?…"


# -- status ---------------------------------------------------------------------------------


def test_status_says_when_a_delivery_is_stuck_or_failing_for_long(
    tmp_path, monkeypatch, trickle_smtp: TrickleServer
) -> None:
    home = make_home(tmp_path, monkeypatch, mail=SlowMail(trickle_smtp.port))  # type: ignore[arg-type]
    at(W48_DUE + timedelta(minutes=1))
    with Sender(home, deadline=DEADLINE) as s:
        s.run_once()
    at(W48_DUE + timedelta(days=3))
    notes = status_notes(home)
    assert any(
        "Delivery of report #1 by email keeps failing, for 2 days now (1 try; last: The mail "
        "server at 127.0.0.1:" in note
        for note in notes
    ), notes
    # an attempt that began (the row claimed) and never ended: a hung or killed sender
    with Journal(home.journal_file, clock=clock.now) as journal, Outbox(journal) as outbox:
        [row] = outbox.rows()
        at(row.next_attempt_at + timedelta(seconds=1))
        assert outbox.claim(outbox.rows()[0])
        at(row.next_attempt_at + timedelta(minutes=12))
    status = collect(home, verify=False, delivery_notes=status_notes)
    stuck = [p.what for p in status.problems if "under way" in p.what]
    assert stuck == [
        "Delivery of report #1 by email has been under way for 11 minutes and has not "
        "finished: the process sending it may be stuck or was stopped. Candor takes it up "
        "again by itself; if this note stays, restart Candor."
    ]


# -- list downloads -------------------------------------------------------------------------


def lists_dir_is_empty(lists_dir: Path) -> bool:
    """Nothing stored: no list, no note, no staging folder (the compiled cache aside)."""
    return [p for p in lists_dir.rglob("*") if ".cache" not in p.parts] in ([], [lists_dir / "ads"])


def test_a_trickling_list_server_ends_with_a_clear_error_and_stores_nothing(
    tmp_path, trickle_http: TrickleServer
) -> None:
    lists_dir = tmp_path / "lists"
    lists_dir.mkdir()
    url = f"http://127.0.0.1:{trickle_http.port}/hosts.txt"
    started = time.monotonic()
    with pytest.raises(ImportFailed) as caught:
        import_list(lists_dir, url, "ads", deadline=DEADLINE)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert str(caught.value) == (
        f"Cannot download {url}: the server did not finish within 1.5 s, so nothing was imported."
    )
    assert lists_dir_is_empty(lists_dir), list(lists_dir.rglob("*"))


def test_updating_from_a_trickling_list_server_ends_and_keeps_the_old_list(
    tmp_path, trickle_http: TrickleServer
) -> None:
    lists_dir = tmp_path / "lists"
    source = tmp_path / "hosts.txt"
    source.write_text("0.0.0.0 ads.example\n")
    url = f"http://127.0.0.1:{trickle_http.port}/hosts.txt"
    stored = import_list(lists_dir, str(source), "ads", name="hosts").stored
    meta = stored.meta_path.read_text().replace(str(source.resolve()), url)
    stored.meta_path.write_text(meta)
    started = time.monotonic()
    [result] = update_lists(lists_dir, deadline=DEADLINE)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(result, ImportFailed) and "did not finish within 1.5 s" in str(result)
    assert stored.data_path.read_text() == "0.0.0.0 ads.example\n", "the old list stays"


@pytest.fixture
def tls_server_context(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A server context for 127.0.0.1 and localhost whose certificate httpx trusts."""
    cert = make_origin_cert(tmp_path / "cert")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))  # httpx's standard way in
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    return context


def redirecting_head(location: str) -> bytes:
    fields = f"Location: {location}\r\nContent-Length: 0\r\nConnection: close\r\n"
    return f"HTTP/1.1 302 Found\r\n{fields}\r\n".encode()


def redirecting(location: str, tls: ssl.SSLContext | None) -> TrickleServer:
    """A server that answers every request with a redirect to `location`."""
    return TrickleServer(redirecting_head(location), b"", tls=tls).start()


LIST_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0.0.0.0 ads.example\n"


@pytest.mark.parametrize("where", ["http", "other host", "other port"])
def test_a_list_download_refuses_a_redirect_off_https_or_to_another_host(
    tmp_path, tls_server_context: ssl.SSLContext, where: str
) -> None:
    target = TrickleServer(LIST_ANSWER, b"", tls=tls_server_context).start()
    server = redirecting("", tls_server_context)
    location = {
        "http": f"http://127.0.0.1:{target.port}/hosts.txt",
        "other host": f"https://localhost:{server.port}/hosts.txt",  # the same server, renamed
        "other port": f"https://127.0.0.1:{target.port}/hosts.txt",
    }[where]
    server.head = redirecting_head(location)
    lists_dir = tmp_path / "lists"
    lists_dir.mkdir()
    try:
        url = f"https://127.0.0.1:{server.port}/hosts.txt"
        with pytest.raises(ImportFailed, match="a list download follows only https to https"):
            import_list(lists_dir, url, "ads", deadline=10)
        assert server.connections == 1, "the redirect was not followed"
        assert target.connections == 0, "the redirect was not followed"
        assert lists_dir_is_empty(lists_dir)
    finally:
        server.stop()
        target.stop()


def test_a_redirect_to_the_same_https_host_and_port_is_followed(
    tmp_path, tls_server_context: ssl.SSLContext
) -> None:
    server = TrickleServer(b"", b"", tls=tls_server_context, later=LIST_ANSWER).start()
    server.head = redirecting_head(f"https://127.0.0.1:{server.port}/final.txt")
    try:
        url = f"https://127.0.0.1:{server.port}/hosts.txt"
        assert import_list(tmp_path, url, "ads", deadline=10).accepted == 1
        assert server.connections == 2
    finally:
        server.stop()
    forever = redirecting("", tls_server_context)
    forever.head = redirecting_head(f"https://127.0.0.1:{forever.port}/again")
    try:
        with pytest.raises(ImportFailed, match="redirects more than 5 times"):
            import_list(tmp_path, f"https://127.0.0.1:{forever.port}/", "ads2", deadline=10)
        assert forever.connections == 6
    finally:
        forever.stop()


def test_a_plain_http_list_download_follows_no_redirect(tmp_path) -> None:
    target = TrickleServer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0.0.0.0 ads.example\n", b""
    )
    target.start()
    server = redirecting(f"http://127.0.0.1:{target.port}/hosts.txt", None)
    try:
        with pytest.raises(ImportFailed, match=r"sends Candor on to http://127\.0\.0\.1:"):
            import_list(tmp_path, f"http://127.0.0.1:{server.port}/a.txt", "ads", deadline=10)
        assert target.connections == 0
    finally:
        server.stop()
        target.stop()


def test_which_redirects_a_list_download_follows() -> None:
    assert redirect_allowed("https://lists.example/a", "https://lists.example/b")
    assert redirect_allowed("https://lists.example:8443/a", "https://lists.example:8443/b")
    assert redirect_allowed("https://github.com/x/raw/a", "https://raw.githubusercontent.com/a")
    assert not redirect_allowed("https://lists.example/a", "http://lists.example/a")
    assert not redirect_allowed("http://lists.example/a", "http://lists.example/b")
    assert not redirect_allowed("http://lists.example/a", "https://lists.example/b")
    assert not redirect_allowed("https://lists.example/a", "https://evil.example/a")
    assert not redirect_allowed("https://lists.example/a", "https://lists.example:8443/a")
    assert not redirect_allowed("https://lists.example/a", "https://raw.githubusercontent.com:81/")
    assert not redirect_allowed("https://lists.example/a", "https://u:p@lists.example/a")


# -- time-stamp authorities -----------------------------------------------------------------


def test_a_trickling_time_stamp_authority_ends_at_the_deadline(trickle_http: TrickleServer) -> None:
    url = f"http://127.0.0.1:{trickle_http.port}/tsa"
    started = time.monotonic()
    with pytest.raises(anchors.AnchorFailure) as caught:
        anchors.request_token(url, 1, "ab" * 32, deadline=DEADLINE)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert caught.value.reason == "offline"
    assert caught.value.detail == f"{url} could not be reached: it did not finish within 1.5 s"
