"""Forward-only rules, each with explicit out-of-order event pairs delivered to the receiver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import Order, Payment, Refund, Settlement
from data.upsert import upsert
from sync.normalise import normalise_payment
from tests.sync.webhooks.events import T0, envelope, order, payment, post, refund, settlement

MODELS: dict[str, Any] = {"payment": Payment, "order": Order, "refund": Refund, "settlement": Settlement}
SNAPSHOTS: dict[str, Any] = {"payment": payment, "order": order, "refund": refund, "settlement": settlement}
EVENT_OF: dict[tuple[str, str], str] = {
    ("payment", "authorized"): "payment.authorized",
    ("payment", "captured"): "payment.captured",
    ("payment", "failed"): "payment.failed",
    ("payment", "refunded"): "refund.processed",
    ("order", "paid"): "order.paid",
    ("order", "attempted"): "order.paid",
    ("refund", "pending"): "refund.created",
    ("refund", "processed"): "refund.processed",
    ("refund", "failed"): "refund.failed",
    ("settlement", "created"): "settlement.processed",
    ("settlement", "processed"): "settlement.processed",
}


def deliver(client: TestClient, event_id: str, entity: str, status: str, at: int, **fields: Any) -> None:
    entities = {entity: SNAPSHOTS[entity](status=status, **fields)}
    if EVENT_OF[(entity, status)].startswith("refund.") and entity == "payment":
        entities["refund"] = refund()  # refund events carry the refund and the payment
    response = post(client, envelope(EVENT_OF[(entity, status)], at, **entities), event_id=event_id)
    assert response.status_code == 200, response.text


def stored(engine: Engine, entity: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(MODELS[entity])).one()


# (rule, entity, first delivered (status, envelope time, fields), then (status, time, fields), final status)
PAIRS: list[tuple[str, str, tuple[str, int, dict[str, Any]], tuple[str, int, dict[str, Any]], str]] = [
    ("late authorized after captured", "payment", ("captured", 10, {}), ("authorized", 5, {}), "captured"),
    # A higher status wins even with an older stamp: a capture can only have happened after the
    # authorisation, whatever a late delivery's (or another clock's) timestamp says.
    (
        "late capture stamped before authorized",
        "payment",
        ("authorized", 10, {}),
        ("captured", 5, {}),
        "captured",
    ),
    ("late paid stamped before attempted", "order", ("attempted", 10, {}), ("paid", 5, {}), "paid"),
    (
        "authorized stamped later than captured",
        "payment",
        ("captured", 10, {}),
        ("authorized", 20, {}),
        "captured",
    ),
    ("captured after refunded", "payment", ("refunded", 30, {}), ("captured", 20, {}), "refunded"),
    ("captured stamped after refunded", "payment", ("refunded", 30, {}), ("captured", 40, {}), "refunded"),
    (
        "late authorisation of a failed payment",
        "payment",
        ("failed", 10, {}),
        ("authorized", 60, {}),
        "authorized",
    ),
    ("failed payment captured late", "payment", ("failed", 10, {}), ("captured", 60, {}), "captured"),
    ("stale failed after authorized", "payment", ("authorized", 60, {}), ("failed", 10, {}), "authorized"),
    ("paid order, older attempted", "order", ("paid", 10, {}), ("attempted", 5, {}), "paid"),
    ("processed refund, older pending", "refund", ("processed", 10, {}), ("pending", 5, {}), "processed"),
    ("failed refund, older pending", "refund", ("failed", 10, {}), ("pending", 5, {}), "failed"),
    (
        "processed settlement, older created",
        "settlement",
        ("processed", 10, {}),
        ("created", 5, {}),
        "processed",
    ),
]


@pytest.mark.parametrize(("rule", "entity", "first", "second", "final"), PAIRS, ids=[p[0] for p in PAIRS])
def test_out_of_order_pair(
    receiver: TestClient,
    engine: Engine,
    rule: str,
    entity: str,
    first: tuple[str, int, dict[str, Any]],
    second: tuple[str, int, dict[str, Any]],
    final: str,
) -> None:
    deliver(receiver, "evt_1", entity, first[0], T0 + first[1], **first[2])
    deliver(receiver, "evt_2", entity, second[0], T0 + second[1], **second[2])
    row = stored(engine, entity)
    assert row.status == final, rule
    # state_at follows the snapshot that won.
    winner = first if final == first[0] else second
    assert row.state_at == datetime.fromtimestamp(T0 + winner[1], UTC)


def test_in_order_history_moves_forward_step_by_step(receiver: TestClient, engine: Engine) -> None:
    deliver(receiver, "evt_a", "payment", "authorized", T0)
    assert stored(engine, "payment").status == "authorized"
    deliver(receiver, "evt_c", "payment", "captured", T0 + 1)
    assert stored(engine, "payment").status == "captured"
    deliver(receiver, "evt_r", "payment", "refunded", T0 + 2, amount_refunded=50000, refund_status="full")
    row = stored(engine, "payment")
    assert (row.status, row.amount_refunded, row.refund_status) == ("refunded", 50000, "full")


def test_older_snapshot_of_the_same_status_does_not_overwrite_a_newer_one(
    receiver: TestClient, engine: Engine
) -> None:
    # A partial refund keeps the payment captured; the older captured snapshot arrives afterwards.
    deliver(
        receiver, "evt_new", "payment", "captured", T0 + 20, amount_refunded=10000, refund_status="partial"
    )
    deliver(receiver, "evt_old", "payment", "captured", T0 + 10, amount_refunded=0)
    row = stored(engine, "payment")
    assert (row.amount_refunded, row.refund_status) == (10000, "partial")


def test_a_partial_refund_stamped_before_the_capture_still_counts(
    receiver: TestClient, engine: Engine
) -> None:
    # Same status, but more refunded is later in the payment's life whatever the timestamps say.
    deliver(receiver, "evt_cap", "payment", "captured", T0 + 20, amount_refunded=0)
    deliver(
        receiver, "evt_rf", "payment", "captured", T0 + 10, amount_refunded=10000, refund_status="partial"
    )
    row = stored(engine, "payment")
    assert (row.status, row.amount_refunded, row.refund_status) == ("captured", 10000, "partial")


def refund_failed(client: TestClient, event_id: str, at: int, **payment_fields: Any) -> None:
    body = envelope("refund.failed", at, refund=refund(status="failed"), payment=payment(**payment_fields))
    assert post(client, body, event_id=event_id).status_code == 200


def test_a_failed_refund_takes_a_refund_back_only_if_newer(receiver: TestClient, engine: Engine) -> None:
    deliver(receiver, "evt_full", "payment", "refunded", T0 + 10, amount_refunded=50000, refund_status="full")
    # A stale refund.failed snapshot (older than the refund) changes nothing.
    refund_failed(receiver, "evt_stale", T0 + 5, status="captured", amount_refunded=0)
    assert (stored(engine, "payment").status, stored(engine, "payment").amount_refunded) == (
        "refunded",
        50000,
    )
    # A newer one returns the amount: refunded goes back to captured (the only way back).
    refund_failed(receiver, "evt_failed", T0 + 20, status="captured", amount_refunded=0)
    row = stored(engine, "payment")
    assert (row.status, row.amount_refunded) == ("captured", 0)
    # Any other event type with an un-refunded snapshot cannot do that.
    deliver(
        receiver, "evt_again", "payment", "refunded", T0 + 30, amount_refunded=50000, refund_status="full"
    )
    deliver(receiver, "evt_cap", "payment", "captured", T0 + 40, amount_refunded=0)
    assert stored(engine, "payment").status == "refunded"


def test_same_second_snapshots_are_ordered_by_rank_then_refunded_amount(
    receiver: TestClient, engine: Engine
) -> None:
    # Razorpay's created_at has one-second resolution: auto-capture puts both events in one second.
    deliver(receiver, "evt_c", "payment", "captured", T0)
    deliver(receiver, "evt_a", "payment", "authorized", T0)
    assert stored(engine, "payment").status == "captured"
    deliver(receiver, "evt_p2", "payment", "captured", T0 + 5, amount_refunded=20000)
    deliver(receiver, "evt_p1", "payment", "captured", T0 + 5, amount_refunded=10000)
    assert stored(engine, "payment").amount_refunded == 20000


def test_webhook_older_than_the_api_row_does_not_overwrite_it(receiver: TestClient, engine: Engine) -> None:
    fetched_at = datetime.fromtimestamp(T0 + 100, UTC)
    api_row = normalise_payment(payment(status="captured", fee=1234), state_at=fetched_at, source="api")
    with engine.begin() as conn:
        upsert(conn, Payment, [api_row])
    deliver(receiver, "evt_old", "payment", "captured", T0 + 50, fee=999)
    row = stored(engine, "payment")
    assert (row.source, row.fee, row.state_at) == ("api", 1234, fetched_at)
    deliver(receiver, "evt_newer", "payment", "refunded", T0 + 150, amount_refunded=50000)
    row = stored(engine, "payment")
    assert (row.source, row.status) == ("webhook", "refunded")


def test_two_snapshots_of_one_payment_in_one_batch(engine: Engine) -> None:
    # The writer batches; inside a batch the older-after-newer pair must still lose.
    from sync.webhooks.intake import Delivery
    from sync.webhooks.store import write_items

    def delivery(event_id: str, status: str, at: int) -> Delivery:
        return Delivery(
            event_id=event_id,
            event_type=EVENT_OF[("payment", status)],
            account_id=None,
            created_at=datetime.fromtimestamp(at, UTC),
            received_at=datetime.now(UTC),
            payload=envelope(EVENT_OF[("payment", status)], at, payment=payment(status=status)),
        )

    with engine.begin() as conn:
        results = write_items(
            conn,
            [
                delivery("e1", "captured", T0 + 10),
                delivery("e2", "authorized", T0 + 5),
                delivery("e1", "captured", T0),
            ],
        )
    assert [r.outcome for r in results] == ["stored", "stored", "duplicate"]
    row = stored(engine, "payment")
    assert (row.status, row.state_at) == ("captured", datetime.fromtimestamp(T0 + 10, UTC))
