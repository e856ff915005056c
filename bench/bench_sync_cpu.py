"""CPU of the sync process per payment (issue 13 §3), and the sync's ingest against the DBAPI ceiling.

1. A full sync (payments, orders, refunds, settlements, settlement lines) runs in a child process against
   the sandbox (its own process), through `sync run`'s own function. CPU per payment = the child's
   getrusage (every thread: fetching, JSON, normalise, upsert, change check, rollup refresh) across the
   run, divided by the payments stored; the sandbox's share does not count. The whole process
   (imports included) is reported beside it from os.wait4.
2. A second run at the same `until`: it re-reads each entity's look-back, where nothing changed (the
   change check's cost per record re-read).
3. Ingest: the same payments, normalised, written by the sync's writer (`write_rows`) and by the DBAPI's
   own executemany (sqlite3 / psycopg) of the same stored rows into the same migrated table, same indexes.

    .venv/bin/python -m bench.bench_sync_cpu --payments 100000 --backend sqlite
    .venv/bin/python -m bench.bench_sync_cpu --payments 100000 --backend postgresql --profile /tmp/sync.txt

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from bench.bench_sync import DAYS, NOW, fetch_payments, fresh_database
from data.db import json_text, make_engine
from data.models import Payment, SyncRun
from sync.entities import NormaliseContext, entity_spec
from sync.pull import write_rows
from tests.support.databases import drop_pg_database
from tests.support.sandbox import SandboxHandle, start_sandbox

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BATCH = 2000  # rows per transaction, about one sync window
ALL_ENTITIES = "payments,orders,refunds,settlements,settlement_lines"


def sync_child(
    sandbox: SandboxHandle, database_url: str, until: datetime, profile: Path | None
) -> dict[str, float]:
    """Run one sync in a child process; its CPU (user + system) from its own rusage."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_KEY_ID": sandbox.key_id,
        "RAZORPAY_KEY_SECRET": sandbox.key_secret,
    }
    # The child is `sync run`'s own code path (sync.cli._run_once) without the CLI's alert evaluation
    # afterwards; it reports its CPU around the run (imports excluded) beside the process total.
    command = [sys.executable, "-m", "bench.bench_sync_cpu", "--child", "--until", until.isoformat()]
    if profile is not None:
        # py-spy samples the child it starts; its own CPU is in another process (the py-spy one).
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [spy, "record", "--format", "raw", "--rate", "50", "-o", str(profile), "--", *command]
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
        if process.returncode != 0:
            raise SystemExit(f"sync failed ({process.returncode}): {output[-2000:]!r}")
    reported = json.loads(next(line for line in output.splitlines() if line.startswith('{"run_cpu_s"')))
    return {
        "seconds": elapsed,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "run_cpu_s": reported["run_cpu_s"],
        "run_seconds": reported["run_seconds"],
    }


def child(until: datetime) -> None:
    """One sync of every entity, as `sync run` does it; prints its own CPU (all threads) for the run."""
    from data.settings import get_settings
    from sync.cli import _run_once
    from sync.pull import SyncOptions

    engine = make_engine(get_settings().database_url)
    options = SyncOptions(
        entities=tuple(ALL_ENTITIES.split(",")), until=until, safety_lag=timedelta(seconds=120)
    )
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = _run_once(engine, options)
    after, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    assert result.status == "succeeded", result.error
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"run_cpu_s": cpu, "run_seconds": elapsed}), flush=True)


def _cpu() -> float:
    return time.process_time()


def stored_rows(
    rows: list[dict[str, Any]], backend: str, engine: Engine
) -> tuple[str, list[tuple[Any, ...]]]:
    """The INSERT and its parameter tuples exactly as the database stores them (what the driver is
    handed), prepared outside the timing: the DBAPI ceiling times the driver and the database only."""
    table = Payment.__table__
    names = [column.name for column in table.columns]
    stamp = datetime.now(UTC)
    rows = [{**row, "updated_at": stamp} for row in rows]
    dialect = engine.dialect
    if backend == "sqlite":
        processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]
        marks = ", ".join("?" for _ in names)
        params = [
            tuple(
                process(row[n]) if process else row[n] for n, process in zip(names, processors, strict=True)
            )
            for row in rows
        ]
    else:
        marks = ", ".join("%s::jsonb" if n == "raw" else "%s" for n in names)
        params = [tuple(json_text(row[n]) if n == "raw" else row[n] for n in names) for row in rows]
    sql = f"INSERT INTO payments ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 - fixed column names
    return sql, params


