"""`POST /checkout/confirmations`: verified in constant time against the current and previous key
secrets, stored with its verdict, answered with it; forged and malformed ones are refused and kept."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import CheckoutConfirmation
from sync.webhooks.app import create_app
from tests.sync.webhooks.events import SECRET

KEY_SECRET, OLD_KEY_SECRET = "key_secret_now", "key_secret_before"


def sign(order_id: str, payment_id: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    secrets = [("current", KEY_SECRET), ("previous", OLD_KEY_SECRET)]
    with TestClient(create_app(database_url, [SECRET], key_secrets=secrets)) as test_client:
        yield test_client


def confirm(
    client: TestClient, order_id: str, payment_id: str, signature: str
) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/checkout/confirmations",
        json={
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": signature,
        },
    )
    return response.status_code, response.json()


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                CheckoutConfirmation.order_id,
                CheckoutConfirmation.payment_id,
                CheckoutConfirmation.verdict,
                CheckoutConfirmation.key_used,
            ).order_by(CheckoutConfirmation.id)
        ).all()
    return [tuple(row) for row in rows]


def test_verified_with_the_current_or_a_rotated_secret(client: TestClient, engine: Engine) -> None:
    code, answer = confirm(client, "order_A1", "pay_A1", sign("order_A1", "pay_A1", KEY_SECRET))
    assert code == 200 and answer["verdict"] == "verified" and answer["razorpay_order_id"] == "order_A1"
    code, answer = confirm(client, "order_B1", "pay_B1", sign("order_B1", "pay_B1", OLD_KEY_SECRET))
    assert code == 200 and answer["verdict"] == "verified"
    assert stored(engine) == [
        ("order_A1", "pay_A1", "verified", "current"),
        ("order_B1", "pay_B1", "verified", "previous"),
    ]


def test_forged_and_swapped_signatures_are_refused_and_kept(client: TestClient, engine: Engine) -> None:
    forged = sign("order_C1", "pay_C1", "guessed-secret")
    assert confirm(client, "order_C1", "pay_C1", forged) == (
        401,
        {
            "verdict": "bad_signature",
            "confirmation_id": 1,
            "razorpay_order_id": "order_C1",
            "razorpay_payment_id": "pay_C1",
        },
    )
    # A real signature for another order does not confirm this one.
    other = sign("order_D1", "pay_D1", KEY_SECRET)
    code, answer = confirm(client, "order_D2", "pay_D1", other)
    assert code == 401 and answer["verdict"] == "bad_signature"
    code, _ = confirm(client, "order_E1", "pay_E1", "not-hex")
    assert code == 401
    assert [row[2] for row in stored(engine)] == ["bad_signature"] * 3


def test_malformed_bodies_are_answered_400_and_kept(client: TestClient, engine: Engine) -> None:
    response = client.post("/checkout/confirmations", content=b"razorpay_order_id=x")
    assert response.status_code == 400 and response.json()["verdict"] == "malformed"
    response = client.post("/checkout/confirmations", json={"razorpay_order_id": "order_F1"})
    assert response.status_code == 400 and "required" in response.json()["detail"]
    response = client.post(
        "/checkout/confirmations",
        json={"razorpay_order_id": "o' OR 1=1", "razorpay_payment_id": "p", "razorpay_signature": "x"},
    )
    assert response.status_code == 400
    assert stored(engine) == [(None, None, "malformed", None)] * 3
