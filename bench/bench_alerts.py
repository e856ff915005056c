"""Benchmark: one evaluation of every alert rule (analytics.alerts.evaluate) on bench_analytics' synthetic
data set, and each rule on its own — to show the cost follows the rollups, not the number of payments.

    .venv/bin/python -m bench.bench_alerts --payments 100000 --backend sqlite
    .venv/bin/python -m bench.bench_alerts --payments 1000000 --backend sqlite

Prints figures (medians) and a markdown row for docs/benchmarks.md. Never run by pytest.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from sqlalchemy import Engine, delete

from analytics import alerts
from analytics.reconcile import reconcile
from bench.bench_analytics import NOW, database, generate, timed_cpu
from data import rollups
from data.db import make_engine
from data.migrate import upgrade
from data.models import Alert
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