def raw_executemany(backend: str, url: str, sql: str, params: list[tuple[Any, ...]]) -> dict[str, float]:
    if backend == "sqlite":
        import sqlite3

        database = make_url(url).database
        assert database is not None
        connection: Any = sqlite3.connect(database)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    else:
        import psycopg

        connection = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    started, cpu = time.perf_counter(), _cpu()
    for start in range(0, len(params), BATCH):
        cursor = connection.cursor()
        cursor.executemany(sql, params[start : start + BATCH])
        connection.commit()
    figures = {"seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu}
    connection.close()
    return figures


def ingest(backend: str, directory: Path, items: list[dict[str, Any]]) -> dict[str, Any]:
    spec = entity_spec("payments")
    ctx = NormaliseContext(state_at=datetime.now(UTC), source="api")
    figures: dict[str, Any] = {"rows": len(items)}
    cpu = _cpu()
    rows = [spec.normalise(item, ctx) for item in items]
    figures["normalise_us_per_row"] = (_cpu() - cpu) / len(items) * 1e6
    created: list[str] = []
    for label, declared in (("sync_ingest", replace(spec, after_write=None)), ("sync_with_rollups", spec)):
        url, engine = fresh_database(backend, directory)
        created.append(url)
        started, cpu = time.perf_counter(), _cpu()
        for start in range(0, len(items), BATCH):
            with engine.begin() as conn:
                write_rows(conn, declared, items[start : start + BATCH], ctx, run_id=None)
        figures[label] = {"seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu}
        engine.dispose()
    url, engine = fresh_database(backend, directory)
    created.append(url)
    sql, params = stored_rows(rows, backend, engine)
    engine.dispose()
    figures["raw_executemany"] = raw_executemany(backend, url, sql, params)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Payment)).scalar() == len(rows)
    engine.dispose()
    for label in ("sync_ingest", "sync_with_rollups", "raw_executemany"):
        entry = figures[label]
        entry["rows_per_s"] = round(len(items) / entry["seconds"])
        entry["cpu_us_per_row"] = round(entry["cpu_s"] / len(items) * 1e6, 1)
    # On a shared machine wall time is mostly waiting for a core; on SQLite the whole insert runs in
    # this process, so the ratio of CPU per row is the ceiling's ratio without the waiting.
    raw_cpu = figures["raw_executemany"]["cpu_s"]
    figures["sync_ingest_vs_raw_by_cpu"] = round(raw_cpu / figures["sync_ingest"]["cpu_s"], 3)
    figures["sync_with_rollups_vs_raw_by_cpu"] = round(raw_cpu / figures["sync_with_rollups"]["cpu_s"], 3)
    raw_rate = figures["raw_executemany"]["rows_per_s"]
    figures["sync_ingest_vs_raw"] = round(figures["sync_ingest"]["rows_per_s"] / raw_rate, 3)
    figures["sync_with_rollups_vs_raw"] = round(figures["sync_with_rollups"]["rows_per_s"] / raw_rate, 3)
    if backend == "postgresql":
        for created_url in created:
            drop_pg_database(created_url)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--ingest-rows", type=int, default=20_000, help="rows in the ingest comparison")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-rerun", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy raw (collapsed) profile of the first sync")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--until", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(datetime.fromisoformat(args.until))
        return

    directory = Path(tempfile.mkdtemp(prefix="bench-sync-cpu-"))
    per_day = -(-args.payments // DAYS)
    sandbox = start_sandbox(seed=7, days=DAYS, payments_per_day=per_day, now=NOW)
    try:
        state = sandbox.state()
        until = datetime.fromtimestamp(int(state["now"]), UTC) + timedelta(minutes=3)
        url, engine = fresh_database(args.backend, directory)
        first = sync_child(sandbox, url, until, args.profile)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
        n = state["counts"]["payments"]
        assert stored == n, (stored, n)
        result: dict[str, Any] = {
            "backend": args.backend,
            "counts": state["counts"],
            "profiled": args.profile is not None,
            "first_sync": {
                "seconds": round(first["seconds"], 1),
                "process_cpu_s": round(first["cpu_s"], 1),
                "run_cpu_s": round(first["run_cpu_s"], 1),
                "run_cpu_us_per_payment": round(first["run_cpu_s"] / n * 1e6, 1),
                "process_cpu_us_per_payment": round(first["cpu_s"] / n * 1e6, 1),
            },
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(result), flush=True)
        if not args.skip_rerun:
            # The next run re-reads each entity's look-back (3 days, 7 for settlement lines); nothing
            # in it changed, so this is the change check's cost per record re-read.
            again = sync_child(sandbox, url, until, None)
            with engine.connect() as conn:
                counts = conn.execute(
                    select(SyncRun.counts).order_by(SyncRun.id.desc()).limit(1)
                ).scalar_one()
            reread = sum(entity["fetched"] for entity in counts.values())
            result["unchanged_rerun"] = {
                "seconds": round(again["seconds"], 1),
                "records_reread": reread,
                "run_cpu_us_per_record": round(again["run_cpu_s"] / reread * 1e6, 1),
                "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            }
        engine.dispose()
        if args.backend == "postgresql":
            drop_pg_database(url)
        if not args.skip_ingest:
            items = fetch_payments(sandbox, min(args.ingest_rows, n))
            result["ingest"] = ingest(args.backend, directory, items)
            result["ingest"]["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2), flush=True)
    finally:
        sandbox.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
