"""The sandbox's demo confirmations, posted to the real receiver: every forged one is refused, every
genuine one verified, and the record says which were forged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sandbox.confirmations import post_confirmations
from sync.webhooks.app import create_app

KEY_SECRET = "sandbox_key_secret"


@pytest.fixture
def receiver(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url, ["whsec"], key_secrets=[("current", KEY_SECRET)])) as client:
        yield client


def test_forged_confirmations_are_refused_and_recorded(receiver: TestClient) -> None:
    payments: list[dict[str, str | None]] = [
        {"id": f"pay_{i:04d}", "order_id": f"order_{i:04d}", "status": "captured"} for i in range(40)
    ]
    payments.append({"id": "pay_no_order", "order_id": None, "status": "captured"})

    def post(body: dict[str, str]) -> dict[str, object]:
        answer: dict[str, object] = receiver.post("/checkout/confirmations", json=body).json()
        return answer

    record = post_confirmations(payments, key_secret=KEY_SECRET, post=post, forged_share=0.25, seed=3)
    assert record.posted == 40  # the payment without an order has no checkout to confirm
    assert record.wrong_verdicts == []
    assert 0 < len(record.forged) < 40
    assert record.verdicts == {"verified": 40 - len(record.forged), "bad_signature": len(record.forged)}
