"""Anchors in public time: an RFC 3161 time-stamp token over the journal's chain head.

Once an hour, while a partner has confirmed and anchoring is on, the agent asks a time-stamping
authority (TSA) to sign SHA-256 of the chain head's hash (its 64 hex characters as ASCII). Only
that hash leaves the computer. The reply is checked (granted, our imprint, our nonce) and
journaled as an `anchor` row; a failure becomes an `anchor_failed` row, at most once an hour.
A token proves the journal's head existed at the TSA's time: rewriting any row up to it changes
the head's hash, which `candor verify` and `openssl ts -verify` then refuse. The protocol is
`rfc3161-client`'s (Trail of Bits); no ASN.1 is written here.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from agent.config.exchange_deadline import ExchangeDeadline, seconds_words
from agent.journal import clock
from agent.journal.events import Anchor, AnchorFailed, EventBody

log = logging.getLogger(__name__)

ANCHOR_EVERY = 3600.0
"""Seconds between anchors: fixed in shipped code; a test may only make it shorter."""
TICK = 60.0
"""The loop looks at the wall clock this often."""
RETRY_EVERY = 300.0
"""After a failure, try again this much sooner (the failure is journaled once an hour)."""
TIMEOUT = 10.0
"""Seconds to wait for a TSA to connect or answer."""
MAX_REPLY_BYTES = 64 * 1024
DEADLINE = 2 * TIMEOUT
"""Seconds one whole request to a TSA may take: a server that trickles its reply is cut off."""
"""A time-stamp reply is a few kilobytes; anything longer is not one."""
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

Reason = Literal["offline", "refused", "bad_reply"]


class AnchorFailure(Exception):
    """No token: `reason` says which kind of failure, the message says it in words."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


def imprint_of(head_hash: str) -> bytes:
    """What the TSA signs for a chain head: SHA-256 of the head's hash text (ASCII hex)."""
    return hashlib.sha256(head_hash.encode("ascii")).digest()


