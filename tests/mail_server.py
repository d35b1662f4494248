"""A real SMTP server on loopback (aiosmtpd) with STARTTLS and AUTH, for delivery tests.

The certificate is made here with `cryptography` (SAN 127.0.0.1 and localhost); Candor is told
to trust it through `CANDOR_SMTP_CA_FILE`, so host-name checks stay on.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reporter.delivery import smtp
from tests.origins import free_port

USER = "agent@example.org"
PASSWORD = "s3cret-app-password"
PASSWORD_ENV = "CANDOR_TEST_SMTP_PASSWORD"


def make_cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "candor test mail server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Sink:
    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def take_unlock_sheet(self, timeout: float = 10.0) -> Received:
        """Wait for the sheet of unlock codes a confirmation sends and take it out of
        `messages`, for tests that count the other mail (tests/test_unlock_codes.py reads it)."""

        def sheet() -> Received | None:
            return next((m for m in self.messages if m.message["X-Candor-Unlock-Sheet"]), None)

        with self.arrived:
            self.arrived.wait_for(lambda: sheet() is not None, timeout)
            found = sheet()
            assert found is not None, "no sheet of unlock codes arrived"
            self.messages.remove(found)
            return found


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


class MailServer:
    """STARTTLS + AUTH required, like a submission server on port 587. Can be stopped and
    started again on the same port, to play "the mail server is down"."""

    def __init__(self, folder: Path, *, implicit_tls: bool = False) -> None:
        self.implicit_tls = implicit_tls
        self.cert, self.key = make_cert(folder)
        self.port = free_port()
        self.sink = Sink()
        self._controller: Controller | None = None

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        if self.implicit_tls:  # like port 465; aiosmtpd cannot tell the socket is encrypted
            options = {"ssl_context": context, "auth_require_tls": False}
        else:
            options = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        self._controller = Controller(
            self.sink,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_authenticator,
            **options,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Received]:
        return list(self.sink.messages)

    def smtp_settings(self) -> dict[str, object]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "tls" if self.implicit_tls else "starttls",
            "username": USER,
            "password_source": f"env:{PASSWORD_ENV}",
            "sender": USER,
        }


@pytest.fixture
def mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A running loopback mail server (STARTTLS, AUTH) that Candor's SMTP client trusts."""
    server = MailServer(tmp_path)
    server.start()
    monkeypatch.setenv(smtp.CA_FILE_ENV, str(server.cert))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    yield server
    server.stop()
