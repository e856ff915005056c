"""Benchmark: the Overview queries from rollups vs the naive way (pandas reads raw payments, then groupby),
rollup maintenance, and a full reconciliation — on a synthetic but realistic data set loaded directly.

    .venv/bin/python -m bench.bench_analytics --payments 1000000 --backend sqlite
    .venv/bin/python -m bench.bench_analytics --payments 1000000 --backend postgresql
    .venv/bin/python -m bench.bench_analytics --payments 10000000 --backend sqlite --no-reconcile --naive-repeat 1

Prints figures (medians) and a markdown row for docs/benchmarks.md. Never run by pytest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, column, delete, func, insert, select, table, text

from analytics import success
from analytics.filters import Filters
from analytics.reconcile import reconcile
from data import rollups
from data.db import make_engine
from data.ist import IST
from data.migrate import upgrade
from data.models import Mismatch, MismatchEvent, PaymentRollupHourly
from tests.support.databases import drop_pg_database, new_database_url

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
CHUNK = 50_000

METHODS = np.array(["upi", "card", "netbanking", "wallet", "emi", "paylater"])
METHOD_P = [0.55, 0.25, 0.10, 0.07, 0.02, 0.01]
SUCCESS_P = {"upi": 0.78, "card": 0.70, "netbanking": 0.74, "wallet": 0.85, "emi": 0.66, "paylater": 0.80}
COUNTRIES = np.array(["IN", "US", "GB", "AE", "SG", None], dtype=object)
COUNTRY_P = [0.93, 0.025, 0.015, 0.012, 0.008, 0.01]
CURRENCY_OF = {"IN": "INR", "US": "USD", "GB": "GBP", "AE": "AED", "SG": "SGD", None: "INR"}
BANKS = np.array(["HDFC", "ICIC", "SBIN", "UTIB", "KKBK"])
WALLETS = np.array(["paytm", "phonepe", "amazonpay", "mobikwik"])
NETWORKS = np.array(["Visa", "MasterCard", "RuPay", "American Express"])
CARD_TYPES = np.array(["debit", "credit", "prepaid"])
ISSUERS = np.array(["HDFC", "ICIC", "SBIN", "UTIB", "KKBK", "YESB"])
UPI_APPS = np.array(["okhdfcbank", "ybl", "okaxis", "paytm", "oksbi", "ibl"])
ERRORS = [
    ("customer", "payment_authentication", "authentication_failed"),
    ("customer", "payment_authorization", "insufficient_balance"),
    ("bank", "payment_authorization", "bank_technical_error"),
    ("customer", "payment_authentication", "payment_timed_out"),
    ("gateway", "payment_initiation", "gateway_technical_error"),
    ("customer", "payment_authorization", "payment_cancelled"),
]
ERROR_P = [0.3, 0.25, 0.15, 0.15, 0.05, 0.10]

# Lightweight tables (no type processing): timestamps go in pre-formatted for SQLite.
PAYMENT_COLUMNS = [
    "id",
    "order_id",
    "amount",
    "currency",
    "status",
    "method",
    "international",
    "captured",
    "amount_refunded",
    "fee",
    "tax",
    "bank",
    "wallet",
    "card_network",
    "card_type",
    "card_issuer",
    "upi_flow",
    "upi_app",
    "country",
    "country_source",
    "error_source",
    "error_step",
    "error_reason",
    "created_at",
    "state_at",
    "source",
    "raw",
    "updated_at",
]
ORDER_COLUMNS = [
    "id",
    "amount",
    "amount_paid",
    "amount_due",
    "currency",
    "status",
    "attempts",
    "created_at",
    "state_at",
    "source",
    "raw",
    "updated_at",
]
LINE_COLUMNS = [
    "entity_id",
    "type",
    "payment_id",
    "amount",
    "fee",
    "tax",
    "debit",
    "credit",
    "currency",
    "on_hold",
    "settled",
    "settlement_id",
    "created_at",
    "source",
    "raw",
    "updated_at",
]
SETTLEMENT_COLUMNS = [
    "id",
    "amount",
    "currency",
    "status",
    "fees",
    "tax",
    "created_at",
    "state_at",
    "source",
    "raw",
    "updated_at",
]
REFUND_COLUMNS = [
    "id",
    "payment_id",
    "amount",
    "currency",
    "status",
    "created_at",
    "state_at",
    "source",
    "raw",
    "updated_at",
]
EVENT_COLUMNS = [
    "event_id",
    "event_type",
    "known_type",
    "created_at",
    "received_at",
    "last_received_at",
    "delivery_count",
    "lag_ms",
    "payment_id",
    "refund_id",
    "entity_status",
    "applied",
    "payload",
]


def _light(name: str, columns: list[str]) -> Any:
    return table(name, *[column(c) for c in columns])


def _stamp(values: np.ndarray, sqlite: bool) -> list[Any]:
    """Epoch seconds → what the driver wants: SQLAlchemy's SQLite text format, or aware datetimes."""
    if sqlite:
        return [time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(int(v))) for v in values]
    return [datetime.fromtimestamp(int(v), UTC) for v in values]


