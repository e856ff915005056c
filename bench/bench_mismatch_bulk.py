"""Benchmark bulk work on mismatches: resolve 50,000 selected by a filter in one transaction (one audit
row + 50,000 history rows), against resolving them one by one (timed on a sample, scaled), and the
streamed export of a large filtered set with its peak Python memory.

    .venv/bin/python -m bench.bench_mismatch_bulk --backend sqlite
    .venv/bin/python -m bench.bench_mismatch_bulk --backend postgresql --export-rows 1000000

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from analytics import mismatches
from analytics.mismatch_bulk import MismatchFilter, bulk_apply, export_mismatches
from data.db import make_engine
from data.migrate import upgrade
from data.models import AuditLog, Mismatch, MismatchEvent
from tests.support.databases import drop_database, new_database_url

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def seed(engine: Engine, rule: str, count: int, start: int = 0) -> None:
    rows: list[dict[str, Any]] = []
    for n in range(start, start + count):
        rows.append(
            {
                "key": f"{rule}:pay_{n:012d}",
                "rule": rule,
                "severity": "high",
                "status": "open" if n % 5 else "acknowledged",
                "auto_resolved": False,
                "payment_id": f"pay_{n:012d}",
                "currency": "INR",
                "expected_amount": 10_000 + n,
                "actual_amount": 0,
                "explanation": f"Payment pay_{n:012d} captured has no settlement line after T+3 business days.",
                "evidence": {
                    "payment_id": f"pay_{n:012d}",
                    "amount": 10_000 + n,
                    "captured_at": (NOW - timedelta(days=10)).isoformat(),
                },
                "first_seen_at": NOW - timedelta(days=5),
                "last_seen_at": NOW,
                "evidence_at": NOW - timedelta(days=10),
                "due_at": NOW - timedelta(days=7),
            }
        )
        if len(rows) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(Mismatch), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(Mismatch), rows)


def server_cpu_seconds(engine: Engine) -> float:
    """CPU seconds used so far by this database's PostgreSQL backends (the server is local: /proc), so
    the figure holds under load; 0 on SQLite, whose work is this process's own."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--export-rows", type=int, default=200_000)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--measure-memory", action="store_true", help="Also trace the export's peak memory.")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    url = new_database_url(args.backend, directory)
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed(engine, "captured_not_settled", args.count)
        seed(engine, "fee_rate_anomaly", args.count // 2, start=args.count)  # not selected by the filter
        selection = MismatchFilter(rule="captured_not_settled", min_age_days=7)
        server_before, cpu_before = server_cpu_seconds(engine), time.process_time()
        started = time.perf_counter()
        result = bulk_apply(
            engine, selection, "resolve", actor="bench", reason_code="timing", note="bulk", now=NOW
        )
        bulk_seconds = time.perf_counter() - started
        bulk_cpu = time.process_time() - cpu_before
        server_cpu = server_cpu_seconds(engine) - server_before
        with engine.connect() as conn:
            audit_rows = conn.execute(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "mismatch.bulk_resolve")
            ).scalar_one()
            history_rows = conn.execute(select(func.count()).select_from(MismatchEvent)).scalar_one()
        print(
            f"bulk resolve of {result.count:,} mismatches: {bulk_seconds:.2f} s wall, CPU {bulk_cpu:.2f} s "
            f"here + {server_cpu:.2f} s PostgreSQL backend ({audit_rows} audit row, {history_rows:,} history "
            f"rows); load average {os.getloadavg()[0]:.1f}"
        )

        with engine.connect() as conn:
            sample = list(
                conn.execute(
                    select(Mismatch.id).where(Mismatch.rule == "fee_rate_anomaly").limit(args.naive_sample)
                ).scalars()
            )
        started = time.perf_counter()
        for mismatch_id in sample:
            mismatches.resolve(engine, mismatch_id, "bench", "one by one", now=NOW)
        naive = (time.perf_counter() - started) * result.count / max(1, len(sample))
        print(
            f"one by one (analytics.mismatches.resolve), scaled from {len(sample)}: {naive:.1f} s ({naive / bulk_seconds:.0f}×)"
        )

        extra = max(0, args.export_rows - (args.count + args.count // 2))
        if extra:
            seed(engine, "webhook_missing", extra, start=10 * args.count)
        started, cpu_before = time.perf_counter(), time.process_time()
        with open(os.devnull, "w", encoding="utf-8") as sink:
            written = export_mismatches(engine, MismatchFilter(), sink, now=NOW)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        # CPU seconds are the figure that survives a shared machine; wall depends on the load.
        print(
            f"export of {written:,} mismatches: {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"({written / cpu:,.0f} rows per CPU second); load average {os.getloadavg()[0]:.1f}"
        )
        if args.measure_memory:
            # tracemalloc slows Python several times over: a separate pass, for the peak only.
            tracemalloc.start()
            with open(os.devnull, "w", encoding="utf-8") as sink:
                export_mismatches(engine, MismatchFilter(), sink, now=NOW)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"export peak Python memory (tracemalloc): {peak / 1_048_576:.1f} MiB for {written:,} rows")
    finally:
        engine.dispose()
        drop_database(args.backend, url)


if __name__ == "__main__":
    main()
