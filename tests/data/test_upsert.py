"""The one bulk upsert: idempotent, updates in place, honours a forward-only condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from data.models import Payment
from data.upsert import upsert

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _payment(pid: str, status: str, state_at: datetime, amount: int = 50_000) -> dict[str, object]:
    return {
        "id": pid,
        "order_id": None,
        "amount": amount,
        "currency": "INR",
        "status": status,
        "method": "upi",
        "international": False,
        "captured": status == "captured",
        "amount_refunded": 0,
        "created_at": T0,
        "state_at": state_at,
        "source": "api",
        "country_source": "domestic_method",
        "raw": {"id": pid, "status": status, "notes": []},
    }


def test_upsert_twice_leaves_one_row_each(engine: Engine) -> None:
    rows = [_payment(f"pay_{i:06d}", "captured", T0) for i in range(2500)]
    with engine.begin() as conn:
        assert upsert(conn, Payment, rows) == 2500
    with engine.begin() as conn:
        upsert(conn, Payment, rows)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Payment)) == 2500
        assert conn.scalar(select(func.sum(Payment.amount))) == 2500 * 50_000


def test_upsert_updates_changed_columns_and_keeps_aware_utc(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, Payment, [_payment("pay_a", "authorized", T0)])
        upsert(conn, Payment, [_payment("pay_a", "captured", T0 + timedelta(minutes=5), amount=50_001)])
    with engine.connect() as conn:
        row = conn.execute(select(Payment.status, Payment.amount, Payment.state_at, Payment.raw)).one()
    assert row.status == "captured"
    assert row.amount == 50_001
    assert row.state_at == T0 + timedelta(minutes=5)
    assert row.state_at.tzinfo is not None
    assert row.raw == {"id": "pay_a", "status": "captured", "notes": []}


def test_upsert_only_if_keeps_newer_state(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, Payment, [_payment("pay_b", "captured", T0 + timedelta(hours=1))])
        upsert(
            conn,
            Payment,
            [_payment("pay_b", "authorized", T0)],
            only_if=lambda table, excluded: table.c.state_at < excluded.state_at,
        )
        upsert(
            conn,
            Payment,
            [_payment("pay_c", "authorized", T0)],
            only_if=lambda table, excluded: table.c.state_at < excluded.state_at,
        )
    with engine.connect() as conn:
        statuses = {pid: status for pid, status in conn.execute(select(Payment.id, Payment.status))}
    assert statuses == {"pay_b": "captured", "pay_c": "authorized"}
