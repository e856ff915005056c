"""Benchmark a big CSV export the dashboard's two ways, in one process: streamed to disk and served from
there (dashboard/downloads.py, what "Prepare CSV" does under dashboard/server.py), against the earlier
in-memory path (the whole file as bytes in session state, what Streamlit's download button needs). For
each: peak RSS growth over the process's RSS before it (Linux: VmHWM reset through /proc/self/clear_refs),
the ratio, and rows per CPU second.

    .venv/bin/python -m bench.bench_export --rows 1000000
    .venv/bin/python -m bench.bench_export --rows 100000 --backend postgresql

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from analytics.mismatch_bulk import MismatchFilter, export_mismatches
from bench.bench_mismatch_bulk import seed
from dashboard import downloads
from data.db import make_engine
from data.migrate import upgrade
from tests.support.databases import drop_database, new_database_url

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
Writer = Callable[[TextIO], int]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # "5": reset VmHWM to the current RSS


def streamed(write: Writer) -> int:
    """Prepare onto disk, then serve the file the way the route does (64 KiB chunks), then delete it."""
    path, rows = downloads.write_file(write)
    with open(os.devnull, "wb") as browser:
        for chunk in downloads._chunks(path.open("rb")):
            browser.write(chunk)
    path.unlink()
    return rows


def in_memory(write: Writer) -> int:
    """The earlier dashboard/exports.py: a spooled file (on disk past 8 MB), read back as one bytes
    object that the session state and Streamlit's media store then held until the file was dropped."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        rows = write(text)
        text.flush()
        text.detach()
        spool.seek(0)
        data = spool.read()
    held = [data]  # alive until measured, as in session state
    assert held[0]
    return rows


def traced_peak(path: Callable[[Writer], int], write: Writer) -> float:
    """The path's peak Python memory in MiB (tracemalloc slows Python several times over: its own pass)."""
    tracemalloc.start()
    try:
        path(write)
        return tracemalloc.get_traced_memory()[1] / 1_048_576
    finally:
        tracemalloc.stop()


def measure(name: str, path: Callable[[Writer], int], write: Writer) -> tuple[int, float]:
    before = _status_kib("VmRSS")
    _reset_peak_rss()
    started, cpu_before = time.perf_counter(), time.process_time()
    rows = path(write)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    growth = max(0, _status_kib("VmHWM") - before) / 1024
    print(
        f"{name:>9}: {rows:,} rows, peak RSS growth {growth:,.1f} MiB, {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({rows / cpu:,.0f} rows per CPU second); load average {os.getloadavg()[0]:.1f}"
    )
    return rows, growth


def _seed(url: str, rows: int) -> None:
    child = make_engine(url)
    seed(child, "captured_not_settled", rows)
    child.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true", help="Also a tracemalloc pass of each path.")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="bench-export-"))
    url = new_database_url(args.backend, directory)
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        # Seeded by a child process, so the rows it built leave no grown heap here to hide a peak in.
        seeder = multiprocessing.get_context("fork").Process(target=_seed, args=(url, args.rows))
        seeder.start()
        seeder.join()
        if seeder.exitcode != 0:
            raise SystemExit(f"seeding failed with exit code {seeder.exitcode}")
        print(f"seeded {args.rows:,} mismatches in {time.perf_counter() - started:.1f} s ({args.backend})")

        def write(out: TextIO) -> int:
            return export_mismatches(engine, MismatchFilter(), out, now=NOW)

        # Warm up on one row: imports, babel locale data and the first connection load once per process.
        export_mismatches(engine, MismatchFilter(amount_max=10_000), io.StringIO(), now=NOW)
        baseline = _status_kib("VmRSS") / 1024
        # Streamed first: the in-memory pass leaves freed arenas behind that would hide the streamed peak.
        _, streamed_growth = measure("streamed", streamed, write)
        _, memory_growth = measure("in memory", in_memory, write)
        print(
            f"process RSS before the exports {baseline:,.1f} MiB; in memory / streamed peak "
            f"RSS growth: {memory_growth / max(streamed_growth, 0.1):,.0f}×"
        )
        if args.trace:
            streamed_peak, memory_peak = traced_peak(streamed, write), traced_peak(in_memory, write)
            print(
                f"tracemalloc peak: streamed {streamed_peak:,.1f} MiB, in memory {memory_peak:,.1f} MiB "
                f"({memory_peak / streamed_peak:,.0f}×)"
            )
    finally:
        engine.dispose()
        drop_database(args.backend, url)
        shutil.rmtree(directory, ignore_errors=True)  # a SQLite file of 1M mismatches is 650 MB


if __name__ == "__main__":
    main()
