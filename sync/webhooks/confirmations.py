"""`POST /checkout/confirmations`: the merchant's backend forwards what the customer's browser handed it
after checkout (`razorpay_order_id`, `razorpay_payment_id`, `razorpay_signature`); payops verifies the
signature — HMAC-SHA256 of `order_id|payment_id` keyed with the API key secret, compared in constant time
by the razorpay SDK — stores the confirmation with its verdict, and answers with the verdict, so the
backend fulfils only verified orders.

Rotated key secrets keep verifying while they are listed in RAZORPAY_PREVIOUS_KEY_SECRETS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import razorpay
from razorpay.errors import SignatureVerificationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from data.checkout import store_confirmation

__all__ = ["CONFIRMATIONS_PATH", "Verdict", "confirmation_endpoint", "verify_confirmation"]

CONFIRMATIONS_PATH = "/checkout/confirmations"
MAX_CONFIRMATION_BYTES = 4096
_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_UTILITY = razorpay.Utility()


@dataclass(frozen=True)
class Verdict:
    verdict: str  # verified | bad_signature | malformed
    status_code: int
    order_id: str | None = None
    payment_id: str | None = None
    key_used: str | None = None
    signature_sha256: str | None = None
    detail: str | None = None


def verify_confirmation(body: bytes, secrets: Sequence[tuple[str, str]]) -> Verdict:
    """Judge one forwarded confirmation against every (label, key secret), current first."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Verdict("malformed", 400, detail="the body is not JSON")
    if not isinstance(fields, dict):
        return Verdict("malformed", 400, detail="the body is not a JSON object")
    order_id, payment_id, signature = (
        fields.get(name) for name in ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")
    )
    ids_ok = all(isinstance(value, str) and _ID.match(value) for value in (order_id, payment_id))
    shown_order = order_id if isinstance(order_id, str) and ids_ok else None
    shown_payment = payment_id if isinstance(payment_id, str) and ids_ok else None
    if not ids_ok or not isinstance(signature, str):
        return Verdict(
            "malformed",
            400,
            detail="razorpay_order_id, razorpay_payment_id and razorpay_signature are required strings",
        )
    digest = hashlib.sha256(signature.encode()).hexdigest()
    if not _SIGNATURE.match(signature):
        return Verdict("bad_signature", 401, shown_order, shown_payment, signature_sha256=digest)
    message = f"{order_id}|{payment_id}"
    for label, secret in secrets:
        try:
            _UTILITY.verify_signature(message, signature, secret)
        except SignatureVerificationError:
            continue
        return Verdict("verified", 200, shown_order, shown_payment, key_used=label, signature_sha256=digest)
    return Verdict("bad_signature", 401, shown_order, shown_payment, signature_sha256=digest)


def confirmation_endpoint(
    engine: Engine, secrets: Sequence[tuple[str, str]]
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette handler: verify, store (committed before answering), answer with the verdict."""

    async def confirm(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_CONFIRMATION_BYTES:
            verdict = Verdict("malformed", 413, detail=f"the body is over {MAX_CONFIRMATION_BYTES} bytes")
        else:
            verdict = verify_confirmation(body, secrets)
        client = request.client
        confirmation_id = await run_in_threadpool(
            lambda: store_confirmation(
                engine,
                received_at=datetime.now(UTC),
                order_id=verdict.order_id,
                payment_id=verdict.payment_id,
                verdict=verdict.verdict,
                key_used=verdict.key_used,
                signature_sha256=verdict.signature_sha256,
                source_address=client.host if client else None,
                detail=verdict.detail,
            )
        )
        answer: dict[str, object] = {
            "verdict": verdict.verdict,
            "confirmation_id": confirmation_id,
            "razorpay_order_id": verdict.order_id,
            "razorpay_payment_id": verdict.payment_id,
        }
        if verdict.detail:
            answer["detail"] = verdict.detail
        return Response(orjson.dumps(answer), status_code=verdict.status_code, media_type="application/json")

    return confirm