def _insert(engine: Engine, name: str, columns: list[str], data: dict[str, Any], n: int) -> None:
    target = _light(name, columns)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            # The Core statement compiled for SQLite, fed tuples through the driver's executemany:
            # several times faster than dicts through SQLAlchemy for tens of millions of rows.
            statement = str(insert(target).compile(dialect=engine.dialect))
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            for start in range(0, n, CHUNK):
                stop = min(n, start + CHUNK)
                cursor.executemany(statement, zip(*[data[c][start:stop] for c in columns], strict=True))
            return
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            rows = [
                dict(zip(columns, values, strict=True))
                for values in zip(*[data[c][start:stop] for c in columns], strict=True)
            ]
            conn.execute(insert(target), rows)


def _maybe(mask: Any, values: Any) -> list[Any]:
    """values where mask holds, else None (NULL)."""
    return [value if keep else None for value, keep in zip(values.tolist(), mask.tolist(), strict=True)]


def _col(value: Any, n: int) -> list[Any]:
    return [value] * n


def generate(engine: Engine, payments: int, days: int, *, full: bool, seed: int = 5) -> None:
    """Payments (and, with full=True, orders, refunds, settlements, lines and webhook events)."""
    sqlite = engine.dialect.name == "sqlite"
    rng = np.random.default_rng(seed)
    end = int(NOW.timestamp())
    start = end - days * 86_400
    done = 0
    settlement_totals: dict[tuple[int, str], list[int]] = {}
    while done < payments:
        n = min(500_000, payments - done)
        created = np.sort(rng.integers(start, end, size=n))
        method = rng.choice(METHODS, size=n, p=METHOD_P)
        country = rng.choice(COUNTRIES, size=n, p=COUNTRY_P)
        country = np.where(np.isin(method, ["upi", "netbanking"]), "IN", country)
        currency = np.array([CURRENCY_OF[c] for c in country], dtype=object)
        amount = np.clip(np.exp(rng.normal(np.log(90_000), 1.0, size=n)).astype(np.int64), 100, 20_000_000)
        success_p = np.array([SUCCESS_P[m] for m in method])
        roll = rng.random(n)
        status = np.where(
            roll < 0.04, "created", np.where(roll < 0.04 + 0.96 * success_p, "captured", "failed")
        )
        recent = created > end - 2 * 86_400
        status = np.where((status == "captured") & recent & (rng.random(n) < 0.05), "authorized", status)
        status = np.where((status == "captured") & (rng.random(n) < 0.03), "refunded", status)
        # A few planted problems so every rule has work: stale authorisations.
        status = np.where((status == "captured") & ~recent & (rng.random(n) < 0.0005), "authorized", status)
        captured = np.isin(status, ["captured", "refunded"])
        fee_bp = np.where(method == "upi", 0, 200) + rng.integers(0, 30, size=n)
        fee_bp = np.where(captured & (rng.random(n) < 0.0005), 900, fee_bp)  # fee anomalies
        base_fee = amount * fee_bp // 10_000
        tax = (base_fee * 18 + 50) // 100
        fee = base_fee + tax
        failed = status == "failed"
        error_index = rng.choice(len(ERRORS), size=n, p=ERROR_P)
        ids = [f"pay_{done + i:014d}" for i in range(n)]
        order_ids = [f"order_{done + i:012d}" for i in range(n)]
        is_card = np.isin(method, ["card", "emi"])

        def pick(values: np.ndarray, size: int = n) -> np.ndarray:
            return values[rng.integers(0, len(values), size=size)]

        created_text = _stamp(created, sqlite)
        data: dict[str, Any] = {
            "id": ids,
            "order_id": order_ids,
            "amount": amount.tolist(),
            "currency": currency.tolist(),
            "status": status.tolist(),
            "method": method.tolist(),
            "international": (country != "IN").tolist(),
            "captured": captured.tolist(),
            "amount_refunded": np.where(status == "refunded", amount, 0).tolist(),
            "fee": [int(f) if c else None for f, c in zip(fee, captured, strict=True)],
            "tax": [int(t) if c else None for t, c in zip(tax, captured, strict=True)],
            "bank": _maybe(method == "netbanking", pick(BANKS)),
            "wallet": _maybe(method == "wallet", pick(WALLETS)),
            "card_network": _maybe(is_card, pick(NETWORKS)),
            "card_type": _maybe(is_card, pick(CARD_TYPES)),
            "card_issuer": _maybe(is_card, pick(ISSUERS)),
            "upi_flow": _maybe(method == "upi", np.where(rng.random(n) < 0.7, "collect", "intent")),
            "upi_app": _maybe(method == "upi", pick(UPI_APPS)),
            "country": country.tolist(),
            "country_source": np.where(country == None, "unknown", "phone").tolist(),  # noqa: E711
            "error_source": [ERRORS[e][0] if f else None for e, f in zip(error_index, failed, strict=True)],
            "error_step": [ERRORS[e][1] if f else None for e, f in zip(error_index, failed, strict=True)],
            "error_reason": [ERRORS[e][2] if f else None for e, f in zip(error_index, failed, strict=True)],
            "created_at": created_text,
            "state_at": created_text,
            "source": _col("api", n),
            "raw": _col("{}", n),
            "updated_at": created_text,
        }
        _insert(engine, "payments", PAYMENT_COLUMNS, data, n)
        if full:
            _generate_related(
                engine,
                rng,
                data,
                created,
                captured,
                amount,
                fee,
                tax,
                currency,
                status,
                sqlite,
                end,
                settlement_totals,
            )
        done += n
        print(f"  loaded {done:,} payments", file=sys.stderr)
    if full:
        _settlements(engine, settlement_totals, sqlite)


