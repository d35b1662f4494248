"""Email delivery with the standard library: STARTTLS (587), implicit TLS (465), AUTH.

The password is read at send time from where `password_source` points (the OS keyring, an
environment variable or a 0600 file), never from config.toml. Messages are built once, as
bytes, and stored in the outbox; sending is handing those bytes to the server, so a retry is the
very same message. Failures are classified: a wrong password or a refused address will not fix
itself (permanent: stop and tell the person); a server that is down or busy will (transient).

`CANDOR_SMTP_CA_FILE` names an extra CA certificate (PEM) to trust, for a mail server with a
private CA, and for the tests' local server. Host names are still checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import stat
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from pathlib import Path

from agent.config import SmtpSettings
from agent.config.exchange_deadline import ExchangeDeadline, seconds_words

CA_FILE_ENV = "CANDOR_SMTP_CA_FILE"
KEYRING_SERVICE = "candor"
SEND_DEADLINE = 60.0
"""Seconds one whole exchange with the mail server may take, from connect to the last reply:
a server that trickles its answers is cut off here, and the attempt counts as failed."""


class DeliveryError(Exception):
    """A message could not be delivered. `str()` is a sentence for the person."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def smtp_ready(settings: SmtpSettings) -> str | None:
    """None when email can be sent, else what is missing, as a sentence."""
    if not settings.host:
        return "No mail server is set: add host, username, password_source and sender under "
    if not (settings.sender or settings.username):
        return "No sender address is set: add sender under "
    return None


def read_password(settings: SmtpSettings) -> str | None:
    """The password, from where `password_source` says; None when no login is configured."""
    source = settings.password_from
    if source is None:
        return None
    kind, where = source
    if kind == "env":
        value = os.environ.get(where)
        if not value:
            raise DeliveryError(
                f"The mail password should be in the environment variable {where}, which is "
                "not set for this process.",
                permanent=True,
            )
        return value
    if kind == "file":
        return _password_file(Path(where))
    try:
        import keyring  # optional: only people who choose the keyring need it
    except ImportError:
        raise DeliveryError(
            'password_source is "keyring", but the Python keyring package is not installed. '
            "Install it (pip install keyring), or use an environment variable or a file.",
            permanent=True,
        ) from None
    try:
        value = keyring.get_password(KEYRING_SERVICE, settings.username or "")
    except Exception as exc:  # keyring backends raise their own types
        raise DeliveryError(
            f"The system keyring could not be read: {exc}", permanent=True
        ) from None
    if not value:
        raise DeliveryError(
            f'No password in the system keyring for service "{KEYRING_SERVICE}", user '
            f'"{settings.username}". Add it with: '
            f"keyring set {KEYRING_SERVICE} {settings.username}",
            permanent=True,
        )
    return value


def _password_file(path: Path) -> str:
    try:
        info = path.stat()
        text = path.read_text("utf-8")
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise DeliveryError(
            f"Cannot read the password file {path} ({reason}).", permanent=True
        ) from None
    if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
        raise DeliveryError(
            f"The password file {path} can be read by others; make it private with "
            f"chmod 600 {path}.",
            permanent=True,
        )
    password = text.rstrip("\r\n")
    if not password:
        raise DeliveryError(f"The password file {path} is empty.", permanent=True)
    return password


def tls_context() -> ssl.SSLContext:
    """A verifying TLS context, trusting `CANDOR_SMTP_CA_FILE` too when it is set."""
    context = ssl.create_default_context()
    extra = os.environ.get(CA_FILE_ENV)
    if extra:
        context.load_verify_locations(cafile=extra)
    return context


def sender_address(settings: SmtpSettings) -> str:
    """The From address: the configured sender, else the login name."""
    return settings.sender or settings.username or ""