def request_token(
    url: str,
    head_seq: int,
    head_hash: str,
    *,
    timeout: float = TIMEOUT,
    deadline: float = DEADLINE,
) -> Anchor:
    """Ask one TSA for a token over `head_hash` (within `deadline` seconds in all); the
    checked reply as an `anchor` body."""
    import httpx
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    request = (
        TimestampRequestBuilder()
        .data(head_hash.encode("ascii"))
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    limit = ExchangeDeadline(deadline)
    try:
        with (
            limit,
            httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
            client.stream(
                "POST",
                url,
                content=request.as_bytes(),
                headers={"Content-Type": QUERY_TYPE},
                extensions=limit.httpx_extensions(),
            ) as response,
        ):
            if response.status_code != 200:
                raise AnchorFailure("refused", f"{url} answered HTTP {response.status_code}")
            data = _read_bounded(response)
    except httpx.HTTPError as exc:
        words = str(exc) or type(exc).__name__
        if limit.expired:
            words = f"it did not finish within {seconds_words(deadline)}"
        raise AnchorFailure("offline", f"{url} could not be reached: {words}") from None
    gen_time = check_reply(data, imprint_of(head_hash), request.nonce)
    return Anchor(
        tsa=url,
        head_seq=head_seq,
        head_hash=head_hash,
        gen_time=gen_time,
        token=base64.b64encode(data).decode("ascii"),
    )


def _read_bounded(response: object) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():  # type: ignore[attr-defined]
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise AnchorFailure("bad_reply", "the reply was too long to be a time-stamp")
    return bytes(data)


def check_reply(data: bytes, imprint: bytes, nonce: int | None) -> str:
    """The token's time (ISO, UTC) if `data` is a granted reply over `imprint` with `nonce`."""
    from rfc3161_client import PKIStatus, decode_timestamp_response

    try:
        reply = decode_timestamp_response(data)
    except ValueError as exc:
        raise AnchorFailure("bad_reply", f"the reply is not a time-stamp: {exc}") from None
    if reply.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        words = " ".join(reply.status_string) or f"status {reply.status}"
        raise AnchorFailure("refused", f"the time-stamping service refused: {words}")
    info = reply.tst_info
    if info.message_imprint.message != imprint:
        raise AnchorFailure("bad_reply", "the token covers a different hash than was asked for")
    if nonce is not None and info.nonce != nonce:
        raise AnchorFailure("bad_reply", "the token answers a different request (nonce)")
    return info.gen_time.astimezone(UTC).isoformat().replace("+00:00", "Z")


DIFFERENT_HEAD = "the token covers a different hash than that row has now"
"""`verify_token`'s words when the row the token covers has changed since."""


def verify_token(token: bytes, head_hash: str, roots: Sequence[bytes]) -> str | None:
    """None if `token` is a TSA-signed time-stamp over `head_hash` that chains to one of the
    PEM certificates in `roots`; else what is wrong, in words."""
    from cryptography import x509
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        reply = decode_timestamp_response(token)
    except ValueError:
        return "the token cannot be read"
    if reply.tst_info.message_imprint.message != imprint_of(head_hash):
        return DIFFERENT_HEAD
    builder = VerifierBuilder()
    try:
        for pem in roots:
            for cert in x509.load_pem_x509_certificates(pem):
                builder = builder.add_root_certificate(cert)
        builder.build().verify(reply, imprint_of(head_hash))
    except (ValueError, VerificationError) as exc:
        log.info("time-stamp token refused: %s", exc)
        return "the token's signature does not check out against the time-stamping certificate"
    return None


def token_time(token: bytes) -> str | None:
    """The time in a token (ISO, UTC), or None if it cannot be read."""
    from rfc3161_client import decode_timestamp_response

    try:
        moment = decode_timestamp_response(token).tst_info.gen_time
    except ValueError:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


Head = Callable[[], tuple[int, str] | None]
"""The journal's current head (seq, hash), or None for an empty journal."""
Authorities = Callable[[], Sequence[str]]
"""The TSAs to ask, in order, right now; empty when anchoring is off or no partner confirmed."""
RecordEvent = Callable[[EventBody], None]
"""Appends one journal event (the runner's `Agent.record`)."""


def anchor_once(head: Head, authorities: Sequence[str]) -> Anchor | AnchorFailed | None:
    """Ask each authority in turn until one gives a token; None if there is no head yet."""
    current = head()
    if current is None or not authorities:
        return None
    seq, head_hash = current
    failure: AnchorFailure | None = None
    for url in authorities:
        try:
            return request_token(url, seq, head_hash)
        except AnchorFailure as exc:
            failure = exc
            log.info("no time anchor from %s: %s", url, exc)
    assert failure is not None
    return AnchorFailed(
        reason=failure.reason, detail=failure.detail, tsa=authorities[-1], head_seq=seq
    )


@dataclass
class FailureNote:
    """When a failure was last journaled and why: one row an hour, or when the reason changes."""

    at: float
    reason: str


class AnchorLoop:
    """A daemon thread: anchors the chain head every `interval` seconds while wanted."""

    def __init__(
        self,
        record: RecordEvent,
        head: Head,
        authorities: Authorities,
        *,
        interval: float = ANCHOR_EVERY,
        first_delay: float = 10.0,
    ) -> None:
        self._record = record
        self._head = head
        self._authorities = authorities
        self.interval = min(interval, ANCHOR_EVERY)
        self.retry = min(RETRY_EVERY, self.interval)
        self.first_delay = min(first_delay, self.interval)
        self._noted: FailureNote | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start anchoring in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="candor-anchors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting for a request in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * TIMEOUT)

    def anchor_now(self) -> Anchor | AnchorFailed | None:
        """Anchor once if wanted; journal the token, or the failure at most once an hour."""
        try:
            authorities = list(self._authorities())
        except Exception:
            log.exception("could not read whether time anchoring is on")
            return None
        outcome = anchor_once(self._head, authorities)
        if isinstance(outcome, Anchor):
            self._noted = None
            self._record(outcome)
        elif isinstance(outcome, AnchorFailed) and self._worth_noting(outcome.reason):
            self._record(outcome)
        return outcome

    def _worth_noting(self, reason: str) -> bool:
        now = time.monotonic()
        noted = self._noted
        if noted is not None and noted.reason == reason and now - noted.at < self.interval:
            return False
        self._noted = FailureNote(now, reason)
        return True

    def next_due(self, now: float, outcome: Anchor | AnchorFailed | None) -> float:
        """When to ask next (wall-clock seconds): after a token, a minute past the next clock
        hour (every hour of a report then has one); after a failure, or while not wanted, in a
        few minutes."""
        if not isinstance(outcome, Anchor):
            return now + self.retry
        if self.interval < ANCHOR_EVERY:
            return now + self.interval
        return (now // ANCHOR_EVERY + 1) * ANCHOR_EVERY + 60.0

    def _loop(self) -> None:
        if self._stop.wait(self.first_delay):
            return
        due = 0.0
        while not self._stop.is_set():
            now = clock.now().timestamp()
            if now >= due:
                due = self.next_due(now, self.anchor_now())
                continue
            # Short waits: after the computer sleeps, the wall clock has moved on and the
            # anchor that fell due meanwhile is asked for at once.
            if self._stop.wait(min(TICK, due - now)):
                return
