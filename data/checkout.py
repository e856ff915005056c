"""Checkout confirmations in the database: the receiver stores each one with its verdict."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert

from data.models import CheckoutConfirmation

__all__ = ["store_confirmation"]


def store_confirmation(
    engine: Engine,
    *,
    received_at: datetime,
    order_id: str | None,
    payment_id: str | None,
    verdict: str,
    key_used: str | None,
    signature_sha256: str | None,
    source_address: str | None,
    detail: str | None,
) -> int:
    """Insert one confirmation (committed before the receiver answers); returns its id."""
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(CheckoutConfirmation)
            .values(
                received_at=received_at,
                order_id=order_id,
                payment_id=payment_id,
                verdict=verdict,
                key_used=key_used,
                signature_sha256=signature_sha256,
                source_address=source_address,
                detail=detail,
            )
            .returning(CheckoutConfirmation.id)
        ).scalar_one()
    return int(new_id)
