"""The one bulk upsert: idempotent, updates in place, honours a forward-only condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import data.upsert
from data.db import make_engine
from data.models import Payment, WebhookEvent
from data.upsert import insert_values, upsert
from tests.support.databases import MigratedDatabase, drop_database

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


def _stored_payments(engine: Engine) -> list[tuple[object, ...]]:
    # The values exactly as the driver hands them back (no result processing), without the write time.
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SELECT * FROM payments ORDER BY id")
        stamp = list(result.keys()).index("updated_at")
        rows = result.all()
    return [tuple(v for i, v in enumerate(row) if i != stamp) for row in rows]


def test_fast_path_stores_what_sqlalchemy_stores(
    backend: str, tmp_path: Path, migrated_database: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver-executemany fast path (SQLite's `?` tuples, psycopg's named dicts) writes the same
    values as SQLAlchemy's own executemany, for the sync's change rule and the webhook's forward-only
    rules (whose IN lists take the slow path)."""
    from sync.pull import _changed
    from sync.webhooks.apply import forward_only, refund_reversal

    def writes(engine: Engine) -> None:
        steps = [
            ([_payment(f"pay_{i:04d}", "authorized", T0) for i in range(300)], _changed),
            (
                [_payment(f"pay_{i:04d}", "captured", T0 + timedelta(minutes=1)) for i in range(0, 300, 2)],
                forward_only("payment"),
            ),
            (
                [_payment(f"pay_{i:04d}", "authorized", T0 + timedelta(minutes=2)) for i in range(50)],
                forward_only("payment"),
            ),
            ([_payment(f"pay_{i:04d}", "refunded", T0 + timedelta(minutes=3)) for i in range(10)], None),
            (
                [_payment(f"pay_{i:04d}", "captured", T0 + timedelta(minutes=4)) for i in range(5)],
                refund_reversal(),
            ),
        ]
        for rows, rule in steps:
            for row in rows:
                row["fee"], row["tax"] = 1180, 180
                row["created_at"] = T0 + timedelta(microseconds=123_456)
                row["raw"] = {"id": row["id"], "status": row["status"], "notes": {"country": "IN"}}
            with engine.begin() as conn:
                upsert(conn, Payment, rows, only_if=rule)

    fast_url = migrated_database(backend, tmp_path)
    fast = make_engine(fast_url)
    writes(fast)
    monkeypatch.setattr(data.upsert, "_prepared", lambda *args: None)
    slow_url = migrated_database(backend, tmp_path)
    slow = make_engine(slow_url)
    writes(slow)

    stored = _stored_payments(fast)
    assert len(stored) == 300
    assert {row[4] for row in stored} == {"authorized", "captured", "refunded"}
    for mine, theirs in zip(stored, _stored_payments(slow), strict=True):
        assert mine == theirs, [(a, b) for a, b in zip(mine, theirs, strict=True) if a != b]
    fast.dispose()
    slow.dispose()
    drop_database(backend, fast_url)
    drop_database(backend, slow_url)


def _event(n: int, sha: str | None = None) -> dict[str, object]:
    return {
        "event_id": f"evt_{n:04d}",
        "event_type": "payment.captured",
        "known_type": True,
        "created_at": T0,
        "received_at": T0 + timedelta(seconds=n),
        "last_received_at": T0 + timedelta(seconds=n),
        "delivery_count": 1,
        "lag_ms": 1000 * n,
        "applied": True,
        "payload": {"n": n, "notes": []},
        "body_sha256": sha or f"sha_{n:04d}",
        "conflict_count": 0,
    }


def _returning_id(insert: Any) -> Any:
    return insert.on_conflict_do_nothing().returning(WebhookEvent.__table__.c.event_id)


@pytest.mark.parametrize("compiled_once", [True, False], ids=["repeated-group", "sqlalchemy"])
def test_insert_values_returns_only_the_new_rows_across_chunks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, compiled_once: bool
) -> None:
    if not compiled_once:  # SQLAlchemy's own multi-row insert must give the same answer
        monkeypatch.setattr(data.upsert, "_values_template", lambda *args: None)
    with engine.begin() as conn:
        insert_values(conn, WebhookEvent, [_event(1), _event(2)], finish=_returning_id)
    rows = [
        _event(1),  # stored before, by id
        _event(3),
        _event(4, sha="sha_0002"),  # another id, a stored body
        _event(5),
        _event(6, sha="sha_0005"),  # the same body as a row earlier in this statement
        _event(7),
        _event(8),
    ]
    with engine.begin() as conn:
        returned = insert_values(conn, WebhookEvent, rows, finish=_returning_id, chunk_rows=3)
    assert sorted(event_id for (event_id,) in returned) == ["evt_0003", "evt_0005", "evt_0007", "evt_0008"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(
                WebhookEvent.event_id, WebhookEvent.received_at, WebhookEvent.payload, WebhookEvent.lag_ms
            ).order_by(WebhookEvent.event_id)
        ).all()
    assert [row.event_id for row in stored] == [f"evt_{n:04d}" for n in (1, 2, 3, 5, 7, 8)]
    assert stored[2].received_at == T0 + timedelta(seconds=3)  # aware UTC, exact
    assert stored[2].payload == {"n": 3, "notes": []}
    assert stored[5].lag_ms == 8000
