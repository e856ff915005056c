"""The demo's checkout confirmations: for captured sandbox payments with an order, post what a merchant's
backend would forward after checkout — most correctly signed, a share forged (a signature made with a
guessed secret, or a real signature presented for another order) — and record which were forged, so
the receiver's verdicts can be checked against the truth.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

__all__ = ["ConfirmationRecord", "fetch_captured", "post_confirmations", "sign"]

Poster = Callable[[dict[str, str]], Mapping[str, Any]]


def sign(order_id: str, payment_id: str, key_secret: str) -> str:
    """Razorpay's checkout signature: HMAC-SHA256 hex of `order_id|payment_id` keyed with the key secret."""
    return hmac.new(key_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


@dataclass
class ConfirmationRecord:
    posted: int = 0
    forged: list[str] = field(default_factory=list)  # payment ids whose confirmation was forged
    verdicts: dict[str, int] = field(default_factory=dict)
    # Forged ones the receiver verified, or genuine ones it refused: must stay empty.
    wrong_verdicts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "forged": self.forged,
            "verdicts": self.verdicts,
            "wrong_verdicts": self.wrong_verdicts,
        }


def post_confirmations(
    payments: Iterable[Mapping[str, Any]],
    *,
    key_secret: str,
    post: Poster,
    forged_share: float = 0.1,
    seed: int = 7,
) -> ConfirmationRecord:
    """Post one confirmation per payment (those with an order); `post` returns the receiver's JSON answer."""
    rng = random.Random(seed)
    record = ConfirmationRecord()
    captured = [p for p in payments if p.get("order_id")]
    for index, payment in enumerate(captured):
        order_id, payment_id = str(payment["order_id"]), str(payment["id"])
        forged = rng.random() < forged_share
        if not forged:
            signature = sign(order_id, payment_id, key_secret)
        elif index % 2 and len(captured) > 1:
            # A real signature, lifted from another order's checkout.
            other = captured[index - 1]
            signature = sign(str(other["order_id"]), str(other["id"]), key_secret)
            payment_id = str(other["id"])
        else:
            signature = sign(order_id, payment_id, "guessed-" + key_secret[::-1])
        answer = post(
            {
                "razorpay_order_id": order_id,
                "razorpay_payment_id": payment_id,
                "razorpay_signature": signature,
            }
        )
        verdict = str(answer.get("verdict"))
        record.posted += 1
        record.verdicts[verdict] = record.verdicts.get(verdict, 0) + 1
        if forged:
            record.forged.append(payment_id)
        if (verdict == "verified") == forged:
            record.wrong_verdicts.append(payment_id)
    return record


def fetch_captured(api: str, auth: tuple[str, str], since: int, limit: int) -> list[dict[str, Any]]:
    """Captured payments created since `since` (epoch seconds), through the sandbox's /v1 list API."""
    found: list[dict[str, Any]] = []
    skip = 0
    while len(found) < limit:
        response = requests.get(
            f"{api.rstrip('/')}/v1/payments",
            params={"from": since, "count": 100, "skip": skip},
            auth=auth,
            timeout=60,
        )
        response.raise_for_status()
        items = response.json()["items"]
        found += [item for item in items if item.get("status") == "captured"]
        if len(items) < 100:
            break
        skip += len(items)
    return found[:limit]
