"""The receiver over HTTP (in-process): verification, rejections, idempotency, rotation, metrics, health."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import Payment, PaymentRollupHourly, Quarantine, WebhookEvent, WebhookRejection
from sync.webhooks.app import create_app
from sync.webhooks.intake import MAX_BODY_BYTES, sign
from tests.sync.webhooks.events import OLD_SECRET, SECRET, T0, envelope, order, payment, post, refund


def events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookEvent).order_by(WebhookEvent.event_id)).all())


def rejections(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookRejection).order_by(WebhookRejection.id)).all())


def metric(client: TestClient, line_prefix: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_valid_event_is_stored_with_its_timing_and_ids_and_applied(
    receiver: TestClient, engine: Engine
) -> None:
    body = envelope("order.paid", T0, payment=payment(), order=order())
    response = post(receiver, body, event_id="evt_A")
    assert response.status_code == 200
    assert response.json() == {"status": "stored", "event_id": "evt_A", "applied": True}

    [event] = events(engine)
    assert (event.event_type, event.known_type, event.account_id) == ("order.paid", True, "acc_Test")
    assert event.created_at.timestamp() == T0
    assert event.received_at == event.last_received_at
    assert event.lag_ms == int((event.received_at.timestamp() - T0) * 1000)
    assert (event.payment_id, event.order_id, event.refund_id, event.settlement_id) == (
        "pay_W1",
        "order_W1",
        None,
        None,
    )
    assert event.entity_status == "paid"
    assert (event.delivery_count, event.applied, event.apply_error) == (1, True, None)
    # The stored payload keeps the UPI app, not the person's full VPA.
    assert event.payload["payload"]["payment"]["entity"]["vpa"] == "***@okhdfcbank"
    with engine.connect() as conn:
        row = conn.execute(select(Payment)).one()
    assert (row.id, row.status, row.source, row.upi_app) == ("pay_W1", "captured", "webhook", "okhdfcbank")
    assert row.state_at.timestamp() == T0
    assert rejections(engine) == []


def test_duplicate_gets_200_and_only_raises_the_delivery_count(receiver: TestClient, engine: Engine) -> None:
    body = envelope("payment.captured", T0, payment=payment())
    assert post(receiver, body, event_id="evt_D").status_code == 200
    [first] = events(engine)
    for _ in range(2):
        response = post(receiver, body, event_id="evt_D")
        assert response.status_code == 200
        assert response.json() == {"status": "duplicate", "event_id": "evt_D"}
    # The same signed body under a new event id is the same event again, not a second one.
    replayed = post(receiver, body, event_id="evt_D_replayed")
    assert replayed.json() == {"status": "duplicate", "event_id": "evt_D"}

    [event] = events(engine)
    assert event.delivery_count == 4
    assert event.body_sha256 == hashlib.sha256(orjson.dumps(body)).hexdigest()
    assert event.last_received_at > first.last_received_at
    assert (event.received_at, event.created_at, event.payload) == (
        first.received_at,
        first.created_at,
        first.payload,
    )
    assert metric(receiver, 'payops_webhook_events_duplicate_total{event_type="payment.captured"}') == 3
    assert metric(receiver, 'payops_webhook_events_accepted_total{event_type="payment.captured"}') == 1


def test_same_event_id_with_another_signed_body_is_kept_as_a_conflict(
    receiver: TestClient, engine: Engine
) -> None:
    body = envelope("payment.captured", T0, payment=payment())
    assert post(receiver, body, event_id="evt_C").status_code == 200
    changed = envelope("payment.captured", T0 + 5, payment=payment(amount=1))
    for _ in range(2):
        response = post(receiver, changed, event_id="evt_C")
        assert response.status_code == 200
        assert response.json() == {"status": "conflict", "event_id": "evt_C"}

    [event] = events(engine)
    # The first body stands and is what was applied; the other is kept on the event, counted.
    assert (event.delivery_count, event.conflict_count) == (1, 2)
    assert event.conflict_sha256 == hashlib.sha256(orjson.dumps(changed)).hexdigest()
    assert event.conflict_payload is not None
    assert event.conflict_payload["payload"]["payment"]["entity"]["amount"] == 1
    assert event.last_conflict_at is not None
    with engine.connect() as conn:
        assert conn.execute(select(Payment.amount)).scalar_one() == 50000
    assert metric(receiver, 'payops_webhook_event_conflicts_total{event_type="payment.captured"}') == 2


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no_signature", "missing_signature"),
        ("wrong_secret", "bad_signature"),
        ("garbled_signature", "bad_signature"),
        ("not_json", "malformed_json"),
    ],
)
def test_each_bad_delivery_is_a_400_recorded_with_its_reason(
    receiver: TestClient, engine: Engine, case: str, reason: str
) -> None:
    good = orjson.dumps(envelope("payment.captured", T0, payment=payment()))
    body, secret, signature, event_id = {
        "no_signature": (good, None, None, "evt_R"),
        "wrong_secret": (good, "not_the_secret", None, "evt_R"),
        "garbled_signature": (good, None, "zz-not-hex", "evt_R"),
        "not_json": (b'{"event": "payment.captured",', SECRET, None, "evt_R"),
    }[case]
    response = post(receiver, body, event_id=event_id, secret=secret, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"] == reason
    assert events(engine) == []
    [rejection] = rejections(engine)
    assert rejection.reason == reason
    assert rejection.event_id == event_id
    assert rejection.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rejection.body_size == len(body)
    assert rejection.source_address == "testclient"
    assert rejection.received_at is not None and rejection.received_at.tzinfo is not None
    assert (
        metric(
            receiver, f'payops_webhook_events_rejected_total{{event_type="{_label(body)}",reason="{reason}"}}'
        )
        == 1
    )


def _label(body: bytes) -> str:
    try:
        claimed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "other"
    return (
        "payment.captured"
        if isinstance(claimed, dict) and claimed.get("event") == "payment.captured"
        else "other"
    )


def test_body_over_1_mib_is_413_and_recorded(receiver: TestClient, engine: Engine) -> None:
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"
    response = post(receiver, body, event_id="evt_big")
    assert response.status_code == 413
    [rejection] = rejections(engine)
    assert (rejection.reason, rejection.event_id, rejection.body_size) == ("too_large", "evt_big", len(body))
    assert events(engine) == []
    # Exactly at the limit is fine: validly signed JSON, stored even though it is no envelope.
    exact = b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]"
    assert post(receiver, exact, event_id="evt_edge").status_code == 200
    assert [r.reason for r in rejections(engine)] == ["too_large"]
    [event] = events(engine)
    assert event.event_id == "evt_edge" and "not an object" in (event.interpretation or "")


def test_unknown_event_type_is_stored_flagged_and_not_applied(receiver: TestClient, engine: Engine) -> None:
    body = envelope("invoice.paid", T0, payment=payment(), invoice={"id": "inv_1"})
    response = post(receiver, body, event_id="evt_U")
    assert response.status_code == 200
    [event] = events(engine)
    assert (event.event_type, event.known_type, event.applied, event.payment_id) == (
        "invoice.paid",
        False,
        False,
        "pay_W1",
    )
    with engine.connect() as conn:
        assert conn.execute(select(Payment)).all() == []
    assert metric(receiver, 'payops_webhook_events_accepted_total{event_type="other"}') == 1


def test_rotation_accepts_old_and_new_secret_and_rejects_an_unknown_one(
    database_url: str, engine: Engine
) -> None:
    with TestClient(create_app(database_url, [SECRET, OLD_SECRET])) as client:

        def body(n: int) -> dict[str, Any]:
            return envelope("payment.captured", T0 + n, payment=payment())

        assert post(client, body(1), event_id="evt_new", secret=SECRET).status_code == 200
        assert post(client, body(2), event_id="evt_old", secret=OLD_SECRET).status_code == 200
        assert post(client, body(3), event_id="evt_bad", secret="whsec_stranger").status_code == 400
    # Rotation finished: the old secret is dropped from the configuration and stops verifying.
    with TestClient(create_app(database_url, [SECRET])) as client:
        assert post(client, body(4), event_id="evt_old2", secret=OLD_SECRET).status_code == 400
        assert post(client, body(5), event_id="evt_new2", secret=SECRET).status_code == 200
    assert [e.event_id for e in events(engine)] == ["evt_new", "evt_new2", "evt_old"]
    # Both from the test client's address within one minute: one row counting two, the first as sample.
    assert [(r.reason, r.delivery_count, r.event_id) for r in rejections(engine)] == [
        ("bad_signature", 2, "evt_bad")
    ]


def test_settings_secrets_are_used_and_split_on_commas(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data.settings import get_settings

    monkeypatch.setenv("RAZORPAY_WEBHOOK_SECRET", f"{SECRET}, {OLD_SECRET}")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(database_url)) as client:
            first = envelope("payment.captured", T0, payment=payment())
            second = envelope("payment.captured", T0 + 1, payment=payment())
            assert post(client, first, event_id="evt_1", secret=OLD_SECRET).status_code == 200
            assert post(client, second, event_id="evt_2", secret=SECRET).status_code == 200
    finally:
        get_settings.cache_clear()
    assert len(events(engine)) == 2


def test_no_secret_configured_refuses_to_build(database_url: str) -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        create_app(database_url, [])


def test_unnormalisable_record_keeps_the_event_and_quarantines_the_record(
    receiver: TestClient, engine: Engine
) -> None:
    broken = payment(amount="fifty")  # an amount that is no integer cannot be stored
    body = envelope("refund.processed", T0, refund=refund(), payment=broken)
    response = post(receiver, body, event_id="evt_Q")
    assert response.status_code == 200
    assert response.json()["applied"] is False
    [event] = events(engine)
    assert event.applied is False
    assert event.apply_error is not None and "payment: amount" in event.apply_error
    with engine.connect() as conn:
        [quarantined] = conn.execute(select(Quarantine)).all()
        refund_status = conn.execute(select(Payment.status)).all()
    assert (quarantined.entity, quarantined.entity_id, quarantined.source) == ("payment", "pay_W1", "webhook")
    assert "amount" in quarantined.reason
    assert refund_status == []  # the payment was not written; the refund was
    assert metric(receiver, 'payops_webhook_apply_errors_total{event_type="refund.processed"}') == 1


def test_value_wider_than_its_column_keeps_the_event_with_the_error(
    receiver: TestClient, engine: Engine
) -> None:
    # Wider than payments.id: PostgreSQL would refuse it and SQLite keep it, so the normaliser refuses
    # it first and both databases behave the same.
    long_id = "pay_" + "x" * 60
    body = envelope("payment.captured", T0, payment=payment(pid=long_id))
    response = post(receiver, body, event_id="evt_long")
    assert response.status_code == 200
    [event] = events(engine)
    assert event.event_id == "evt_long"
    assert event.applied is False
    assert event.apply_error == "payment: id longer than 40 characters"


def test_value_the_database_refuses_keeps_the_event_with_the_error(
    receiver: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row the normaliser let through but the database refuses (an amount past BigInteger: SQLite
    # raises OverflowError, which is no SQLAlchemy error): the event is stored with the reason, not 5xx'd.
    from sync import normalise

    real = normalise.normalise_payment

    def lax(api: Any, **kwargs: Any) -> dict[str, Any]:
        return {**real(api, **kwargs), "amount": 2**63}

    monkeypatch.setattr(normalise, "normalise_payment", lax)
    response = post(receiver, envelope("payment.captured", T0, payment=payment()), event_id="evt_refused")
    assert response.status_code == 200, response.text
    [event] = events(engine)
    assert event.applied is False
    assert event.apply_error is not None and event.apply_error.startswith("database refused")
    with engine.connect() as conn:
        assert conn.execute(select(Payment)).all() == []


def test_healthz_reports_the_database(receiver: TestClient, tmp_path: Any) -> None:
    assert receiver.get("/healthz").json() == {"status": "ok", "database": "reachable"}
    # A database without the schema (no `python -m data upgrade`) is not healthy either.
    with TestClient(create_app(f"sqlite:///{tmp_path}/unmigrated.db", [SECRET])) as broken:
        response = broken.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


def test_metrics_are_prometheus_text_per_app(database_url: str) -> None:
    first = create_app(database_url, [SECRET])
    second = create_app(database_url, [SECRET])
    with TestClient(first) as one, TestClient(second) as two:
        body = envelope("payment.failed", T0, payment=payment(status="failed"))
        post(one, body, event_id="evt_m1")
        text = one.get("/metrics")
        assert text.headers["content-type"].startswith("text/plain")
        assert metric(one, 'payops_webhook_events_accepted_total{event_type="payment.failed"}') == 1
        assert metric(one, 'payops_webhook_processing_seconds_count{outcome="stored"}') == 1
        assert metric(two, 'payops_webhook_events_accepted_total{event_type="payment.failed"}') == 0


def test_signature_is_over_the_raw_bytes(receiver: TestClient, engine: Engine) -> None:
    # Re-serialising the JSON (other spacing) would change the HMAC: the raw bytes are what count.
    raw = (
        b'{"entity":"event", "event":"payment.failed","payload":{"payment":{"entity":'
        + orjson.dumps(payment(status="failed"))
        + b'}},"created_at":'
        + str(T0).encode()
        + b"}"
    )
    assert post(receiver, raw, event_id="evt_raw", signature=sign(raw, SECRET)).status_code == 200
    respaced = orjson.dumps(orjson.loads(raw))
    assert post(receiver, respaced, event_id="evt_raw2", signature=sign(raw, SECRET)).status_code == 400


def test_only_post_is_accepted_on_the_webhook_path(receiver: TestClient, engine: Engine) -> None:
    response = receiver.get("/webhooks/razorpay")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert events(engine) == [] and rejections(engine) == []


def _rollup(engine: Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        return [
            (row.attempts, row.successes)
            for row in conn.execute(select(PaymentRollupHourly).where(PaymentRollupHourly.dimension == "all"))
        ]


@pytest.mark.parametrize("interval", [0.0, 60.0])
def test_payment_rollups_are_refreshed_for_the_hours_written(
    database_url: str, engine: Engine, interval: float
) -> None:
    # 0: in the write transaction itself; 60: coalesced, so the refresh happens on shutdown at the latest.
    with TestClient(create_app(database_url, [SECRET], rollup_interval=interval)) as client:
        post(
            client,
            envelope("payment.failed", T0, payment=payment(pid="pay_R1", status="failed")),
            event_id="e1",
        )
        post(client, envelope("payment.captured", T0, payment=payment(pid="pay_R2")), event_id="e2")
        if interval == 0.0:
            assert sum(a for a, _ in _rollup(engine)) == 2
    assert sum(a for a, _ in _rollup(engine)) == 2
    assert sum(s for _, s in _rollup(engine)) == 1


def test_a_failing_rollup_refresh_does_not_cost_the_event(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import data.rollups

    def broken(_conn: Any, _hours: Any) -> None:
        raise RuntimeError("rollup bug")

    monkeypatch.setattr(data.rollups, "refresh_payment_hours", broken)
    with TestClient(create_app(database_url, [SECRET], rollup_interval=0)) as client:
        response = post(client, envelope("payment.captured", T0, payment=payment()), event_id="evt_keep")
    assert response.status_code == 200
    assert [e.event_id for e in events(engine)] == ["evt_keep"]
    with engine.connect() as conn:
        assert conn.execute(select(Payment.status)).scalar_one() == "captured"
