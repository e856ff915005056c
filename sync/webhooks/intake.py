"""Turns one raw delivery (headers + body) into a verified `Delivery` or a `Rejection`, without I/O.

Order of checks: size, signature (over the raw bytes, before anything parses them), JSON. Only those
three reject: once the signature is valid the body is Razorpay's, and Razorpay disables a webhook
that keeps failing, so a validly signed JSON body is always stored. Whatever in it cannot be
interpreted (no envelope `created_at`, a future one, a missing event id header …) is recorded on the
stored event as its `interpretation`, never answered 4xx. The one structural limit is nesting deeper
than MAX_JSON_DEPTH (Razorpay's payloads are about 5 levels deep): rejected and recorded as `too_deep`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
# 2000-01-01: an envelope time before this is not a Razorpay event time.
_MIN_EPOCH = 946_684_800
_MAX_EPOCH_MS = 2**53  # beyond this a millisecond count is not exact as a float (and not a time)
# An event dated later than its receipt by more than this is clamped to the receipt time (and flagged):
# a state from the future would otherwise win over every later sync.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Razorpay retries a delivery for 24 h; an event older than that (with an hour's margin) is a replay.
RETRY_HORIZON = timedelta(hours=25)
# A replay of past deliveries (the sandbox's history, or an archive re-fed to a fresh install) names,
# inside the signed body, when each event was first sent: {"payops_replay": {"sent_at_ms": EPOCH_MS}}.
# Razorpay never sends this key; only a holder of the webhook secret can add it.
REPLAY_KEY = "payops_replay"
# Nesting deeper than this is refused (orjson parses 1024 levels but serialises only 254).
MAX_JSON_DEPTH = 128
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified, well-formed event delivery, ready to be stored."""

    event_id: str
    event_type: str
    account_id: str | None
    created_at: datetime  # the event time, never later than received_at
    received_at: datetime
    payload: dict[str, Any]  # the whole envelope, as Razorpay sent it (made storable, see interpretation)
    # When a replayed event was first sent (REPLAY_KEY), between created_at and received_at; None for a
    # live delivery. Lag is measured to it, so replayed history keeps its own lateness.
    sent_at: datetime | None = None
    body_sha256: str = ""
    # What could not be taken as Razorpay documents it, and how it was read instead.
    interpretation: tuple[str, ...] = field(default=())

    @property
    def lag(self) -> timedelta:
        """How late the event reached us: to its first send for a replay, else to this receipt."""
        return (self.sent_at or self.received_at) - self.created_at


@dataclass(frozen=True, slots=True)
class Rejection:
    """A delivery that is answered with a 4xx and recorded in webhook_rejections."""

    status_code: int
    reason: str  # missing_signature | bad_signature | malformed_json | too_large | too_deep | body_timeout
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
    body_sha256 = hashlib.sha256(body).hexdigest()

    def reject(reason: str, detail: str, event_type: str | None = None) -> Rejection:
        return Rejection(
            status_code=400,
            reason=reason,
            received_at=received_at,
            body_sha256=body_sha256,
            body_size=len(body),
            event_id=_clip(event_id, _MAX_EVENT_ID),
            event_type=_neutralised(event_type),
            source_address=_clip(source_address, _MAX_SOURCE_ADDRESS),
            detail=detail,
        )

    if not signature or not signature.strip():
        return reject("missing_signature", "no X-Razorpay-Signature header", _peek_event_type(body))
    if not signature_matches(body, signature, secrets):
        # The body is untrusted; its event type is kept only as a hint for operations.
        return reject("bad_signature", "signature matches no configured secret", _peek_event_type(body))
    notes: list[str] = []
    try:
        document = _parse(body, notes)
        return _interpret(
            document, notes, body_sha256=body_sha256, event_id=event_id, received_at=received_at
        )
    except _TooDeep as error:
        return reject("too_deep", str(error))
    except ValueError as error:
        return reject("malformed_json", f"body is not JSON: {error}"[:300])
    except Exception as error:  # a fault here must not turn a verified delivery into a 5xx forever
        return _interpret(
            {"unreadable": True},
            [f"body could not be interpreted ({type(error).__name__}); stored as a stub"],
            body_sha256=body_sha256,
            event_id=event_id,
            received_at=received_at,
        )


class _TooDeep(ValueError):
    pass


def _parse(body: bytes, notes: list[str]) -> Any:
    """The JSON document, storable as JSON on both databases; what had to change is noted."""
    strict = False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            raise _TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from error
        # orjson refuses some valid JSON (a lone surrogate escape, a number beyond a double): the
        # standard parser reads it, and the values orjson could not hold are kept as text.
        document = _parse_strictly(body)
        strict = True
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(document) > MAX_JSON_DEPTH:
        raise _TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if strict:
        document = _storable(document, surrogates=True)
        notes.append("values orjson cannot hold (lone surrogates, numbers beyond 64 bits) stored as text")
    if b"\\u0000" in body:
        cleaned = _storable(document)
        if cleaned != document:
            notes.append("U+0000 characters (which PostgreSQL cannot store) replaced by U+FFFD")
            document = cleaned
    return document


def _parse_strictly(body: bytes) -> Any:
    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def number(text: str) -> Any:
        value = float(text)
        return value if math.isfinite(value) else text

    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError as error:
        raise _TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(str(error)) from error
    return document


def _depth(document: Any) -> int:
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in value)
        if deepest > MAX_JSON_DEPTH:
            break
    return deepest


