"""Benchmark: one evaluation of every alert rule (analytics.alerts.evaluate) on bench_analytics' synthetic
data set, and each rule on its own — to show the cost follows the rollups, not the number of payments.

    .venv/bin/python -m bench.bench_alerts --payments 100000 --backend sqlite
    .venv/bin/python -m bench.bench_alerts --payments 1000000 --backend sqlite
    .venv/bin/python -m bench.bench_alerts --payments 1000000 --customers 100000

bench_analytics' payments carry no email, phone or card last4, so the fraud rules (card testing, velocity)
find nothing to group; `--customers N` gives the payments of the risk window (the last two days) an email
and phone of one of N customers and card payments a last4, so `fraud_signal` is timed on real groupings.

Prints figures (medians) and a markdown row for docs/benchmarks.md. Never run by pytest.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import numpy as np
from sqlalchemy import Engine, bindparam, delete, select, update

from analytics import alerts
from analytics.reconcile import reconcile
from bench.bench_analytics import NOW, database, generate, timed_cpu
from data import rollups
from data.db import make_engine
from data.migrate import upgrade
from data.models import Alert, Payment
from data.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="History the payments span (ending 2026-11-25).")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="Reuse an already loaded database (skips loading).")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--customers",
        type=int,
        default=0,
        help="Give the risk window's payments one of N customers' email/phone.",
    )
    parser.add_argument(
        "--backtest-hours",
        type=int,
        default=0,
        help="Also evaluate success_drop at each of the last N hours (clean data: every alert is a false one).",
    )
    args = parser.parse_args()

    url, drop = database(args.backend, args.payments, args.database_url)
    engine = make_engine(url)
    try:
        if not args.database_url:
            upgrade(engine)
            began = time.perf_counter()
            generate(engine, args.payments, args.days, full=True)
            with engine.begin() as conn:
                rollups.rebuild_all(conn)
            reconcile(engine, now=NOW - timedelta(days=1))  # mismatches for the new-mismatch rule
            print(
                f"loaded {args.payments:,} payments over {args.days} days in {time.perf_counter() - began:.0f} s"
            )
        if args.customers:
            filled = give_customers(engine, args.customers)
            print(f"gave {filled:,} payments of the last two days one of {args.customers:,} customers")
        at = NOW - timedelta(minutes=50)

        def evaluate() -> alerts.Evaluation:
            with engine.begin() as conn:
                conn.execute(delete(Alert))  # every run opens its alerts anew: the costliest case
            return alerts.evaluate(engine, at=at)

        evaluate()  # warm-up
        wall, cpu, result = timed_cpu(evaluate, args.repeat)
        print(
            f"evaluate all rules: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU (median of {args.repeat})"
        )
        print(f"  conditions found: {result.found}")
        per_rule: dict[str, float] = {}
        for rule_id in alerts.RULES:
            ctx = alerts.AlertContext(at=at, rules=get_settings().alerts)

            def detect_one(rule: str = rule_id, context: alerts.AlertContext = ctx) -> int:
                with engine.connect() as conn:
                    return len(alerts.detect(conn, context, [rule]))

            per_rule[rule_id], _, _ = timed_cpu(detect_one, args.repeat)
            print(f"  {rule_id:30} {per_rule[rule_id] * 1000:8.1f} ms")
        print(
            f"| {args.backend} | {args.payments:,} | {args.days} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | "
            f"{per_rule['success_drop'] * 1000:.0f} ms | {per_rule['settlement_overdue'] * 1000:.0f} ms |"
        )
        if args.backtest_hours:
            backtest(engine, args.backtest_hours)
    finally:
        engine.dispose()
        drop()


def give_customers(engine: Engine, customers: int) -> int:
    """Each payment created in the two days before NOW gets the email and phone of one of `customers`
    customers (uniformly at random, seeded) and, if by card, a random last4: what the fraud rules group by."""
    rng = np.random.default_rng(14)
    with engine.begin() as conn:
        rows = conn.execute(
            select(Payment.id, Payment.method).where(Payment.created_at >= NOW - timedelta(days=2))
        ).all()
        who = rng.integers(0, customers, size=len(rows))
        last4 = rng.integers(0, 10_000, size=len(rows))
        conn.execute(
            update(Payment)
            .where(Payment.id == bindparam("pid"))
            .values(email=bindparam("e"), contact=bindparam("c"), card_last4=bindparam("l")),
            [
                {
                    "pid": row.id,
                    "e": f"customer{who[i]}@example.com",
                    "c": f"+9190{who[i]:08d}",
                    "l": f"{last4[i]:04d}" if row.method == "card" else None,
                }
                for i, row in enumerate(rows)
            ],
        )
    return len(rows)


def backtest(engine: Engine, hours: int) -> None:
    """The data set has no planted success-rate drop: count the alerts success_drop opens hour by hour."""
    with engine.begin() as conn:
        conn.execute(delete(Alert))
    opened: list[str] = []
    for hour in range(hours, 0, -1):
        evaluation = alerts.evaluate(engine, at=NOW - timedelta(hours=hour), only=["success_drop"])
        opened += [f"{alert['first_fired_at']} {alert['key']}" for alert in evaluation.fired]
    print(f"back-test over {hours} hours of clean data: {len(opened)} success_drop alerts opened")
    for line in opened:
        print(f"  {line}")


if __name__ == "__main__":
    main()