def send(
    settings: SmtpSettings,
    message: bytes,
    to: list[str],
    *,
    timeout: float = 30,
    deadline: float = SEND_DEADLINE,
) -> None:
    """Hand one message to the mail server within `deadline` seconds in all (`timeout` bounds
    each read); raises `DeliveryError` (classified) on failure."""
    missing = smtp_ready(settings)
    if missing:
        raise DeliveryError(missing + "[delivery.smtp] in config.toml.", permanent=True)
    host = settings.host or ""
    password = read_password(settings)
    envelope_from = parseaddr(sender_address(settings))[1]
    limit = ExchangeDeadline(deadline)
    try:
        with limit:
            refused = _exchange(
                settings, limit, min(timeout, deadline), password, envelope_from, to, message
            )
    except (smtplib.SMTPException, OSError) as exc:
        if limit.expired:
            raise DeliveryError(
                f"The mail server at {host}:{settings.effective_port} did not finish within "
                f"{seconds_words(deadline)}.",
                permanent=False,
            ) from None
        raise _classified(exc, settings) from None
    if refused:
        raise DeliveryError("The mail server refused " + ", ".join(refused) + ".", permanent=True)


class _WatchedSMTP(smtplib.SMTP):
    """smtplib's client, with each new socket handed to the exchange's deadline."""

    def __init__(self, limit: ExchangeDeadline, timeout: float, host: str) -> None:
        self.limit = limit
        super().__init__(timeout=timeout)
        self._host = host  # what TLS checks the certificate against (connect() leaves it)

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """Connect (within the time left) and let the deadline watch the socket from now on,
        before any TLS handshake, which may trickle too."""
        address = (host, port)
        sock = socket.create_connection(address, self.limit.clip(timeout), self.source_address)
        self.limit.watch(sock)
        return sock

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.open_socket(host, port, timeout)


class _WatchedSMTPSSL(_WatchedSMTP):
    """Implicit TLS (port 465): TLS from the first byte, on a socket the deadline watches."""

    def __init__(self, limit: ExchangeDeadline, timeout: float, host: str) -> None:
        super().__init__(limit, timeout, host)
        self.context = tls_context()

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = self.open_socket(host, port, timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)


def _exchange(
    settings: SmtpSettings,
    limit: ExchangeDeadline,
    timeout: float,
    password: str | None,
    envelope_from: str,
    to: list[str],
    message: bytes,
) -> dict[str, tuple[int, bytes]]:
    """The SMTP conversation itself; the deadline shuts its socket down if it runs long."""
    if settings.security == "tls":
        client: smtplib.SMTP = _WatchedSMTPSSL(limit, timeout, settings.host or "")
    else:
        client = _WatchedSMTP(limit, timeout, settings.host or "")
    try:
        client.connect(settings.host or "", settings.effective_port)
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=tls_context())  # never AUTH before this
            client.ehlo()
        if settings.username and password is not None:
            client.login(settings.username, password)
        refused = client.sendmail(envelope_from, to, message)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()  # the server took the message: a slow or rude goodbye cannot undo that
        return refused
    finally:
        client.close()


def _classified(exc: BaseException, settings: SmtpSettings) -> DeliveryError:
    """A failed exchange as a sentence, permanent when retrying cannot help."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"The mail server refused the login for {settings.username} ({_reply(exc)}): check "
            "the username and password (many providers need an app password).",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        who = ", ".join(exc.recipients)
        return DeliveryError(
            f"The mail server refused the address {who} "
            f"({'; '.join(_text(m) for _, m in exc.recipients.values())}).",
            permanent=any(code >= 500 for code in codes),
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(
            f"The mail server does not offer what Candor needs ({exc}); check security and port "
            "under [delivery.smtp].",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(
            f"The mail server answered {exc.smtp_code} ({_text(exc.smtp_error)}).",
            permanent=500 <= exc.smtp_code < 600,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"The mail server's certificate could not be verified ({exc.verify_message}).",
            permanent=True,
        )
    # disconnects, refusals, timeouts, TLS
    return DeliveryError(
        f"Cannot reach the mail server {settings.host}: {_oserror(exc)}", permanent=False
    )


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return re.sub(r"\s+", " ", text).strip()


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time."
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused."
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{reason}."


def new_message(
    *,
    sender: str,
    to: str,
    subject: str,
    message_id: str,
    text: str,
    html: str | None = None,
    date: float | None = None,
) -> EmailMessage:
    """A plain-text message with an optional HTML alternative; attachments go on after."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def message_id(key: str, domain: str = "candor.invalid") -> str:
    """A Message-ID fixed by `key`, so a re-sent message is recognisably the same one."""
    safe = re.sub(r"[^A-Za-z0-9.\-]+", "-", key).strip("-.") or "message"
    return f"<{safe}@{domain}>"
