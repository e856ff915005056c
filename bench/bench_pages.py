"""Render time of every dashboard page (an AppTest run, signed in as admin) on a database of N payments,
with a cold cache (st.cache_data cleared) and a warm one (the same run again). Prints a Markdown table.

    .venv/bin/python -m bench.bench_pages --payments 1000000

Targets (issue 6): ≤ 1.5 s cold, ≤ 0.3 s warm. The database is built once under /tmp and reused.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, help=__doc__)

ROOT = Path(__file__).resolve().parents[1]
DATABASE_OPTION = typer.Option(Path("/tmp/payops-bench-pages.db"), help="SQLite file (reused if complete).")


def build_database(url: str, payments: int, days: int) -> None:
    """Payments (with orders, webhook events and settlement lines for the settled ones) over `days` IST days
    ending now, written in chunks through data.upsert, then rollups rebuilt and reconciliation run."""
    from analytics.reconcile import reconcile
    from analytics.rollups import rebuild_all
    from data.db import make_engine
    from data.migrate import upgrade
    from data.models import Payment, SettlementLine, WebhookEvent
    from data.upsert import upsert
    from tests.dashboard.seed import _payment

    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(11)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    step = timedelta(days=days) / payments
    chunk = 20_000
    began = time.perf_counter()
    for offset in range(0, payments, chunk):
        rows = [_payment(i, start + step * i, rng) for i in range(offset, min(offset + chunk, payments))]
        for row in rows:
            row["id"] = f"pay_b{int(row['id'][8:]):09d}"
            row["order_id"] = None
        events = [
            {
                "event_id": f"evt_{row['id']}",
                "event_type": "payment.failed" if row["status"] == "failed" else "payment.authorized",
                "known_type": True,
                "account_id": "acc_bench",
                "created_at": row["created_at"],
                "received_at": row["created_at"] + timedelta(milliseconds=300 + rng.randrange(3000)),
                "last_received_at": row["created_at"] + timedelta(milliseconds=300 + rng.randrange(3000)),
                "delivery_count": 1,
                "lag_ms": 300 + rng.randrange(3000),
                "payment_id": row["id"],
                "order_id": None,
                "refund_id": None,
                "settlement_id": None,
                "entity_status": row["status"],
                "applied": True,
                "apply_error": None,
                "payload": {},
            }
            for row in rows
        ]
        settled_before = now - timedelta(days=4)
        lines = [
            {
                "entity_id": row["id"],
                "type": "payment",
                "payment_id": row["id"],
                "amount": row["amount"],
                "fee": row["fee"],
                "tax": row["tax"],
                "debit": 0,
                "credit": row["amount"] - row["fee"],
                "currency": row["currency"],
                "on_hold": False,
                "settled": True,
                "settlement_id": f"setl_b{row['created_at']:%Y%m%d}",
                "settlement_utr": None,
                "settled_at": row["created_at"] + timedelta(days=2),
                "order_id": None,
                "method": row["method"],
                "card_network": row["card_network"],
                "created_at": row["created_at"],
                "source": "api",
                "raw": {},
            }
            for row in rows
            if row["status"] == "captured" and row["created_at"] < settled_before
        ]
        with engine.begin() as conn:
            upsert(conn, Payment, rows)
            upsert(conn, WebhookEvent, events)
            upsert(conn, SettlementLine, lines)
        done = min(offset + chunk, payments)
        if done % 100_000 == 0 or done == payments:
            print(f"  wrote {done:,} payments ({time.perf_counter() - began:.0f} s)", flush=True)
    with engine.begin() as conn:
        rebuild_all(conn)
    print(f"  rollups rebuilt ({time.perf_counter() - began:.0f} s)", flush=True)
    reconcile(engine)
    print(f"  reconciled ({time.perf_counter() - began:.0f} s)", flush=True)
    engine.dispose()


def refresh_schema(url: str) -> None:
    """A reused database gets newer migrations; new rollup tables are then filled from its payments."""
    from analytics.reconcile import reconcile
    from analytics.rollups import rebuild_all
    from data.db import make_engine
    from data.migrate import current_revision, upgrade

    engine = make_engine(url)
    before = current_revision(engine)
    upgrade(engine)
    if current_revision(engine) != before:
        print(f"schema {before} → {current_revision(engine)}: rebuilding rollups …", flush=True)
        with engine.begin() as conn:
            rebuild_all(conn)
        reconcile(engine)
    engine.dispose()


def schema_complete(url: str) -> bool:
    """Every table of data/models.py exists (a migration edited in place leaves an old file behind)."""
    from sqlalchemy import inspect

    from data.db import make_engine
    from data.models import Base

    engine = make_engine(url)
    try:
        return set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def payment_count(url: str) -> int:
    from sqlalchemy import func, select

    from data.db import make_engine
    from data.models import Payment

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Payment)).scalar_one())
    except Exception:
        return 0
    finally:
        engine.dispose()


@app.command()
def main(
    payments: int = typer.Option(1_000_000, help="Payments in the benchmark database."),
    days: int = typer.Option(30, help="Days of history they cover."),
    database: Path = DATABASE_OPTION,
    repeats: int = typer.Option(3, help="Cold and warm runs per page; the median is reported."),
) -> None:
    """Build (or reuse) the database, then time each page cold and warm."""
    url = f"sqlite:///{database}"
    if payment_count(url) != payments or not schema_complete(url):
        database.unlink(missing_ok=True)
        print(f"building {payments:,} payments in {database} …", flush=True)
        build_database(url, payments, days)
    else:
        refresh_schema(url)
    os.environ["DATABASE_URL"] = url

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import SESSION_KEY, SignedInUser
    from dashboard.roles import PAGES, Role
    from data.settings import get_settings

    get_settings.cache_clear()
    results: list[tuple[str, float, float]] = []
    for key, spec in PAGES.items():
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(repeats):
            at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
            at.session_state[SESSION_KEY] = SignedInUser(name="bench", role=Role.ADMIN, method="password")
            at.query_params["period"] = "last_7_days"
            if key == "payments":
                at.query_params["q"] = "pay_b000000123"
            at.run()
            if key != "overview":
                at.switch_page(f"../pages/{key}.py")
            st.cache_data.clear()
            began = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - began)
            assert not at.exception, [e.value for e in at.exception]
            began = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - began)
        results.append((spec.title, statistics.median(cold), statistics.median(warm)))

    print(f"\n{payments:,} payments over {days} days, SQLite, AppTest render as admin, filter 'Last 7 days'")
    print(f"median of {repeats} runs; cold = st.cache_data cleared first; warm = the same run again\n")
    print("| page | cold (s) | warm (s) | target cold ≤ 1.5 s | target warm ≤ 0.3 s |")
    print("|---|---:|---:|---|---|")
    for title, cold_s, warm_s in results:
        ok_cold = "yes" if cold_s <= 1.5 else "NO"
        ok_warm = "yes" if warm_s <= 0.3 else "NO"
        print(f"| {title} | {cold_s:.2f} | {warm_s:.2f} | {ok_cold} | {ok_warm} |")


if __name__ == "__main__":
    app()
