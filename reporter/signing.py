"""The install's Ed25519 signing key, and signatures a partner can check with tools they have.

One key per home, created on first use (`keys/signing_key`, PKCS#8 PEM, 0600). It proves that a
report came from this installation and was not changed in transit or in an inbox; it cannot
prove anything against the computer's owner, who can read the key. A new key (a reinstall, a
deleted home) is itself a fact the report states: `keys/history.json` remembers every
fingerprint this home has used and when it first appeared.

Two detached forms of the same signature over the same bytes:
- raw Ed25519 (64 bytes) for `openssl pkeyutl -verify -rawin`;
- SSHSIG (the armored format of `ssh-keygen -Y sign`) for `ssh-keygen -Y verify`, with the
  namespace `candor-report` so a signature made for something else is never accepted here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import struct
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from agent.config import Home, create_once, write_atomic
from rules.own_files import LINK_WORDS, LinkRefused, read_own_file

NAMESPACE = "candor-report"
"""The SSHSIG namespace (`ssh-keygen -Y verify -n candor-report`)."""
PRINCIPAL = "candor"
"""The name an `allowed_signers` line gives the key (`ssh-keygen -Y verify -I candor`)."""
KEY_FILE = "signing_key"
PUBLIC_FILE = "signing_key.pub"
PEM_FILE = "signing_key.pem"
HISTORY_FILE = "history.json"

_SSHSIG_MAGIC = b"SSHSIG"
_SSHSIG_HASH = "sha512"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_KEY_TYPE = "ssh-ed25519"


class SigningKeyError(Exception):
    """A key file that cannot be read or used; `str()` says which file and why."""


# -- this install's key ---------------------------------------------------------------------


def load_private_key(home: Home) -> Ed25519PrivateKey:
    """This home's signing key, created (and recorded in the history) on first use."""
    path = home.keys_dir / KEY_FILE
    try:
        data = read_own_file(path)
    except FileNotFoundError:
        return _create(home)
    except LinkRefused:
        raise SigningKeyError(f"{path}: {LINK_WORDS}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: the signing key cannot be read ({exc}).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: the signing key is not an Ed25519 key.")
    return key


def public_key(home: Home) -> Ed25519PublicKey:
    """This home's public key, for checking what it signed."""
    return load_private_key(home).public_key()


def fingerprint(home: Home) -> str:
    """`SHA256:…`, exactly as `ssh-keygen -lf signing_key.pub` prints it."""
    return key_fingerprint(public_key(home))


def public_key_openssh(home: Home) -> str:
    """One line, `ssh-ed25519 AAAA… candor`, for the partner's `allowed_signers` and `--key`."""
    return openssh_line(public_key(home))


def public_key_pem(home: Home) -> str:
    """SubjectPublicKeyInfo PEM, for `openssl pkeyutl -verify -pubin -inkey`."""
    return pem_text(public_key(home))


def allowed_signers_line(key: Ed25519PublicKey) -> str:
    """The `allowed_signers` line `ssh-keygen -Y verify` needs for this key."""
    return f'{PRINCIPAL} namespaces="{NAMESPACE}" {openssh_line(key)}'


