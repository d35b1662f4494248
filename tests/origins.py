"""Real HTTP and HTTPS origin servers on 127.0.0.1 (or a given address) for end-to-end proxy
tests.

Each origin records every connection it accepts (before any byte is read) and every request it
answers, so a test can prove that a blocked host was never contacted at all, not merely that its
answer was replaced. Every test host resolves to 127.0.0.1 through `candor run --resolve`, so one
certificate names them all.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TEST_HOSTS = (
    "allowed.test",
    "quiet.test",
    "blocked.test",
    "exact-blocked.test",
    "neverblocked.test",
    "bank.test",
    "warned.test",
    "logged.test",
    "inspected.test",
    "pinned.test",
    "twoclients.test",
    "later.test",
    "relaxed.test",
    "still-open.test",
    "browser.test",
)
"""Names the certificate covers, each with its subdomains. OpenSSL will not match `*.test`
against `a.test` (a wildcard must not cover a whole top-level domain), so they are listed."""

CERT_NAMES = (
    *TEST_HOSTS,
    *(f"*.{host}" for host in TEST_HOSTS),
    "localhost",
    # SafeSearch engines: tests point them at the local origin too.
    "www.google.com",
    "www.bing.com",
    "duckduckgo.com",
    "html.duckduckgo.com",
    "www.youtube.com",
)

FIXED_BYTES = bytes(range(256)) * 16
"""Served at /bytes: every byte value, to show an allowed response arrives unchanged."""

HELD_SIZE = 256 * 2**20
"""A held body's size: far more than a proxy should hold at once (issue 12, item 2)."""
HELD_FIRST = 2**20
"""The part of a held body that goes at once; the rest waits for the other side to have it."""
HELD_WAIT = 120.0
"""How long the origin waits for a held body's other side before giving up."""
_HELD_CHUNK = b"x" * HELD_FIRST


@dataclass(frozen=True)
class OriginCert:
    cert: Path
    key: Path


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_origin_cert(directory: Path, addresses: tuple[str, ...] = ("127.0.0.1",)) -> OriginCert:
    """A self-signed certificate for the test hosts, `localhost` and 127.0.0.1 (or `addresses`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "candor test origin")])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in CERT_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "origin.crt", directory / "origin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return OriginCert(cert_path, key_path)


@dataclass(frozen=True)
class Seen:
    """One accepted connection: the TLS server name if any (filled after the handshake)."""

    tls: bool
    sni: str | None


@dataclass(frozen=True)
class Received:
    """One answered request."""

    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Hold:
    """A body held back after its first chunk, at `/held/<key>` (`Origin.hold`).

    A GET is answered with `HELD_SIZE` bytes: the first `HELD_FIRST` at once, the rest once the
    test sets `released` (when its client has the first chunk). A POST sets `arrived` once the
    first `HELD_FIRST` bytes of its body are in, and is answered with how many bytes came.
    """

    key: str
    released: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)


@dataclass
class Log:
    connections: list[Seen] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    holds: dict[str, Hold] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hosts(self) -> set[str]:
        """Every host name this origin heard of: SNIs and Host headers."""
        with self.lock:
            names = {c.sni for c in self.connections if c.sni}
            names |= {r.host.rsplit(":", 1)[0] for r in self.requests}
        return names

    def requests_for(self, host: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.host.rsplit(":", 1)[0] == host]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        if (hold := self._hold()) is not None:
            self._send_held(hold)
            return
        self._answer()

    def do_POST(self) -> None:
        if (hold := self._hold()) is not None:
            self._receive_held(hold, int(self.headers.get("Content-Length") or 0))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        received = Received(
            host=self.headers.get("Host", ""),
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        with self.server.log.lock:
            self.server.log.requests.append(received)
        if parts.path == "/bytes":
            body, ctype = FIXED_BYTES, "application/octet-stream"
        elif parts.path.endswith(".html") or parts.path == "/page":
            body = (
                "<!doctype html><title>origin page</title>"
                f"<h1>Hello from {self.server.name}</h1><p>{received.host}{parts.path}</p>"
            ).encode()
            ctype = "text/html; charset=utf-8"
        else:
            echo = {"origin": self.server.name, "host": received.host, "path": parts.path}
            echo |= {"query": received.query, "headers": received.headers}
            body, ctype = json.dumps(echo).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hold(self) -> Hold | None:
        if not self.path.startswith("/held/"):
            return None
        with self.server.log.lock:
            return self.server.log.holds.get(self.path.removeprefix("/held/"))

    def _send_held(self, hold: Hold) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(HELD_SIZE))
        self.end_headers()
        self.wfile.write(_HELD_CHUNK)
        self.wfile.flush()
        if not hold.released.wait(HELD_WAIT):
            self.close_connection = True
            return
        for _ in range(HELD_SIZE // HELD_FIRST - 1):
            self.wfile.write(_HELD_CHUNK)

    def _receive_held(self, hold: Hold, length: int) -> None:
        received = len(self.rfile.read(min(length, HELD_FIRST)))
        hold.arrived.set()
        while received < length and (chunk := self.rfile.read(min(length - received, 2**20))):
            received += len(chunk)
        body = json.dumps({"received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, name: str, log: Log, tls: ssl.SSLContext | None, address: tuple[str, int]
    ) -> None:
        self.name, self.log, self.tls = name, log, tls
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        if self.tls is None:
            with self.log.lock:
                self.log.connections.append(Seen(tls=False, sni=None))
            return sock, addr
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request: socket.socket, client_address: object) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
            finally:
                with self.log.lock:
                    self.log.connections.append(Seen(tls=True, sni=_server_name(request)))
        super().finish_request(request, client_address)


def _server_name(sock: ssl.SSLSocket) -> str | None:
    return getattr(sock, "candor_sni", None)


def _tls_context(cert: OriginCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    context.set_alpn_protocols(["http/1.1"])

    def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
        sock.candor_sni = name  # type: ignore[union-attr]

    context.sni_callback = remember  # type: ignore[assignment]
    return context


class Origin:
    """An HTTP server and an HTTPS server sharing one log, each on its own free port."""

    def __init__(
        self, name: str, cert: OriginCert, host: str = "127.0.0.1", ports: tuple[int, int] = (0, 0)
    ) -> None:
        """`host` and `ports` (HTTP, HTTPS; 0: any free one) are where it listens: a test in a
        network namespace of its own puts origins on the usual ports of a TEST-NET address."""
        self.name = name
        self.log = Log()
        self._servers = [
            _Server(name, self.log, None, (host, ports[0])),
            _Server(name, self.log, _tls_context(cert), (host, ports[1])),
        ]
        self._threads = [
            threading.Thread(
                target=s.serve_forever, args=(0.05,), name=f"origin-{name}", daemon=True
            )
            for s in self._servers
        ]

    @property
    def http_port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def https_port(self) -> int:
        return self._servers[1].server_address[1]

    def http(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.http_port}{path}"

    def https(self, host: str, path: str = "/") -> str:
        return f"https://{host}:{self.https_port}{path}"

    def hold(self) -> Hold:
        """A new held body, at `/held/<its key>` on both ports."""
        hold = Hold(secrets.token_hex(8))
        with self.log.lock:
            self.log.holds[hold.key] = hold
        return hold

    def start(self) -> Origin:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