def _storable(value: Any, *, surrogates: bool = False) -> Any:
    """`value` with U+0000 (and, from the standard parser, lone surrogates and integers beyond 64 bits)
    replaced, so that orjson can serialise it and PostgreSQL can store it. Depth is already bounded."""
    if isinstance(value, str):
        cleaned = value.replace("\x00", "\ufffd")
        if surrogates:
            cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
        return cleaned
    if isinstance(value, dict):
        return {
            _storable(k, surrogates=surrogates): _storable(v, surrogates=surrogates) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_storable(item, surrogates=surrogates) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _UINT64_MAX:
        return str(value)
    return value


def _interpret(
    document: Any, notes: list[str], *, body_sha256: str, event_id: str | None, received_at: datetime
) -> Delivery:
    """The stored event for a verified JSON body: documented fields where they are, the rest noted."""
    if isinstance(document, dict):
        envelope: dict[str, Any] = document
    else:
        envelope = {"body": document}
        notes.append(f"body is JSON but not an object ({type(document).__name__}); stored under 'body'")
    event_type = envelope.get("event")
    if not isinstance(event_type, str) or not event_type.strip():
        notes.append("envelope 'event' missing or not a string")
        event_type = "unknown"
    elif len(event_type) > _MAX_EVENT_TYPE:
        notes.append(f"envelope 'event' longer than {_MAX_EVENT_TYPE} characters, cut")
        event_type = event_type[:_MAX_EVENT_TYPE]
    if not event_id or not event_id.strip() or len(event_id) > _MAX_EVENT_ID or "\x00" in event_id:
        notes.append("X-Razorpay-Event-Id header missing or unusable: the body's sha256 is the event id")
        event_id = f"sha256:{body_sha256[:56]}"
    account_id = envelope.get("account_id")
    if account_id is not None and (
        not isinstance(account_id, str) or len(account_id) > _MAX_ACCOUNT_ID or "\x00" in account_id
    ):
        notes.append("envelope 'account_id' is not a short string: not kept")
        account_id = None
    if "payload" in envelope and not isinstance(envelope["payload"], dict):
        notes.append("envelope 'payload' is not an object: nothing to apply")
    created_at = _event_time(envelope, notes, received_at)
    sent_at = _replay_sent_at(envelope, notes, created_at, received_at)
    if (sent_at or received_at) - created_at > RETRY_HORIZON:  # Delivery.lag
        notes.append("created_at is older than Razorpay's 24 h retry horizon: a replay, or a very late event")
    return Delivery(
        event_id=event_id,
        event_type=event_type,
        account_id=account_id,
        created_at=created_at,
        received_at=received_at,
        sent_at=sent_at,
        payload=envelope,
        body_sha256=body_sha256,
        interpretation=tuple(notes),
    )


def _epoch_of(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < _MIN_EPOCH:
        return None
    return float(value)


def _event_time(envelope: dict[str, Any], notes: list[str], received_at: datetime) -> datetime:
    """The envelope's `created_at`, else the payload's (the refund.speed_changed sample keeps it there),
    else the receipt time; never later than the receipt time."""
    seconds = _epoch_of(envelope.get("created_at"))
    if seconds is None:
        payload = envelope.get("payload")
        inner = _epoch_of(payload.get("created_at")) if isinstance(payload, dict) else None
        if inner is not None:
            notes.append("envelope has no usable 'created_at'; read from payload.created_at")
            seconds = inner
        else:
            notes.append("no usable 'created_at' in the envelope or its payload; receipt time used")
            return received_at
    received = received_at.timestamp()
    if seconds > received:
        if seconds - received > MAX_CLOCK_SKEW.total_seconds():
            notes.append(
                f"created_at {int(seconds)} is later than the receipt time by more than "
                f"{int(MAX_CLOCK_SKEW.total_seconds())} s: clamped to the receipt time"
            )
        return received_at
    return datetime.fromtimestamp(seconds, UTC)


def _replay_sent_at(
    envelope: dict[str, Any], notes: list[str], created_at: datetime, received_at: datetime
) -> datetime | None:
    """The first-send time a replayed event declares (REPLAY_KEY), if it lies between the event time
    and the receipt time (within MAX_CLOCK_SKEW, clamped into that range); else None, with a note."""
    if REPLAY_KEY not in envelope:
        return None
    replay = envelope[REPLAY_KEY]
    millis = replay.get("sent_at_ms") if isinstance(replay, dict) else None
    seconds = None
    if isinstance(millis, int) and not isinstance(millis, bool) and 0 < millis < _MAX_EPOCH_MS:
        seconds = _epoch_of(millis / 1000)
    if seconds is None:
        notes.append(f"'{REPLAY_KEY}.sent_at_ms' missing or not an epoch in milliseconds: ignored")
        return None
    skew = MAX_CLOCK_SKEW.total_seconds()
    if seconds > received_at.timestamp() + skew or seconds < created_at.timestamp() - skew:
        notes.append(
            f"'{REPLAY_KEY}.sent_at_ms' {millis} is not between created_at and the receipt time: ignored"
        )
        return None
    assert isinstance(millis, int)
    sent_at = datetime.fromtimestamp(millis // 1000, UTC) + timedelta(milliseconds=millis % 1000)  # exact
    return min(max(sent_at, created_at), received_at)


def _peek_event_type(body: bytes) -> str | None:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    event_type = envelope.get("event") if isinstance(envelope, dict) else None
    return event_type if isinstance(event_type, str) and "\x00" not in event_type else None


# A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection rule).
_FORMULA_STARTS = ("=", "+", "-", "@")


def _neutralised(claimed: str | None) -> str | None:
    """An unverified body's event type as it is kept: control characters (tab and CR included)
    dropped, a formula start defused with a leading apostrophe, at most the column's width."""
    if claimed is None:
        return None
    text = "".join(ch for ch in claimed if ch.isprintable())
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    return text[:_MAX_EVENT_TYPE]


def _clip(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "")
    return value[:width]
