"""The tiered look-back's proof at its full size (issue 13 §2): runs every 5 simulated minutes over 2
simulated days against the sandbox's moving time (captures, refunds, late authorisations, new records),
its webhooks landing in the receiver's store between runs. Prints the requests the tiered runs made,
what today's every-run full look-back would have made (each run costing what a full pass's lists
cost), their ratio, and checks exact parity at the end. tests/sync/test_tiers.py covers the same
mechanics over 6 simulated hours.

    nice -n 10 .venv/bin/python -m bench.bench_sync_tiers --payments-per-day 30000

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from data.db import make_engine
from data.migrate import upgrade
from sync.tiers import parse_tiers
from tests.support.sandbox import start_sandbox
from tests.support.sync_helpers import assert_parity
from tests.support.tiered import run_tiered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments-per-day", type=int, default=30_000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--every-minutes", type=int, default=5)
    parser.add_argument("--tiers", default="30m@run,full@1d")
    args = parser.parse_args()

    runs = args.hours * 60 // args.every_minutes
    tiers = parse_tiers(args.tiers)
    sandbox = start_sandbox(seed=13, days=4, payments_per_day=args.payments_per_day)
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            engine = make_engine(url)
            upgrade(engine)
            started = time.perf_counter()
            outcome = run_tiered(
                engine, sandbox, url, tiers=tiers, every=timedelta(minutes=args.every_minutes), runs=runs
            )
            elapsed = time.perf_counter() - started
            counts = assert_parity(engine, sandbox)
    finally:
        sandbox.stop()

    full_runs = [run for run in outcome.runs if run.tier is not None and run.tier.startswith("full")]
    per_full_run = max(outcome.list_requests(run) for run in full_runs) if full_runs else 0
    todays = len(outcome.runs) * per_full_run
    tiers_seen = Counter(run.tier for run in outcome.runs)
    print(
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.payments_per_day:,} payments/day, "
        f"{runs} runs every {args.every_minutes} simulated min over {args.hours} h ({elapsed:.0f} s wall); "
        f"tiers {args.tiers}: {dict(tiers_seen)}"
    )
    print(
        f"requests: tiered {outcome.requests:,} ({outcome.by_id:,} of them by id, for what "
        f"{outcome.webhooks_stored:,} stored webhook deliveries named); today's {todays:,} "
        f"({len(outcome.runs)} runs × {per_full_run:,}, the lists of a full pass) = "
        f"{outcome.requests / max(1, todays):.1%}"
    )
    print(f"parity exact at the end: {counts}")


if __name__ == "__main__":
    main()
