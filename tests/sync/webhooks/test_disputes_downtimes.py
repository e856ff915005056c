"""payment.dispute.* and payment.downtime.* events are applied like the other entities: upsert by id,
forward-only by status rank, the payment snapshot a dispute event carries applied too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import Dispute, Downtime, Payment, WebhookEvent
from tests.sync.webhooks.events import T0, dispute, downtime, envelope, payment, post


def _one(engine: Engine, model: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(model)).one()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_dispute_events_store_the_dispute_and_move_it_forward_only(
    receiver: TestClient, engine: Engine
) -> None:
    created = envelope("payment.dispute.created", T0, payment=payment(), dispute=dispute())
    assert post(receiver, created, event_id="evt_D1").status_code == 200
    row = _one(engine, Dispute)
    assert (row.id, row.payment_id, row.amount, row.amount_deducted, row.currency) == (
        "disp_W1",
        "pay_W1",
        50000,
        0,
        "INR",
    )
    assert (row.status, row.phase, row.reason_code, row.respond_by) == (
        "open",
        "chargeback",
        "chargeback",
        _at(T0 + 7 * 86_400),
    )
    assert _one(engine, Payment).id == "pay_W1"  # the payment snapshot is applied too
    event = _one(engine, WebhookEvent)
    assert (event.known_type, event.applied, event.payment_id, event.entity_status) == (
        True,
        True,
        "pay_W1",
        "open",
    )

    lost = envelope("payment.dispute.lost", T0 + 600, payment=payment(), dispute=dispute(status="lost"))
    assert post(receiver, lost, event_id="evt_D2").status_code == 200
    # A late under_review snapshot (newer clock, lower rank) does not undo the outcome.
    late = envelope(
        "payment.dispute.under_review", T0 + 900, payment=payment(), dispute=dispute(status="under_review")
    )
    assert post(receiver, late, event_id="evt_D3").status_code == 200
    row = _one(engine, Dispute)
    assert (row.status, row.amount_deducted, row.state_at) == ("lost", 50000, _at(T0 + 600))


def test_action_required_and_under_review_alternate_by_time(receiver: TestClient, engine: Engine) -> None:
    for n, status in enumerate(("under_review", "action_required", "under_review")):
        body = envelope(
            f"payment.dispute.{status}", T0 + 60 * n, payment=payment(), dispute=dispute(status=status)
        )
        assert post(receiver, body, event_id=f"evt_R{n}").status_code == 200
    assert _one(engine, Dispute).status == "under_review"


def test_downtime_events_store_the_instrument_and_resolve(receiver: TestClient, engine: Engine) -> None:
    started = envelope("payment.downtime.started", T0, **{"payment.downtime": downtime()})
    assert post(receiver, started, event_id="evt_T1").status_code == 200
    row = _one(engine, Downtime)
    assert (row.id, row.method, row.vpa_handle, row.psp, row.flow, row.severity, row.status) == (
        "down_W1",
        "upi",
        "oksbi",
        "google_pay",
        "collect",
        "high",
        "started",
    )
    assert (row.begin, row.end, row.scheduled) == (_at(T0 - 900), None, False)

    resolved = envelope(
        "payment.downtime.resolved", T0 + 1200, **{"payment.downtime": downtime(status="resolved")}
    )
    # An update delivered after the resolution (older event time, lower rank) is ignored.
    updated = envelope(
        "payment.downtime.updated", T0 + 600, **{"payment.downtime": downtime(severity="medium")}
    )
    assert post(receiver, resolved, event_id="evt_T2").status_code == 200
    assert post(receiver, updated, event_id="evt_T3").status_code == 200
    row = _one(engine, Downtime)
    assert (row.status, row.end, row.severity) == ("resolved", _at(T0), "high")
    with engine.connect() as conn:
        applied = conn.execute(select(WebhookEvent.event_id, WebhookEvent.applied)).all()
    assert sorted(applied) == [("evt_T1", True), ("evt_T2", True), ("evt_T3", True)]


def test_card_downtime_names_issuer_network_and_card_type(receiver: TestClient, engine: Engine) -> None:
    snapshot = downtime(
        "down_C1", method="card", instrument={"network": "VISA", "card_type": "credit", "issuer": "HDFC"}
    )
    body = envelope("payment.downtime.started", T0, **{"payment.downtime": snapshot})
    assert post(receiver, body, event_id="evt_C1").status_code == 200
    row = _one(engine, Downtime)
    assert (row.method, row.card_network, row.card_type, row.issuer, row.vpa_handle) == (
        "card",
        "VISA",
        "credit",
        "HDFC",
        None,
    )
