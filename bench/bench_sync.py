"""Benchmark the sync: sandbox → database end to end (payments/s, peak RSS of the sync process), and the
ingest stage alone (normalise + upsert) against a plain executemany insert of the same rows, same run.

    .venv/bin/python -m bench.bench_sync --payments 100000 --backend sqlite
    .venv/bin/python -m bench.bench_sync --payments 1000000 --backend postgresql

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, func, insert, select

from data.db import make_engine
from data.migrate import upgrade
from data.models import Payment, SyncRun
from sync.entities import NormaliseContext, entity_spec
from sync.pull import write_rows
from tests.support.databases import drop_pg_database, new_database_url
from tests.support.sandbox import SandboxHandle, start_sandbox

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAYS = 30
BATCH = 2000  # rows per transaction in the ingest comparison (about one sync window)
NOW = 1_764_000_000 // 60 * 60  # a fixed sandbox clock, so runs are comparable


def sample_rss(pid: int, peak: dict[str, int], stop: threading.Event) -> None:
    try:
        process = psutil.Process(pid)
        while not stop.is_set():
            rss = process.memory_info().rss
            peak["rss"] = max(peak.get("rss", 0), rss)
            time.sleep(0.05)
    except psutil.NoSuchProcess:
        return


def run_sync_child(
    sandbox: SandboxHandle, database_url: str, until: datetime, entities: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_KEY_ID": sandbox.key_id,
        "RAZORPAY_KEY_SECRET": sandbox.key_secret,
    }
    command = [
        sys.executable,
        "-m",
        "sync",
        "run",
        "--entities",
        entities,
        "--until",
        until.isoformat(),
        "--safety-lag",
        "120s",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(process.pid, peak, stop), daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"sync failed ({process.returncode}): {stderr[-2000:]}")
    # ru_maxrss of waited children (KiB on Linux); the sandbox is still running, so this is sync children only.
    maxrss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": elapsed,
        "peak_rss_mb": peak.get("rss", 0) / 2**20,
        "ru_maxrss_mb": maxrss_kib / 1024,
        "stdout": stdout.strip(),
    }


def fetch_payments(sandbox: SandboxHandle, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` payments, exactly as the sync receives them (SDK pages with expand[]=card)."""
    client = sandbox.client()
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        page = client.payment.all({"count": 100, "skip": len(items), "expand[]": "card"})["items"]
        items.extend(page)
        if len(page) < 100:
            break
    return items[:limit]


def fresh_database(backend: str, directory: Path) -> tuple[str, Engine]:
    url = new_database_url(backend, directory)
    engine = make_engine(url)
    upgrade(engine)
    return url, engine


def ingest_comparison(backend: str, directory: Path, items: list[dict[str, Any]]) -> dict[str, float]:
    """rows/s of normalise+upsert (the sync's write path) vs a plain executemany insert of the same rows."""
    spec = entity_spec("payments")
    ctx = NormaliseContext(state_at=datetime.now(UTC), source="api")
    figures: dict[str, float] = {}
    created: list[str] = []

    started = time.perf_counter()
    rows = [spec.normalise(item, ctx) for item in items]
    figures["normalise_only_rows_per_s"] = len(rows) / (time.perf_counter() - started)

    # Without rollups: the same declaration with its after-write hook taken off.
    for label, declared in (("ingest", replace(spec, after_write=None)), ("ingest_with_rollups", spec)):
        url, engine = fresh_database(backend, directory)
        created.append(url)
        started = time.perf_counter()
        for start in range(0, len(items), BATCH):
            with engine.begin() as conn:
                write_rows(conn, declared, items[start : start + BATCH], ctx, run_id=None)
        figures[f"{label}_rows_per_s"] = len(items) / (time.perf_counter() - started)
        engine.dispose()

    url, engine = fresh_database(backend, directory)
    created.append(url)
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(insert(Payment), rows[start : start + BATCH])
    figures["plain_insert_rows_per_s"] = len(rows) / (time.perf_counter() - started)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Payment)).scalar() == len(rows)
    engine.dispose()
    figures["ingest_vs_plain"] = figures["ingest_rows_per_s"] / figures["plain_insert_rows_per_s"]
    if backend == "postgresql":
        for url in created:
            drop_pg_database(url)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--ingest-rows", type=int, default=100_000, help="rows in the ingest comparison")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--payments-only", action="store_true", help="stop after the payments phase")
    parser.add_argument(
        "--other-entities-only", action="store_true", help="only orders, refunds, settlements, lines"
    )
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    per_day = -(-args.payments // DAYS)
    print(f"starting sandbox: {DAYS} days × {per_day} payments/day …", flush=True)
    started = time.perf_counter()
    sandbox = start_sandbox(seed=7, days=DAYS, payments_per_day=per_day, now=NOW)
    try:
        state = sandbox.state()
        print(
            f"sandbox ready in {time.perf_counter() - started:.1f}s: {json.dumps(state['counts'])}",
            flush=True,
        )
        until = datetime.fromtimestamp(int(state["now"]), UTC) + timedelta(minutes=3)
        url, engine = fresh_database(args.backend, directory)
        n = state["counts"]["payments"]
        if args.other_entities_only:
            rest = run_sync_child(sandbox, url, until, "orders,refunds,settlements,settlement_lines")
            print(
                json.dumps({k: v for k, v in rest.items() if k != "stdout"} | {"load": os.getloadavg()}),
                flush=True,
            )
            return
        payments = run_sync_child(sandbox, url, until, "payments")
        print(
            f"payments phase: {n} payments in {payments['seconds']:.1f}s = {n / payments['seconds']:.0f}/s, "
            f"peak RSS {payments['peak_rss_mb']:.1f} MB, load {os.getloadavg()}",
            flush=True,
        )
        if args.payments_only:
            engine.dispose()
            if args.backend == "postgresql":
                drop_pg_database(url)
            return
        rest = run_sync_child(sandbox, url, until, "orders,refunds,settlements,settlement_lines")
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
            runs = conn.execute(select(SyncRun.status, SyncRun.counts).order_by(SyncRun.id)).all()
        engine.dispose()
        if args.backend == "postgresql":
            drop_pg_database(url)
        assert stored == n, (stored, n)
        result: dict[str, Any] = {
            "backend": args.backend,
            "payments": n,
            "counts": state["counts"],
            "payments_only": {
                "seconds": round(payments["seconds"], 1),
                "payments_per_s": round(n / payments["seconds"]),
                "peak_rss_mb": round(payments["peak_rss_mb"], 1),
            },
            "other_entities": {
                "seconds": round(rest["seconds"], 1),
                "peak_rss_mb": round(rest["peak_rss_mb"], 1),
            },
            "all_entities_payments_per_s": round(n / (payments["seconds"] + rest["seconds"])),
            "sync_children_ru_maxrss_mb": round(rest["ru_maxrss_mb"], 1),
            "run_statuses": [r.status for r in runs],
            # The machine is shared: figures mean little without the load they were taken under.
            "load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2), flush=True)
        if not args.skip_ingest:
            started = time.perf_counter()
            items = fetch_payments(sandbox, min(args.ingest_rows, n))
            fetch_rate = len(items) / (time.perf_counter() - started)
            figures = ingest_comparison(args.backend, directory, items)
            # The ceiling the sandbox itself sets: one stream of SDK pages, decoded, nothing written.
            figures["fetch_only_single_stream_rows_per_s"] = fetch_rate
            print(
                json.dumps(
                    {"ingest_rows": len(items), **{k: round(v, 2) for k, v in figures.items()}}, indent=2
                ),
                flush=True,
            )
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
