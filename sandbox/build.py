"""Deterministic generation of a merchant's Razorpay history, plus the planted anomalies of the manifest.

`generate(SandboxConfig) -> Dataset`. The data set is a pure function of the config; the tables and
their clock are sandbox/generator.py, the planting is sandbox/anomalies.py.
"""

from __future__ import annotations

import numpy as np

from sandbox.anomalies import plant_all
from sandbox.generator import DAY, HORIZON_SECONDS, Dataset, SandboxConfig, drop_orderless, generate_chunk
from sandbox.tables import Lines, Refunds, Settlements

__all__ = ["Dataset", "SandboxConfig", "generate"]


def generate(config: SandboxConfig) -> Dataset:
    """The whole data set for `config`: `days` of history ending at `now`, plus a hidden horizon."""
    now = config.resolved_now()
    start = now - config.days * DAY
    until = now + HORIZON_SECONDS
    chunk = generate_chunk(config.seed, 0, start, until, config.payments_per_day)
    orders, payments = drop_orderless(chunk)
    order = np.lexsort((payments.id, payments.created))
    payments = payments.take(order)
    empty_refunds = Refunds(
        id=np.zeros(0, dtype="S14"),
        payment=np.zeros(0, np.int64),
        created=np.zeros(0, np.int64),
        processed=np.zeros(0, np.int64),
        failed=np.zeros(0, np.int64),
        amount=np.zeros(0, np.int64),
        undebited=np.zeros(0, dtype=bool),
    )
    dataset = Dataset(
        config=config,
        now=now,
        start=start,
        generated_until=until,
        chunks=0,
        payments=payments,
        orders=orders,
        refunds=empty_refunds,
        settlements=Settlements.empty(),
        lines=Lines.empty(),
        settlement_adjust={},
        anomalies=[],
        webhook_faults={},
        conflict_events=[],
    )
    plant_all(dataset)
    return dataset
