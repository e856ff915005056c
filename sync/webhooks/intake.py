"""Turns one raw delivery (headers + body) into a verified `Delivery` or a `Rejection`, without I/O.

Order of checks: size, signature (over the raw bytes, before anything parses them), JSON, envelope,
event id. Only a delivery that passes all of them is ever stored as an event.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_BODY_BYTES = 1024 * 1024  # Razorpay's payloads are a few KiB; anything over 1 MiB is not from them.
SIGNATURE_HEADER = "x-razorpay-signature"
EVENT_ID_HEADER = "x-razorpay-event-id"

# Column widths in data/models.py: a longer value cannot be stored, so it is rejected up front.
_MAX_EVENT_ID = 64
_MAX_EVENT_TYPE = 64
_MAX_ACCOUNT_ID = 64
_MAX_SOURCE_ADDRESS = 64
# 2000-01-01 … 2100-01-01: an envelope time outside this is not a Razorpay event time.
_MIN_EPOCH = 946_684_800
_MAX_EPOCH = 4_102_444_800


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified, well-formed event delivery, ready to be stored."""

    event_id: str
    event_type: str
    account_id: str | None
    created_at: datetime
    received_at: datetime
    payload: dict[str, Any]  # the whole envelope, as Razorpay sent it


@dataclass(frozen=True, slots=True)
class Rejection:
    """A delivery that is answered with a 4xx and recorded in webhook_rejections."""

    status_code: int
    reason: str  # missing_signature | bad_signature | malformed_json | too_large | body_timeout | missing_event_id | bad_envelope
    received_at: datetime
    body_sha256: str
    body_size: int
    event_id: str | None = None
    event_type: str | None = None
    source_address: str | None = None
    detail: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "reason": self.reason,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "body_sha256": self.body_sha256,
            "body_size": self.body_size,
            "source_address": self.source_address,
            "detail": self.detail,
        }


def signature_matches(body: bytes, signature: str, secrets: Sequence[str]) -> bool:
    """True when `signature` is the hex HMAC-SHA256 of `body` under any of `secrets`.

    Same check as razorpay's `Utility.verify_webhook_signature`, but over bytes (no decode of an
    untrusted body) and over a list, for rotation. Every secret is tried, in constant time each.
    """
    given = signature.strip().lower().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    return matched


def sign(body: bytes, secret: str) -> str:
    """The signature Razorpay would send for `body` (used by tests, benchmarks and the docs)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def too_large(
    *,
    body_prefix: bytes,
    declared_size: int | None,
    event_id: str | None,
    source_address: str | None,
    received_at: datetime,
) -> Rejection:
    """The 413 rejection; only the first MAX_BODY_BYTES + 1 bytes were read, so they are what is hashed."""
    size = max(len(body_prefix), declared_size or 0)
    return Rejection(
        status_code=413,
        reason="too_large",
        received_at=received_at,
        body_sha256=hashlib.sha256(body_prefix).hexdigest(),
        body_size=min(size, 2**31 - 1),
        event_id=_clip(event_id, _MAX_EVENT_ID),
        source_address=_clip(source_address, _MAX_SOURCE_ADDRESS),
        detail=f"body over {MAX_BODY_BYTES} bytes (hash covers the first {len(body_prefix)} bytes)",
    )


def body_timeout(
    *, read_timeout: float, event_id: str | None, source_address: str | None, received_at: datetime
) -> Rejection:
    """The 408 for a body that did not arrive in time; what arrived is not kept, so nothing is hashed."""
    return Rejection(
        status_code=408,
        reason="body_timeout",
        received_at=received_at,
        body_sha256=hashlib.sha256(b"").hexdigest(),
        body_size=0,
        event_id=_clip(event_id, _MAX_EVENT_ID),
        source_address=_clip(source_address, _MAX_SOURCE_ADDRESS),
        detail=f"request body not received within {read_timeout:g} s",
    )


def check_delivery(
    *,
    body: bytes,
    signature: str | None,
    event_id: str | None,
    source_address: str | None,
    secrets: Sequence[str],
    received_at: datetime,
) -> Delivery | Rejection:
    """Verify and parse one delivery whose body is at most MAX_BODY_BYTES."""

    def reject(reason: str, detail: str, event_type: str | None = None) -> Rejection:
        return Rejection(
            status_code=400,
            reason=reason,
            received_at=received_at,
            body_sha256=hashlib.sha256(body).hexdigest(),
            body_size=len(body),
            event_id=_clip(event_id, _MAX_EVENT_ID),
            event_type=_clip(event_type, _MAX_EVENT_TYPE),
            source_address=_clip(source_address, _MAX_SOURCE_ADDRESS),
            detail=detail,
        )

    if not signature or not signature.strip():
        return reject("missing_signature", "no X-Razorpay-Signature header", _peek_event_type(body))
    if not signature_matches(body, signature, secrets):
        # The body is untrusted; its event type is kept only as a hint for operations.
        return reject("bad_signature", "signature matches no configured secret", _peek_event_type(body))
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return reject("malformed_json", f"body is not JSON: {error}"[:300])
    if not isinstance(envelope, dict):
        return reject("bad_envelope", "body is JSON but not an object")
    event_type = envelope.get("event")
    if not isinstance(event_type, str) or not event_type or len(event_type) > _MAX_EVENT_TYPE:
        return reject("bad_envelope", "envelope 'event' is missing, not a string, or too long")
    if not event_id or not event_id.strip():
        return reject("missing_event_id", "no X-Razorpay-Event-Id header", event_type)
    if len(event_id) > _MAX_EVENT_ID:
        return reject("bad_envelope", f"event id longer than {_MAX_EVENT_ID} characters", event_type)
    created_epoch = envelope.get("created_at")
    if (
        isinstance(created_epoch, bool)
        or not isinstance(created_epoch, int | float)
        or not math.isfinite(created_epoch)
        or not _MIN_EPOCH <= created_epoch <= _MAX_EPOCH
    ):
        return reject("bad_envelope", "envelope 'created_at' is not a Unix time", event_type)
    if not isinstance(envelope.get("payload", {}), dict):
        return reject("bad_envelope", "envelope 'payload' is not an object", event_type)
    account_id = envelope.get("account_id")
    if account_id is not None and (not isinstance(account_id, str) or len(account_id) > _MAX_ACCOUNT_ID):
        return reject("bad_envelope", "envelope 'account_id' is not a short string", event_type)
    if b"\\u0000" in body and _holds_nul(envelope):
        # PostgreSQL text and JSONB cannot hold U+0000; such a body could never be stored.
        return reject("bad_envelope", "body holds a U+0000 character", event_type)
    return Delivery(
        event_id=event_id,
        event_type=event_type,
        account_id=account_id,
        created_at=datetime.fromtimestamp(created_epoch, UTC),
        received_at=received_at,
        payload=envelope,
    )


def _peek_event_type(body: bytes) -> str | None:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    event_type = envelope.get("event") if isinstance(envelope, dict) else None
    return event_type if isinstance(event_type, str) and "\x00" not in event_type else None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _clip(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "")
    return value[:width]
