"""The personal-data purge: after N days a payment keeps amounts, ids, statuses and rollups, and loses
email, phone, notes and names, in typed columns, raw JSON and webhook payloads; audited, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from data.__main__ import app as data_cli
from data.models import AuditLog, Payment, PaymentRollupHourly, WebhookEvent, WebhookRejection
from data.retention import PURGE_ACTION, REJECTIONS_ACTION, purge_old_rejections, purge_personal_data
from sync.webhooks.app import create_app
from tests.sync.webhooks.events import SECRET, T0, envelope, payment, post

OLD_CREATED = T0 - 300 * 86400
PURGE_AT = datetime.fromtimestamp(T0, UTC) + timedelta(days=10)
PERSONAL = ("someone@example.com", "+919876543210", "Asha Rao", "Flat 4")


def _seed(database_url: str) -> None:
    with TestClient(create_app(database_url, [SECRET], rollup_interval=0)) as client:
        for pid, created in (("pay_OLD", OLD_CREATED), ("pay_NEW", T0 - 600)):
            snapshot = payment(
                pid=pid,
                created_at=created,
                notes={"name": "Asha Rao", "address": "Flat 4"},
                card={"network": "Visa", "last4": "1111", "name": "Asha Rao", "type": "credit"},
                method="card",
            )
            assert (
                post(
                    client, envelope("payment.captured", T0, payment=snapshot), event_id=f"evt_{pid}"
                ).status_code
                == 200
            )


def _state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        payments = {row.id: row for row in conn.execute(select(Payment)).all()}
        rollups = sorted(tuple(row) for row in conn.execute(select(PaymentRollupHourly.__table__)).all())
        events = {row.event_id: row.payload for row in conn.execute(select(WebhookEvent)).all()}
    return {"payments": payments, "rollups": rollups, "events": events}


def _holds_personal(document: Any) -> bool:
    text = orjson.dumps(document).decode()
    return any(value in text for value in PERSONAL)


def test_purge_keeps_amounts_ids_and_rollups_and_drops_the_person(database_url: str, engine: Engine) -> None:
    _seed(database_url)
    before = _state(engine)
    result = purge_personal_data(engine, older_than=timedelta(days=180), now=PURGE_AT)
    assert (result.payments, result.orders, result.webhook_events) == (1, 0, 0)
    after = _state(engine)

    old, new = after["payments"]["pay_OLD"], after["payments"]["pay_NEW"]
    assert (old.email, old.contact) == (None, None)
    assert not _holds_personal(old.raw)
    assert old.raw["card"] == {"network": "Visa", "last4": "1111", "type": "credit"}
    kept = ("amount", "currency", "status", "fee", "tax", "method", "country", "card_network", "card_last4")
    assert {c: getattr(old, c) for c in kept} == {c: getattr(before["payments"]["pay_OLD"], c) for c in kept}
    assert old.raw["amount"] == 50000 and old.raw["id"] == "pay_OLD"
    # Newer than the retention: untouched.
    assert (new.email, new.contact) == ("someone@example.com", "+919876543210")
    assert new.raw == before["payments"]["pay_NEW"].raw
    assert after["rollups"] == before["rollups"] and after["rollups"]
    assert after["events"] == before["events"]  # received inside the retention

    again = purge_personal_data(engine, older_than=timedelta(days=180), now=PURGE_AT)
    assert (again.payments, again.orders, again.webhook_events) == (0, 0, 0)
    assert _state(engine)["payments"]["pay_OLD"].raw == old.raw

    # Later, the events themselves are past the retention too.
    later = purge_personal_data(engine, older_than=timedelta(days=180), now=PURGE_AT + timedelta(days=400))
    assert (later.payments, later.webhook_events) == (1, 2)
    final = _state(engine)
    assert not any(_holds_personal(payload) for payload in final["events"].values())
    assert final["events"]["evt_pay_OLD"]["payload"]["payment"]["entity"]["amount"] == 50000

    with engine.connect() as conn:
        audits = conn.execute(
            select(AuditLog).where(AuditLog.action == PURGE_ACTION).order_by(AuditLog.id)
        ).all()
    assert [(a.detail["payments"], a.detail["webhook_events"]) for a in audits] == [(1, 0), (0, 0), (1, 2)]


def test_purge_pii_command(database_url: str, engine: Engine) -> None:
    _seed(database_url)
    result = CliRunner().invoke(
        data_cli, ["purge-pii", "--older-than", "180d", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "1 payments" in result.output  # pay_OLD is 300+ days old on the pinned clock
    bad = CliRunner().invoke(data_cli, ["purge-pii", "--older-than", "soon", "--database-url", database_url])
    assert bad.exit_code == 2 and "whole days" in bad.output


def test_old_rejections_are_deleted_and_the_purge_audited(engine: Engine) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    rows = [
        {
            "received_at": now - timedelta(days=age),
            "reason": "bad_signature",
            "body_sha256": "0" * 64,
            "body_size": 10,
            "source_address": "203.0.113.9",
        }
        for age in (1, 29, 31, 400)
    ]
    with engine.begin() as conn:
        conn.execute(insert(WebhookRejection), rows)
    assert purge_old_rejections(engine, older_than=timedelta(days=30), now=now) == 2
    assert purge_old_rejections(engine, older_than=timedelta(days=30), now=now) == 0
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(WebhookRejection.received_at)).scalars())
        audits = (
            conn.execute(select(AuditLog.detail).where(AuditLog.action == REJECTIONS_ACTION)).scalars().all()
        )
    assert [now - at.replace(tzinfo=UTC) for at in kept] == [timedelta(days=29), timedelta(days=1)]
    assert [a["deleted"] for a in audits] == [2, 0]
