"""Planted payment downtimes: each outage fails most of the payments its instrument took while it
lasted (a success-rate dip in the data), and is announced the way Razorpay announces one: the
downtimes API and payment.downtime.started / updated / resolved webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandbox import catalogue as cat
from sandbox.generator import DAY, HOUR, IST_OFFSET, Dataset, _rng, short_hash
from sandbox.tables import NEVER, Downtime

MIN_HIT = 3  # successful payments an outage must find in its window to be a visible dip
MAX_HOURS = 8


@dataclass(frozen=True)
class Outage:
    """What to plant: the instrument (a payment attribute and its value), how long, how bad."""

    method: int
    instrument: dict[str, str]  # as the API names it: bank | network | vpa_handle | issuer …
    match: dict[str, int]  # the Payments columns (and values) that identify the instrument
    days_ago: int
    ist_hour: int
    hours: int
    severity: str
    failure: str  # the failure reason the affected payments get
    fail_share: float


OUTAGES: tuple[Outage, ...] = (
    Outage(cat.M_NETBANKING, {"bank": "SBIN"}, {"bank": cat.BANKS.index("SBIN")}, 2, 11, 3, "high",
           "bank_technical_error", 0.85),
    Outage(cat.M_UPI, {"vpa_handle": "ybl"}, {"upi_handle": cat.UPI_HANDLES.index("ybl")}, 3, 19, 2,
           "medium", "gateway_technical_error", 0.75),
    Outage(cat.M_CARD, {"network": "RuPay", "card_type": "debit"},
           {"network": cat.N_RUPAY, "card_type": cat.CARD_TYPES.index("debit")}, 4, 13, 2, "high",
           "bank_technical_error", 0.8),
)  # fmt: skip


def plant_downtimes(ds: Dataset) -> None:
    """Fail most successful payments of each outage's instrument inside its window; record the outage.

    Runs before every other plant, so nothing else is chosen from the payments it fails.
    """
    rng = _rng(ds.config.seed, 5)
    p = ds.payments
    today = (ds.now + IST_OFFSET) // DAY
    for number, outage in enumerate(OUTAGES):
        begin = (today - outage.days_ago) * DAY - IST_OFFSET + outage.ist_hour * HOUR
        # A small history has little traffic per instrument: the outage lasts until it has hit some.
        for hours in range(outage.hours, MAX_HOURS + 1):
            end = begin + hours * HOUR
            affected = (p.created >= begin) & (p.created < end) & (p.method == outage.method)
            for column, value in outage.match.items():
                affected &= getattr(p, column) == value
            succeeded = np.flatnonzero(affected & (p.failure == -1) & (p.captured != NEVER))
            if len(succeeded) >= MIN_HIT:
                break
        if begin < ds.start + DAY or end > ds.now - HOUR or not len(succeeded):
            continue  # the history is too short (or too quiet) for this one
        failing = succeeded[rng.random(len(succeeded)) < outage.fail_share]
        if not len(failing):
            failing = succeeded[:1]
        p.authorized[failing] = NEVER
        p.captured[failing] = NEVER
        p.failed[failing] = p.created[failing] + rng.integers(5, 90, size=len(failing))
        p.failure[failing] = cat.F[outage.failure]
        p.planted[failing] = True
        downtime = Downtime(
            id="down_" + short_hash(ds.config.seed, "downtime", number),
            method=cat.METHODS[outage.method],
            instrument=outage.instrument,
            severity=outage.severity,
            begin=begin,
            end=end,
            # Razorpay notices an outage a few minutes in and raises its severity once it persists.
            created=begin + 120,
            updated=begin + 30 * 60,
            payments=int(affected.sum()),
            failed_by_outage=["pay_" + raw.decode() for raw in p.id[failing].tolist()],
        )
        ds.downtimes.append(downtime)
    ds.downtimes.sort(key=lambda d: (d.created, d.id))
