"""Beyond the configured queue the receiver answers 503 + Retry-After at once (Razorpay retries), and
below it nothing is refused; a delivery that timed out in the queue is not written afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from data.models import WebhookEvent
from sync.webhooks import app as receiver_app
from sync.webhooks.app import WEBHOOK_PATH, create_app
from sync.webhooks.intake import sign
from sync.webhooks.store import EventWriter
from tests.sync.webhooks.events import SECRET, T0, envelope, payment


async def _post(app: Any, event_id: str, n: int) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    body = orjson.dumps(envelope("payment.captured", T0 + n, payment=payment(pid=f"pay_Over{n:03d}")))
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"x-razorpay-signature", sign(body, SECRET).encode()),
        (b"x-razorpay-event-id", event_id.encode()),
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "path": WEBHOOK_PATH,
        "headers": headers,
        "client": ("203.0.113.1", 443),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    start: dict[str, Any] = {}
    content: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            content.append(message["body"])

    await app(scope, receive, send)
    return start["status"], dict(start["headers"]), orjson.loads(b"".join(content))


def test_over_the_limit_is_503_with_retry_after_and_below_it_every_delivery_is_stored(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiver_app, "ANSWER_WITHIN_SECONDS", 0.5)
    app = create_app(database_url, [SECRET], max_pending=2)
    metrics = app.state.metrics.registry
    with TestClient(app) as client:
        assert client.portal is not None
        # A writer that does not drain (as if the database stalled): two wait, the third is refused.
        with monkeypatch.context() as stalled:
            stalled.setattr(EventWriter, "_ensure_started", lambda self: None)

            async def three() -> list[tuple[int, dict[bytes, bytes], dict[str, Any]]]:
                return list(await asyncio.gather(*(_post(app, f"evt_Over{n}", n) for n in range(3))))

            answers = client.portal.call(three)
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [503, 503, 503]
        assert all(headers[b"retry-after"] == b"5" for _, headers, _ in answers)
        assert metrics.get_sample_value("payops_webhook_failures_total", {"kind": "overloaded"}) == 1
        assert metrics.get_sample_value("payops_webhook_failures_total", {"kind": "timeout"}) == 2

    # Nothing of the timed-out deliveries was written; their resends (here to a fresh process) are
    # stored as new, next to a new event.
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 0
    fresh = create_app(database_url, [SECRET], max_pending=2)
    with TestClient(fresh) as client:
        assert client.portal is not None

        async def two() -> list[tuple[int, dict[bytes, bytes], dict[str, Any]]]:
            return list(await asyncio.gather(_post(fresh, "evt_Over0", 0), _post(fresh, "evt_Over9", 9)))

        after = client.portal.call(two)
    assert [(status, body["status"]) for status, _, body in after] == [(200, "stored"), (200, "stored")]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 2