def _ist_day(epoch: np.ndarray) -> np.ndarray:
    return (epoch + 19_800) // 86_400


def _generate_related(
    engine: Engine,
    rng: np.random.Generator,
    data: dict[str, Any],
    created: np.ndarray,
    captured: np.ndarray,
    amount: np.ndarray,
    fee: np.ndarray,
    tax: np.ndarray,
    currency: np.ndarray,
    status: np.ndarray,
    sqlite: bool,
    end: int,
    settlement_totals: dict[tuple[int, str], list[int]],
) -> None:
    n = len(created)
    paid = captured
    orders = {
        "id": data["order_id"],
        "amount": data["amount"],
        "amount_paid": np.where(paid, amount, 0).tolist(),
        "amount_due": np.where(paid, 0, amount).tolist(),
        "currency": data["currency"],
        "status": np.where(paid, "paid", np.where(status == "created", "created", "attempted")).tolist(),
        "attempts": _col(1, n),
        "created_at": data["created_at"],
        "state_at": data["created_at"],
        "source": _col("api", n),
        "raw": _col("{}", n),
        "updated_at": data["created_at"],
    }
    _insert(engine, "orders", ORDER_COLUMNS, orders, n)

    # Settlement lines: T+2 (calendar, simplified) for captures older than 2 days, minus a few.
    settle_day = _ist_day(created) + 2
    settled = captured & (created < end - 3 * 86_400) & (rng.random(n) > 0.0005)
    index = np.flatnonzero(settled)
    lines = {
        "entity_id": [data["id"][i] for i in index],
        "type": _col("payment", len(index)),
        "payment_id": [data["id"][i] for i in index],
        "amount": amount[index].tolist(),
        "fee": fee[index].tolist(),
        "tax": tax[index].tolist(),
        "debit": _col(0, len(index)),
        "credit": (amount[index] - fee[index]).tolist(),
        "currency": currency[index].tolist(),
        "on_hold": _col(False, len(index)),
        "settled": _col(True, len(index)),
        "settlement_id": [f"setl_{d}_{c}" for d, c in zip(settle_day[index], currency[index], strict=True)],
        "created_at": [data["created_at"][i] for i in index],
        "source": _col("api", len(index)),
        "raw": _col("{}", len(index)),
        "updated_at": [data["created_at"][i] for i in index],
    }
    _insert(engine, "settlement_lines", LINE_COLUMNS, lines, len(index))
    for day, code, credit in zip(settle_day[index], currency[index], amount[index] - fee[index], strict=True):
        settlement_totals.setdefault((int(day), str(code)), [0, 0])[0] += int(credit)

    refunded = np.flatnonzero(status == "refunded")
    refund_created = created[refunded] + 86_400
    refunds = {
        "id": [f"rfnd_{data['id'][i][4:]}" for i in refunded],
        "payment_id": [data["id"][i] for i in refunded],
        "amount": amount[refunded].tolist(),
        "currency": currency[refunded].tolist(),
        "status": _col("processed", len(refunded)),
        "created_at": _stamp(refund_created, sqlite),
        "state_at": _stamp(refund_created, sqlite),
        "source": _col("api", len(refunded)),
        "raw": _col("{}", len(refunded)),
        "updated_at": _stamp(refund_created, sqlite),
    }
    _insert(engine, "refunds", REFUND_COLUMNS, refunds, len(refunded))
    debited = refund_created < end - 5 * 86_400
    debit_index = np.flatnonzero(debited)
    refund_day = _ist_day(refund_created) + 2
    debit_lines = {
        "entity_id": [refunds["id"][j] for j in debit_index],
        "type": _col("refund", len(debit_index)),
        "payment_id": [refunds["payment_id"][j] for j in debit_index],
        "amount": [refunds["amount"][j] for j in debit_index],
        "fee": _col(0, len(debit_index)),
        "tax": _col(0, len(debit_index)),
        "debit": [refunds["amount"][j] for j in debit_index],
        "credit": _col(0, len(debit_index)),
        "currency": [refunds["currency"][j] for j in debit_index],
        "on_hold": _col(False, len(debit_index)),
        "settled": _col(True, len(debit_index)),
        "settlement_id": [f"setl_{refund_day[j]}_{refunds['currency'][j]}" for j in debit_index],
        "created_at": [refunds["created_at"][j] for j in debit_index],
        "source": _col("api", len(debit_index)),
        "raw": _col("{}", len(debit_index)),
        "updated_at": [refunds["created_at"][j] for j in debit_index],
    }
    _insert(engine, "settlement_lines", LINE_COLUMNS, debit_lines, len(debit_index))
    for j in debit_index:
        settlement_totals.setdefault((int(refund_day[j]), refunds["currency"][j]), [0, 0])[1] += refunds[
            "amount"
        ][j]

    # One webhook event per payment outcome (a few missing), received a second later.
    has_event = (captured | (status == "failed")) & (rng.random(n) > 0.0005)
    event_index = np.flatnonzero(has_event)
    received = _stamp(created[event_index] + 2, sqlite)
    events = {
        "event_id": [f"evt_{data['id'][i][4:]}" for i in event_index],
        "event_type": np.where(captured[event_index], "payment.captured", "payment.failed").tolist(),
        "known_type": _col(True, len(event_index)),
        "created_at": [data["created_at"][i] for i in event_index],
        "received_at": received,
        "last_received_at": received,
        "delivery_count": np.where(rng.random(len(event_index)) < 0.01, 2, 1).tolist(),
        "lag_ms": rng.integers(200, 3_000, size=len(event_index)).tolist(),
        "payment_id": [data["id"][i] for i in event_index],
        "refund_id": _col(None, len(event_index)),
        "entity_status": np.where(captured[event_index], "captured", "failed").tolist(),
        "applied": _col(True, len(event_index)),
        "payload": _col("{}", len(event_index)),
    }
    _insert(engine, "webhook_events", EVENT_COLUMNS, events, len(event_index))
    refund_received = _stamp(refund_created + 2, sqlite)
    refund_events = {
        "event_id": [f"evt_{refund_id}" for refund_id in refunds["id"]],
        "event_type": _col("refund.processed", len(refunded)),
        "known_type": _col(True, len(refunded)),
        "created_at": refunds["created_at"],
        "received_at": refund_received,
        "last_received_at": refund_received,
        "delivery_count": _col(1, len(refunded)),
        "lag_ms": _col(1_000, len(refunded)),
        "payment_id": refunds["payment_id"],
        "refund_id": refunds["id"],
        "entity_status": _col("processed", len(refunded)),
        "applied": _col(True, len(refunded)),
        "payload": _col("{}", len(refunded)),
    }
    _insert(engine, "webhook_events", EVENT_COLUMNS, refund_events, len(refunded))


