"""Every webhook sample in tests/fixtures/razorpay/webhooks, posted signed to the receiver app, on SQLite and
PostgreSQL: always stored (2xx), flagged where its shape is odd, and its entities applied field by field
as Razorpay documents them (tests/conformance/expected.py). A new file in the folder is a new test case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import WebhookEvent
from sync.webhooks import app as webhook_app
from sync.webhooks.app import create_app
from sync.webhooks.apply import KNOWN_EVENT_TYPES
from sync.webhooks.intake import sign
from tests.conformance.expected import (
    APPLIED_ENTITIES,
    Expectation,
    envelope_created_at,
    expect_record,
    payload_entities,
    utc,
)
from tests.conformance.test_corpus import CORPUS, assert_expectation, sample_id

WEBHOOK_SAMPLES = sorted((CORPUS / "webhooks").glob("*.json"))
SECRET = "whsec_corpus"


def _post(client: TestClient, body: bytes, event_id: str) -> Any:
    return client.post(
        "/webhooks/razorpay",
        content=body,
        headers={"X-Razorpay-Signature": sign(body, SECRET), "X-Razorpay-Event-Id": event_id},
    )


@pytest.mark.parametrize("sample", WEBHOOK_SAMPLES, ids=sample_id)
def test_webhook_sample_is_stored_and_applied_as_documented(
    sample: Path, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What is tested here is what the receiver makes of each sample, not how fast this machine is: on a
    # box at load 30 the first write to a fresh database can outlast the 4 s answer budget (a 503).
    monkeypatch.setattr(webhook_app, "ANSWER_WITHIN_SECONDS", 600.0)
    body = sample.read_bytes()
    envelope = orjson.loads(body)
    event_type = envelope["event"]
    event_id = "evt_" + sample.stem.replace(".", "_")[:40]
    with TestClient(create_app(database_url, [SECRET], rollup_interval=0)) as client:
        response = _post(client, body, event_id)
        metrics = client.get("/metrics").text
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "stored"

    with engine.connect() as conn:
        event = conn.execute(select(WebhookEvent).where(WebhookEvent.event_id == event_id)).one()
    assert event.event_type == event_type
    created = envelope_created_at(envelope)
    if created is None:
        # No event time anywhere (the docs' card payment.authorized sample): stored all the same, at the
        # receipt time, and flagged.
        assert event.interpretation is not None and "receipt time" in event.interpretation
        event_time = event.received_at
    else:
        event_time = utc(created)
    assert event.created_at == event_time
    if "created_at" not in envelope:
        # Stored all the same, and flagged: where the event time was found is not where it should be.
        assert event.interpretation is not None and "created_at" in event.interpretation

    entities = payload_entities(envelope)
    applied = event_type in KNOWN_EVENT_TYPES
    expectation = Expectation()
    if applied:
        for name, snapshot in entities.items():
            table = APPLIED_ENTITIES.get(name)
            if table is not None:
                expect_record(table, snapshot, expectation)
        for rows in expectation.rows.values():
            for values in rows.values():
                if "state_at" not in values:
                    values["state_at"] = event_time
    assert event.known_type is applied
    assert event.applied is (applied and not expectation.quarantined)
    assert (event.apply_error is not None) is bool(expectation.quarantined)
    assert_expectation(engine, expectation, source="webhook")
    # Only events whose entities could not be applied count as apply errors.
    assert ("payops_webhook_apply_errors_total{" in metrics) is bool(expectation.quarantined)
    for name in ("payment", "order", "refund", "settlement"):
        linked = entities.get(name)
        if linked is not None and isinstance(linked.get("id"), str):
            assert getattr(event, f"{name}_id") == linked["id"]
