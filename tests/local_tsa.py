"""A real RFC 3161 time-stamping authority on loopback: `openssl ts -reply` behind a small HTTP
server, with a test CA and a TSA certificate made by `openssl` here. It keeps every request body
it receives, so a test can see exactly what left the computer, and can be switched off (503)."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import require_tool

NOWHERE = "http://127.0.0.1:9/tsr"
"""A time-stamping authority on loopback where nothing listens: a home that runs an agent with a
confirmed partner names it, so no test ever asks the default authority on the internet."""

TSA_CNF = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXT = """\
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
"""


@dataclass
class LocalTsa:
    """The running TSA: its URL, its CA and signing certificate, what it received."""

    directory: Path
    url: str = ""
    requests: list[bytes] = field(default_factory=list)
    down: bool = False
    """While True every request is answered 503, as a blocked or failing service would."""
    server: ThreadingHTTPServer | None = None

    @property
    def ca(self) -> Path:
        """The test CA's certificate: what a partner feeds to `-CAfile`."""
        return self.directory / "ca.crt"

    @property
    def tsa_cert(self) -> Path:
        """The TSA's signing certificate."""
        return self.directory / "tsa.crt"

    def reply(self, query: bytes) -> bytes:
        """What `openssl ts -reply` answers to `query`."""
        return subprocess.run(
            [
                require_tool("openssl"), "ts", "-reply", "-config", str(self.directory / "tsa.cnf"),
                "-queryfile", "/dev/stdin", "-out", "/dev/stdout",
            ],
            input=query, capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def make_certificates(directory: Path) -> None:
    """A test CA and a TSA signing certificate (critical timeStamping EKU), and tsa.cnf."""
    openssl = require_tool("openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "30", "-subj", "/CN=Candor Test TSA CA",
        "-addext", "basicConstraints=critical,CA:true",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", "/CN=Candor Test TSA")  # fmt: skip
    (directory / "tsa.ext").write_text(TSA_EXT)
    run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "30", "-extfile", "tsa.ext")  # fmt: skip
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(TSA_CNF.format(dir=directory))


def start_tsa(directory: Path) -> LocalTsa:
    """Make the certificates and serve `openssl ts -reply` on 127.0.0.1 (any free port)."""
    make_certificates(directory)
    tsa = LocalTsa(directory)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            tsa.requests.append(body)
            if tsa.down or self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_response(503)
                self.end_headers()
                return
            with lock:  # openssl ts keeps its serial in a file
                answer = tsa.reply(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tsa.server = server
    tsa.url = f"http://127.0.0.1:{server.server_address[1]}/tsr"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return tsa
