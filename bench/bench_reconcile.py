"""Benchmark: an incremental reconcile pass after a sync wrote 30,000 new or changed payments, against the
full pass over the same data, at several table sizes (the incremental cost must not grow with them).

    .venv/bin/python -m bench.bench_reconcile --payments 100000 1000000 --backend sqlite
    .venv/bin/python -m bench.bench_reconcile --payments 100000 1000000 --backend postgresql

For each size: load the synthetic data set of bench.bench_analytics (payments, orders, refunds,
settlements, lines, webhook events), run a full pass, write the changes through the one upsert every
writer uses (20,000 new payments with their orders and settlement lines, 10,000 older payments changing
status), run the incremental pass five minutes later by the rules' clock, then a full pass, which must
find nothing left to change. Prints wall and CPU seconds (this process; on PostgreSQL also the server
backends') and the load average. Never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select

from analytics.reconcile import ReconcileResult, reconcile
from bench.bench_analytics import NOW, database, generate
from bench.bench_mismatch_bulk import server_cpu_seconds
from data.db import make_engine
from data.migrate import upgrade
from data.models import Order, Payment, SettlementLine
from data.upsert import upsert
from tests.support.factories import order, payment, settlement_line

DAYS = 90


def measured(
    action: Callable[[], ReconcileResult], engine: Engine
) -> tuple[float, float, float, ReconcileResult]:
    """(wall s, this process's CPU s, the PostgreSQL backends' CPU s, result)."""
    server, cpu, wall = server_cpu_seconds(engine), time.process_time(), time.perf_counter()
    result = action()
    return (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        server_cpu_seconds(engine) - server,
        result,
    )


def write_changes(engine: Engine, new: int, changed: int) -> None:
    """What a sync run writes: new payments (captured minutes ago, each with its order and, for some, a
    settlement line) and status changes of older payments (authorized → captured, captured → refunded)."""
    moment = NOW - timedelta(minutes=3)
    payments: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for n in range(new):
        payment_id, order_id = f"pay_new{n:010d}", f"order_new{n:08d}"
        payments.append(
            payment(
                payment_id,
                order_id=order_id,
                amount=50_000 + n,
                fee=1_180,  # Razorpay's fee includes the tax
                tax=180,
                created_at=moment,
                state_at=moment,
            )
        )
        orders.append(
            order(order_id, amount=50_000 + n, amount_paid=50_000 + n, status="paid", created_at=moment)
        )
        if n % 4 == 0:  # an instant settlement's line, already in the recon report
            lines.append(
                settlement_line(payment_id, amount=50_000 + n, fee=1_180, tax=180, credit=48_820 + n)
            )
    with engine.begin() as conn:
        upsert(conn, Payment, payments)
        upsert(conn, Order, orders)
        upsert(conn, SettlementLine, lines)
        # Whole rows, as the sync writes them; without updated_at, which the upsert stamps.
        columns = [column for column in Payment.__table__.c if column.name != "updated_at"]
        older = [
            dict(row._mapping)
            for row in conn.execute(
                select(*columns)
                .where(Payment.status.in_(("authorized", "captured")), Payment.created_at < moment)
                .order_by(Payment.created_at.desc())
                .limit(changed)
            )
        ]
        for row in older:
            row["status"] = "captured" if row["status"] == "authorized" else "refunded"
            row["state_at"] = NOW
        upsert(conn, Payment, older)


def run(size: int, backend: str, new: int, changed: int) -> dict[str, Any]:
    url, drop = database(backend, size, None)
    engine = make_engine(url)
    try:
        upgrade(engine)
        began = time.perf_counter()
        generate(engine, size, DAYS, full=True)
        print(f"  loaded {size:,} payments in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        first = measured(lambda: reconcile(engine, now=NOW), engine)
        write_changes(engine, new, changed)
        later = NOW + timedelta(minutes=5)
        incremental = measured(lambda: reconcile(engine, now=later, mode="incremental"), engine)
        full = measured(lambda: reconcile(engine, now=later), engine)
        check = full[3]
        assert incremental[3].mode == "incremental"
        # The full pass right after finds nothing the incremental one left undone.
        assert (check.new, check.reopened, check.auto_resolved) == (0, 0, 0), check.as_dict()
        return {"size": size, "first": first, "incremental": incremental, "full": full}
    finally:
        engine.dispose()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--new", type=int, default=20_000, help="New payments the sync wrote.")
    parser.add_argument("--changed", type=int, default=10_000, help="Older payments whose status changed.")
    args = parser.parse_args()
    rows = [run(size, args.backend, args.new, args.changed) for size in args.payments]
    print(
        f"\n{args.backend}, {args.new:,} new + {args.changed:,} changed payments, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| payments | incremental pass (wall / CPU / server CPU) | scope | full pass (wall / CPU / server CPU) |"
    )
    print("|---:|---|---|---|")
    for row in rows:
        wall, cpu, server, result = row["incremental"]
        full_wall, full_cpu, full_server, _ = row["full"]
        scope = ", ".join(f"{count:,} {kind}s" for kind, count in result.scope.items() if count)
        print(
            f"| {row['size']:,} | {wall:.2f} s / {cpu:.2f} s / {server:.2f} s | {scope} | "
            f"{full_wall:.1f} s / {full_cpu:.1f} s / {full_server:.1f} s |"
        )
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(
            f"incremental {large['size']:,} vs {small['size']:,}: wall ×{large['incremental'][0] / small['incremental'][0]:.2f}, "
            f"CPU ×{large['incremental'][1] / small['incremental'][1]:.2f}"
        )


if __name__ == "__main__":
    main()
