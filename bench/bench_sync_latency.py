"""Benchmark the sync at real API latency under a rate limit: the sandbox answers every /v1 request
after --latency-ms (±20 %) and allows --rate-limit requests a second for the key (429 + Retry-After
beyond it); the sync adapts its concurrency (AIMD, ceiling --max-in-flight). Prints, per entity and in
total: items, requests, 429s met, items/s, and the throughput against the limit's ceiling
(requests/s × items per page), then checks exact parity with the sandbox's truth.

    .venv/bin/python -m bench.bench_sync_latency --payments 100000 --latency-ms 250 --rate-limit 25
    .venv/bin/python -m bench.bench_sync_latency --payments 100000 --latency-ms 250 --rate-limit 0

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from data.db import make_engine
from data.migrate import upgrade
from sync.http import HttpPolicy
from sync.pull import SyncOptions, run_sync
from tests.support.sandbox import start_sandbox
from tests.support.sync_helpers import SAFETY_LAG, assert_parity, sandbox_client, sandbox_until

DAYS = 10
NOW = 1_764_000_000 // 60 * 60  # a fixed sandbox clock, so runs are comparable
PAGE = {"settlement_lines": 1000}  # items per page; every other list: 100


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--rate-limit", type=float, default=25.0, help="requests/s for the key (0 = none)")
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--timeline", action="store_true", help="print requests in flight every second")
    args = parser.parse_args()

    sandbox = start_sandbox(
        seed=13,
        days=DAYS,
        payments_per_day=max(1, args.payments // DAYS),
        now=NOW,
        latency_ms=args.latency_ms,
        rate_limit=f"{args.rate_limit:g}/s",
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            engine = make_engine(url)
            upgrade(engine)
            until = sandbox_until(sandbox)
            client = sandbox_client(
                sandbox, url, HttpPolicy(max_in_flight=args.max_in_flight, timeout_seconds=30, retries=10)
            )
            options = SyncOptions(
                since=datetime.fromtimestamp(NOW, UTC) - timedelta(days=DAYS + 1),
                until=until,
                safety_lag=SAFETY_LAG,
            )
            requests_before = int(sandbox.state()["fault_counts"].get("requests", 0))
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            started_monotonic = time.monotonic()
            done = threading.Event()
            timeline: list[int] = []

            def sample() -> None:
                while not done.wait(1.0):
                    timeline.append(client.concurrency.in_flight)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = run_sync(engine, client, options)
            elapsed = time.perf_counter() - started
            done.set()
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            state = sandbox.state()
            counts = assert_parity(engine, sandbox)
    finally:
        sandbox.stop()

    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    throttled = int(state["fault_counts"].get("rate_limited", 0))
    # The sandbox's own count of the /v1 requests it admitted (a 429 is not admitted): it includes the
    # first pages of windows the sync dropped (re-planned), which no chunk accounts for.
    answered = int(state["fault_counts"].get("requests", 0)) - requests_before
    counted = sum(c.requests for c in result.counts.values())
    items = sum(c.fetched for c in result.counts.values())
    print(
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {counts['payments']:,} payments, "
        f"sandbox {args.latency_ms:g} ms, limit {args.rate_limit:g}/s, max in flight {args.max_in_flight}"
    )
    for name, c in result.counts.items():
        print(f"  {name:<17} {c.fetched:>9,} items {c.requests:>6,} requests")
    # The ceiling: every request the limit allows, each a full page of the entity it reads (a request
    # no chunk counts is taken as a 100-item page).
    ceiling_items = sum(c.requests * PAGE.get(name, 100) for name, c in result.counts.items())
    ceiling_items += max(0, answered - counted) * 100
    print(
        f"total {items:,} items in {elapsed:.1f} s = {items / elapsed:,.0f} items/s; "
        f"{answered:,} requests answered ({answered / elapsed:.1f}/s; {counted:,} counted by the chunks), "
        f"{throttled:,} answered 429 and retried; 0 failed for good (run {result.status}); "
        f"pages {items / ceiling_items:.1%} full"
    )
    fetching = client.concurrency.last_success - started_monotonic
    print(
        f"requests made over {fetching:.1f} s (start to the last answer; the rest is the writer's tail): "
        f"{answered / fetching:.1f} req/s, {items / fetching:,.0f} items/s"
    )
    print(
        f"mean in flight {client.concurrency.in_flight_seconds / elapsed:.1f} "
        f"(ceiling {client.concurrency.ceiling}); pace at the end "
        f"{'none' if client.concurrency.rate is None else f'{client.concurrency.rate:.1f} req/s'}"
    )
    if args.timeline:
        print("in flight each second:", " ".join(map(str, timeline)))
    if args.rate_limit:
        ceiling = args.rate_limit * ceiling_items / answered
        print(
            f"ceiling at {args.rate_limit:g} req/s with these pages: {ceiling:,.0f} items/s; "
            f"throughput {items / elapsed / ceiling:.1%} of it "
            f"(requests: {answered / elapsed / args.rate_limit:.1%} of the limit)"
        )
    print(
        f"sync CPU {cpu:.1f} s = {cpu / max(1, counts['payments']) * 1e6:.0f} µs per payment; parity exact: {counts}"
    )


if __name__ == "__main__":
    main()