def _settlements(engine: Engine, totals: dict[tuple[int, str], list[int]], sqlite: bool) -> None:
    keys = sorted(totals)
    day_epochs = np.array([day * 86_400 - 19_800 + 6 * 3600 for day, _ in keys])
    stamps = _stamp(day_epochs, sqlite)
    data = {
        "id": [f"setl_{day}_{code}" for day, code in keys],
        "amount": [totals[key][0] - totals[key][1] for key in keys],
        "currency": [code for _, code in keys],
        "status": _col("processed", len(keys)),
        "fees": _col(0, len(keys)),
        "tax": _col(0, len(keys)),
        "created_at": stamps,
        "state_at": stamps,
        "source": _col("api", len(keys)),
        "raw": _col("{}", len(keys)),
        "updated_at": stamps,
    }
    _insert(engine, "settlements", SETTLEMENT_COLUMNS, data, len(keys))


# --- the measured work ----------------------------------------------------------------------------------


def overview_from_rollups(engine: Engine, filters: Filters) -> dict[str, Any]:
    """The Overview page's five queries, exactly as the page makes them."""
    with engine.connect() as conn:
        return {
            "kpis": success.kpis(conn, filters, compare_previous=True),
            "by_method": success.success_rates(conn, "method", filters),
            "by_country": success.success_rates(conn, "country", filters),
            "daily": success.series(conn, "day", filters),
            "reasons": success.failure_reasons(conn, filters, limit=10),
        }


