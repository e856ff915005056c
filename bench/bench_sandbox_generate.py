"""How long the sandbox takes to generate 1M payments (with orders, refunds, settlements, recon lines and
the manifest), and how fast its API serves payment pages to the real SDK.

    .venv/bin/python -m bench.bench_sandbox_generate [--payments 1000000] [--serve-payments 200000]
"""

from __future__ import annotations

import argparse
import time

import psutil

from sandbox.build import SandboxConfig, generate
from sandbox.server import SandboxApi
from tests.support.sandbox import start_sandbox

DAYS = 30
NOW = 1_764_000_000  # fixed, so runs compare


def bench_generate(payments: int) -> None:
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    dataset = generate(SandboxConfig(seed=7, days=DAYS, payments_per_day=payments // DAYS, now=NOW))
    seconds = time.perf_counter() - started
    counts = dataset.counts()
    rss = (process.memory_info().rss - rss_before) / 2**20
    print(
        f"generate: {counts['payments']:,} payments, {counts['orders']:,} orders, {counts['refunds']:,} refunds, "
        f"{counts['settlements']:,} settlements, {counts['settlement_lines']:,} recon lines, "
        f"{len(dataset.anomalies):,} anomalies, {len(dataset.webhook_faults):,} webhook faults"
    )
    print(f"generate: {seconds:.1f} s  ({counts['payments'] / seconds:,.0f} payments/s, +{rss:,.0f} MiB RSS)")
    # The API's own cost per page, without HTTP or the client: bisect the window, render, orjson.
    api = SandboxApi(dataset, "key", "secret")
    pages = 1000
    started = time.perf_counter()
    for page in range(pages):
        api.v1("/v1/payments", {"count": ["100"], "skip": [str(page * 100)], "expand[]": ["card"]})
    seconds = time.perf_counter() - started
    print(
        f"render: {pages * 100 / seconds:,.0f} payments/s in process ({seconds / pages * 1000:.2f} ms per page of 100)"
    )


def bench_serve(payments: int) -> None:
    started = time.perf_counter()
    handle = start_sandbox(seed=7, days=DAYS, payments_per_day=payments // DAYS, now=NOW)
    print(f"serve: sandbox with {payments:,} payments ready in {time.perf_counter() - started:.1f} s")
    try:
        client = handle.client()
        for expand in (False, True):
            params: dict[str, object] = {"count": 100}
            if expand:
                params["expand[]"] = "card"
            fetched, skip = 0, 0
            started = time.perf_counter()
            while fetched < payments:
                page = client.payment.all({**params, "skip": skip})
                fetched += page["count"]
                skip += 100
                if page["count"] < 100:
                    break
            seconds = time.perf_counter() - started
            label = "expand[]=card" if expand else "plain"
            print(
                f"serve: paged {fetched:,} payments ({label}) through the SDK in {seconds:.1f} s "
                f"= {fetched / seconds:,.0f} payments/s (one client, 100 per page)"
            )
    finally:
        handle.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--serve-payments", type=int, default=200_000)
    args = parser.parse_args()
    bench_generate(args.payments)
    if args.serve_payments:
        bench_serve(args.serve_payments)


if __name__ == "__main__":
    main()
