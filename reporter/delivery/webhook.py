"""A generic JSON webhook, signed per Standard Webhooks v1.0.0 with the report-signing key.

Headers: `webhook-id` (the outbox row: the same on every retry, so the receiver can drop
duplicates), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`:
`v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">`, the scheme's asymmetric form,
so the partner checks webhooks with the same public key as the reports (`whpk_<base64>`).

2xx is delivered; 408, 425, 429 and 5xx are worth retrying (after Retry-After, if given); a
redirect or any other 4xx will not fix itself.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.config.exchange_deadline import ExchangeDeadline, seconds_words
from reporter.delivery.smtp import DeliveryError

if TYPE_CHECKING:
    import httpx

TRANSIENT_STATUSES = frozenset({408, 425, 429})
TOLERANCE_SECONDS = 5 * 60
POST_DEADLINE = 60.0
"""Seconds one whole post may take, from connect to the last byte of the answer: a receiver
that trickles is cut off here, and the attempt counts as failed."""


def shown_url(url: str) -> str:
    """The webhook's address as Candor prints it: scheme://host/path, with any user:password
    and the query (where receivers often put a token) replaced by "…"."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    where = f"{host}:{port}" if port is not None else host
    userinfo = "…@" if "@" in parts.netloc else ""
    query = "?…" if parts.query else ""
    fragment = "#…" if parts.fragment else ""
    return f"{parts.scheme}://{userinfo}{where}{parts.path}{query}{fragment}"


def signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    """What a Standard Webhooks signature covers: id, timestamp and body."""
    return f"{webhook_id}.{timestamp}.".encode() + body


def sign(key: Ed25519PrivateKey, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value, so the receiver can check the post with the report key."""
    signature = key.sign(signed_content(webhook_id, timestamp, body))
    return "v1a," + base64.b64encode(signature).decode("ascii")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as Standard Webhooks writes it: `whpk_` + base64 of the raw 32 bytes."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode("ascii")


def verify(
    key: Ed25519PublicKey, headers: Mapping[str, str], body: bytes, *, now: datetime
) -> bool:
    """The receiving side's check (for tests and for docs/delivery.md): any `v1a` signature
    in the header that verifies, with a timestamp within five minutes of `now`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        return False
    content = signed_content(webhook_id, timestamp, body)
    for item in signatures:
        version, _, value = item.partition(",")
        if not hmac.compare_digest(version, "v1a"):
            continue
        try:
            key.verify(base64.b64decode(value, validate=True), content)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


def post(
    url: str,
    body: bytes,
    *,
    webhook_id: str,
    key: Ed25519PrivateKey,
    now: datetime,
    client: httpx.Client | None = None,
    timeout: float = 30,
    deadline: float = POST_DEADLINE,
) -> None:
    """POST one signed delivery within `deadline` seconds in all (`timeout` bounds each step);
    raises `DeliveryError` (classified) unless the answer is 2xx."""
    import httpx  # loaded when first used: the agent starts sooner without it

    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "Candor",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, webhook_id, timestamp, body),
    }
    limit = ExchangeDeadline(deadline)
    try:
        with limit:
            extensions = limit.httpx_extensions()
            if client is None:
                step = min(timeout, deadline)
                with httpx.Client(timeout=step, follow_redirects=False) as own:
                    response = own.post(url, content=body, headers=headers, extensions=extensions)
            else:
                response = client.post(url, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        if limit.expired:
            raise DeliveryError(
                f"The webhook at {shown_url(url)} did not finish within {seconds_words(deadline)}.",
                permanent=False,
            ) from None
        raise DeliveryError(f"Cannot reach the webhook: {exc}", permanent=False) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    transient = status in TRANSIENT_STATUSES or status >= 500
    reason = f"The webhook answered {status} {response.reason_phrase}".rstrip() + "."
    if status == 410:
        reason += " The receiver says this address is gone; remove or change [delivery.webhook]."
    raise DeliveryError(
        reason,
        permanent=not transient,
        retry_after=retry_after(response.headers.get("retry-after"), now) if transient else None,
    )


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait, from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