NAIVE_COLUMNS = [
    "created_at",
    "status",
    "method",
    "country",
    "currency",
    "amount",
    "error_source",
    "error_step",
    "error_reason",
]


def overview_naive(engine: Engine, filters: Filters) -> dict[str, Any]:
    """The naive way: read the raw payments table into pandas, then filter and group."""
    with engine.connect() as conn:
        frame = pd.read_sql_table("payments", conn, columns=NAIVE_COLUMNS)
    created = pd.to_datetime(frame["created_at"], utc=True)
    start, end = filters.utc_range()
    previous_start, previous_end = filters.previous_period().utc_range()
    assert start and end and previous_start and previous_end
    frame["attempt"] = frame["status"] != "created"
    frame["success"] = frame["status"].isin(["authorized", "captured", "refunded"])
    frame["failed"] = frame["status"] == "failed"
    current = frame[(created >= start) & (created < end)]
    previous = frame[(created >= previous_start) & (created < previous_end)]

    def rates(data: pd.DataFrame, key: Any) -> pd.DataFrame:
        grouped = data.groupby(key, dropna=False)[["attempt", "success", "failed"]].sum()
        grouped["success_rate"] = grouped["success"] / grouped["attempt"].where(grouped["attempt"] > 0)
        return grouped

    per_currency = (
        current.assign(
            attempt_amount=current["amount"].where(current["attempt"], 0),
            success_amount=current["amount"].where(current["success"], 0),
        )
        .groupby("currency")[["attempt", "success", "attempt_amount", "success_amount"]]
        .sum()
    )
    day = created[current.index].dt.tz_convert(IST).dt.date
    return {
        "kpis": (
            int(current["attempt"].sum()),
            int(current["success"].sum()),
            int(previous["attempt"].sum()),
        ),
        "per_currency": per_currency,
        "by_method": rates(current, "method"),
        "by_country": rates(current, "country"),
        "daily": rates(current, day),
        "reasons": current[current["failed"]]
        .groupby(["error_source", "error_step", "error_reason"], dropna=False)
        .size()
        .sort_values(ascending=False)
        .head(10),
    }