def key_history(home: Home) -> list[dict[str, str]]:
    """Every fingerprint this home has used, oldest first: `{fingerprint, created_at}`."""
    try:
        raw = json.loads(read_own_file(home.keys_dir / HISTORY_FILE))
        entries = raw["keys"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [
        {"fingerprint": str(e["fingerprint"]), "created_at": str(e["created_at"])}
        for e in entries
        if isinstance(e, dict) and "fingerprint" in e and "created_at" in e
    ]


def _create(home: Home) -> Ed25519PrivateKey:
    """Write a new key so that racing processes end up sharing one: the first link wins."""
    home.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home.keys_dir / KEY_FILE
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    if not create_once(path, pem):
        return load_private_key(home)
    pub = key.public_key()
    write_atomic(home.keys_dir / PUBLIC_FILE, (openssh_line(pub) + "\n").encode(), 0o600)
    write_atomic(home.keys_dir / PEM_FILE, pem_text(pub).encode(), 0o600)
    history = key_history(home)
    history.append(
        {
            "fingerprint": key_fingerprint(pub),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    write_atomic(
        home.keys_dir / HISTORY_FILE,
        (json.dumps({"keys": history}, indent=2) + "\n").encode(),
        0o600,
    )
    return key


# -- key formats ----------------------------------------------------------------------------


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _wire_key(key: Ed25519PublicKey) -> bytes:
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _ssh_string(_KEY_TYPE.encode()) + _ssh_string(raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """The key's SHA256 fingerprint as ssh-keygen prints it, to compare by voice."""
    digest = hashlib.sha256(_wire_key(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def openssh_line(key: Ed25519PublicKey, comment: str = PRINCIPAL) -> str:
    """The key as an OpenSSH public key line, the form partners save."""
    return f"{_KEY_TYPE} {base64.b64encode(_wire_key(key)).decode('ascii')} {comment}".strip()


def pem_text(key: Ed25519PublicKey) -> str:
    """The key as SubjectPublicKeyInfo PEM, the form OpenSSL reads."""
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key as a partner may have saved it: an OpenSSH line (`ssh-ed25519 AAAA…`), an
    `allowed_signers` line, a PEM block, or Standard Webhooks' `whpk_…`. Raises ValueError."""
    stripped = text.strip()
    if "-----BEGIN PUBLIC KEY-----" in stripped:
        key = load_pem_public_key(stripped.encode("ascii", "replace"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("this PEM key is not an Ed25519 key")
        return key
    for line in stripped.splitlines():
        words = line.split()
        if line.lstrip().startswith("#"):
            continue
        for i, word in enumerate(words):
            if word.startswith("whpk_"):
                return _from_raw(_b64(word.removeprefix("whpk_")))
            if word == _KEY_TYPE and i + 1 < len(words):
                return _from_wire(_b64(words[i + 1]))
    raise ValueError("no Ed25519 public key found (expected a line starting with ssh-ed25519)")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64") from None


def _from_raw(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _from_wire(blob: bytes) -> Ed25519PublicKey:
    reader = _Reader(blob)
    if reader.string() != _KEY_TYPE.encode():
        raise ValueError("the key is not an ssh-ed25519 key")
    return _from_raw(reader.string())


# -- signatures -----------------------------------------------------------------------------


def sign_raw(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """A raw Ed25519 signature over `data`, for OpenSSL and the document's own field."""
    return key.sign(data)


def signature_field(key: Ed25519PrivateKey, raw: bytes) -> dict[str, str]:
    """The `signature` member of a signed document (report or notice), for signature `raw`."""
    return {
        "alg": "ed25519",
        "key": key_fingerprint(key.public_key()),
        "value": base64.b64encode(raw).decode("ascii"),
    }


def verify_raw(key: Ed25519PublicKey, data: bytes, signature: bytes) -> bool:
    """Whether a raw Ed25519 signature over `data` is good."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _sshsig_signed_data(namespace: str, data: bytes) -> bytes:
    return (
        _SSHSIG_MAGIC
        + _ssh_string(namespace.encode())
        + _ssh_string(b"")
        + _ssh_string(_SSHSIG_HASH.encode())
        + _ssh_string(hashlib.sha512(data).digest())
    )


def sshsig(key: Ed25519PrivateKey, data: bytes, namespace: str = NAMESPACE) -> str:
    """The armored SSH signature `ssh-keygen -Y sign -n NAMESPACE` would write for `data`."""
    signature = key.sign(_sshsig_signed_data(namespace, data))
    blob = (
        _SSHSIG_MAGIC
        + struct.pack(">I", 1)
        + _ssh_string(_wire_key(key.public_key()))
        + _ssh_string(namespace.encode())
        + _ssh_string(b"")
        + _ssh_string(_SSHSIG_HASH.encode())
        + _ssh_string(_ssh_string(_KEY_TYPE.encode()) + _ssh_string(signature))
    )
    encoded = base64.b64encode(blob).decode("ascii")
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END]) + "\n"


def verify_sshsig(
    key: Ed25519PublicKey, data: bytes, armored: str, namespace: str = NAMESPACE
) -> bool:
    """True when `armored` is a good SSHSIG by `key` over `data` in `namespace`."""
    try:
        body = armored.strip()
        if not (body.startswith(_ARMOR_BEGIN) and body.endswith(_ARMOR_END)):
            return False
        encoded = "".join(body[len(_ARMOR_BEGIN) : -len(_ARMOR_END)].split())
        reader = _Reader(base64.b64decode(encoded, validate=True))
        if reader.take(6) != _SSHSIG_MAGIC or reader.uint32() != 1:
            return False
        signer = _from_wire(reader.string())
        signed_namespace = reader.string().decode()
        reader.string()  # reserved
        hash_name = reader.string().decode()
        sig_reader = _Reader(reader.string())
        if sig_reader.string() != _KEY_TYPE.encode():
            return False
        signature = sig_reader.string()
    except (ValueError, binascii.Error, UnicodeDecodeError, struct.error):
        return False
    if signed_namespace != namespace or hash_name != _SSHSIG_HASH:
        return False
    if _wire_key(signer) != _wire_key(key):
        return False
    with contextlib.suppress(InvalidSignature):
        key.verify(signature, _sshsig_signed_data(namespace, data))
        return True
    return False


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.uint32())