CPU_SECONDS: dict[int, float] = {}


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of `repeat` runs; the median CPU time of this process is kept in CPU_SECONDS
    (on a shared, busy machine wall time includes waiting for a core; for SQLite, which runs in this
    process, CPU time is what the work costs)."""
    durations = []
    cpu = []
    result = None
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = action()
        durations.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    CPU_SECONDS[id(action)] = statistics.median(cpu)
    return statistics.median(durations), result


def timed_cpu(action: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    action_wall, result = timed(action, repeat)
    return action_wall, CPU_SECONDS.pop(id(action)), result


def check_same(fast: dict[str, Any], naive: dict[str, Any]) -> None:
    kpis = fast["kpis"]
    assert (kpis.attempts, kpis.successes, kpis.previous.attempts) == naive["kpis"], "KPIs differ"
    by_method = dict(zip(fast["by_method"]["method"], fast["by_method"]["attempts"], strict=True))
    assert by_method == {str(k): int(v) for k, v in naive["by_method"]["attempt"].items()}, (
        "rate by method differs"
    )
    assert int(fast["daily"]["attempts"].sum()) == int(naive["daily"]["attempt"].sum()), "daily trend differs"


def database(backend: str, payments: int, keep: str | None) -> tuple[str, Callable[[], None]]:
    """A fresh database: the same helpers the tests use to make one."""
    if keep:
        return keep, lambda: None
    if backend == "sqlite":
        path = Path(f"/tmp/payops-bench-{payments}.db")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}", lambda: None
    url = new_database_url("postgresql", Path("/tmp"))
    return url, lambda: drop_pg_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="History the payments span (ending 2026-11-25).")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="Reuse an already loaded database (skips loading).")
    parser.add_argument("--repeat", type=int, default=7, help="Runs of the rollup queries (median reported).")
    parser.add_argument("--naive-repeat", type=int, default=3, help="Runs of the naive way.")
    parser.add_argument(
        "--no-reconcile", action="store_true", help="Skip the reconciliation (and its tables)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    args = parser.parse_args()

    url, drop = database(args.backend, args.payments, args.database_url)
    engine = make_engine(url)
    figures: dict[str, float] = {}
    try:
        if not args.database_url:
            upgrade(engine)
            began = time.perf_counter()
            generate(engine, args.payments, args.days, full=not args.no_reconcile)
            figures["load_s"] = time.perf_counter() - began
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            began = time.perf_counter()
            with engine.begin() as conn:
                rollups.rebuild_all(conn)
            figures["rebuild_rollups_s"] = time.perf_counter() - began

        hour = NOW - timedelta(hours=5)

        def refresh() -> None:
            with engine.begin() as conn:
                rollups.refresh_payment_hours(conn, [hour])

        figures["refresh_one_hour_ms"], _ = timed(refresh, 5)
        figures["refresh_one_hour_ms"] *= 1000

        today = NOW.astimezone(IST).date()
        filters = Filters(date_from=today - timedelta(days=29), date_to=today)
        overview_from_rollups(engine, filters)  # warm the cache like a page that has been opened once
        fast_s, fast_cpu, fast = timed_cpu(lambda: overview_from_rollups(engine, filters), args.repeat)
        figures["overview_rollups_ms"] = fast_s * 1000
        figures["overview_rollups_cpu_ms"] = fast_cpu * 1000
        all_time = Filters(date_from=today - timedelta(days=args.days), date_to=today)
        figures["overview_rollups_all_time_ms"] = (
            timed(lambda: overview_from_rollups(engine, all_time), args.repeat)[0] * 1000
        )
        if args.naive_repeat > 0:
            naive_s, naive_cpu, naive = timed_cpu(lambda: overview_naive(engine, filters), args.naive_repeat)
            figures["overview_naive_ms"] = naive_s * 1000
            figures["overview_naive_cpu_ms"] = naive_cpu * 1000
            figures["speedup_x"] = naive_s / fast_s
            check_same(fast, naive)

        if not args.no_reconcile:
            if args.database_url:
                with engine.begin() as conn:  # measure a first run again on a reused database
                    conn.execute(delete(MismatchEvent))
                    conn.execute(delete(Mismatch))
            first_s, first_cpu, result = timed_cpu(lambda: reconcile(engine, now=NOW), 1)
            figures["reconcile_first_s"] = first_s
            figures["reconcile_first_cpu_s"] = first_cpu
            again_s, again_cpu, _ = timed_cpu(lambda: reconcile(engine, now=NOW), 1)
            figures["reconcile_again_s"] = again_s
            figures["reconcile_again_cpu_s"] = again_cpu
            figures["mismatches"] = float(sum(result.found.values()))
            print("  found per rule:", result.found, file=sys.stderr)
        with engine.connect() as conn:
            figures["rollup_rows"] = float(
                conn.execute(select(func.count()).select_from(PaymentRollupHourly)).scalar_one()
            )
    finally:
        engine.dispose()
        if not args.keep:
            drop()

    print(f"\nbackend={args.backend} payments={args.payments:,} days={args.days}")
    for name, value in figures.items():
        print(f"  {name:32} {value:12.1f}")
    print(
        f"\n| {args.backend} | {args.payments:,} | {figures.get('overview_rollups_ms', 0):.1f} ms | "
        f"{figures.get('overview_rollups_all_time_ms', 0):.1f} ms | "
        f"{figures.get('overview_naive_ms', float('nan')):.0f} ms | {figures.get('speedup_x', float('nan')):.0f}× | "
        f"{figures.get('reconcile_first_s', float('nan')):.1f} s | {figures.get('rebuild_rollups_s', float('nan')):.1f} s | "
        f"{figures.get('refresh_one_hour_ms', 0):.1f} ms |"
    )


if __name__ == "__main__":
    main()
