"""Plants the conditions the alert rules must find (issue #14 §6), when `SandboxConfig.alert_plants` is on:
busy netbanking hours (enough attempts for the success-drop rule) carrying a real drop for one bank, a
declared outage's dip and an undeclared dip; a webhook silence in a busy hour; a card-testing burst and a
velocity outlier. Each is recorded in the manifest's `alert_plants` with its window, what it holds, and
when the alert must be open (`check_at`, within `holds` from/until).

All of it is planted traffic (`Payments.planted`), kept out of every other plant, so it adds no anomaly
of another kind. A bank's busy hour comes every day, so the rule's baseline (the same hour of the same
weekday over the previous weeks) has the counts it needs; every other day it succeeds at exactly the
bank's usual rate, so only the planted day differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox import catalogue as cat
from sandbox import events as ev
from sandbox.downtimes import OUTAGES
from sandbox.generator import DAY, HOUR, IST_OFFSET, Dataset, _fees, _rng
from sandbox.render import _contact, _email
from sandbox.tables import NEVER, IntArray, Payments, random_ids

# Netbanking attempts of one bank in its busy hour, every day: over the success-drop minimum of 30 in the
# hour, and of 100 in the baseline (the same hour of the same weekday) from three earlier weeks.
BUSY_ATTEMPTS = 45
# Planted identities are far beyond any generated customer number (they are fresh people).
PLANTED_CUSTOMER = 1_000_000_000
DECLARED = OUTAGES[0]  # the SBIN netbanking outage of sandbox/downtimes.py


@dataclass(frozen=True)
class BusyHour:
    what: str
    bank: str
    days_ago: int  # the plant's day; the busy hour is there every day of the history
    ist_hour: int
    # The plant day's success rate; None = the usual rate (the declared outage then fails most of it).
    rate: float | None


BUSY_HOURS: tuple[BusyHour, ...] = (
    BusyHour("bank_drop", "HDFC", 5, 14, 0.55),
    BusyHour("declared_downtime_dip", cat.BANKS[DECLARED.match["bank"]], DECLARED.days_ago, DECLARED.ist_hour, None),
    BusyHour("undeclared_dip", "ICIC", 6, 16, 0.15),
)  # fmt: skip
# The webhook silence: payment.captured withheld for the whole of the bank drop's busy hour a week earlier.
SILENCE_EVENT = "payment.captured"
SILENCE_WEEKS_BEFORE = 1
CARD_TESTING_DAYS_AGO, CARD_TESTING_IST_HOUR, CARD_TESTING_ATTEMPTS = 8, 2, 8
VELOCITY_DAYS_AGO, VELOCITY_IST_HOUR, VELOCITY_PAYMENTS = 15, 10, 12


def _hour_start(ds: Dataset, days_ago: int, ist_hour: int, weeks_before: int = 0) -> int:
    today = (ds.now + IST_OFFSET) // DAY
    return (today - days_ago - 7 * weeks_before) * DAY - IST_OFFSET + ist_hour * HOUR


def _in_history(ds: Dataset, begin: int, end: int) -> bool:
    return begin >= ds.start + DAY and end <= ds.now - HOUR


def _payments(
    rng: np.random.Generator,
    created: IntArray,
    success: np.ndarray[Any, np.dtype[np.bool_]],
    *,
    method: int,
    failure: str,
    customer: IntArray,
    amount: IntArray,
    bank: int = -1,
    network: IntArray | None = None,
    upi_handle: int = -1,
) -> Payments:
    """Orderless domestic INR attempts, planted, captured a minute after they succeed."""
    n = len(created)
    authorized = np.where(success, created + rng.integers(2, 45, size=n), NEVER)
    captured = np.where(success, authorized + rng.integers(1, 60, size=n), NEVER)
    failed = np.where(success, NEVER, created + rng.integers(5, 600, size=n))
    card_network = network if network is not None else np.full(n, -1)
    fee, tax = _fees(rng, amount, np.full(n, method), card_network, np.zeros(n, dtype=bool))
    small = np.full(n, -1, dtype=np.int16)
    return Payments(
        id=random_ids(rng, n),
        order=np.full(n, NEVER, dtype=np.int64),
        attempt=np.ones(n, dtype=np.int16),
        created=created.astype(np.int64),
        authorized=authorized.astype(np.int64),
        captured=captured.astype(np.int64),
        failed=failed.astype(np.int64),
        amount=amount.astype(np.int64),
        currency=np.full(n, cat.CURRENCIES.index("INR"), dtype=np.int16),
        base_amount=amount.astype(np.int64),
        country=np.zeros(n, dtype=np.int16),
        international=np.zeros(n, dtype=bool),
        method=np.full(n, method, dtype=np.int16),
        network=card_network.astype(np.int16),
        card_type=np.where(card_network >= 0, cat.CARD_TYPES.index("debit"), -1).astype(np.int16),
        issuer=np.where(card_network >= 0, cat.BANKS.index("HDFC"), -1).astype(np.int16),
        bank=np.full(n, bank, dtype=np.int16),
        wallet=small.copy(),
        upi_flow=np.full(n, 0 if upi_handle >= 0 else -1, dtype=np.int16),
        upi_handle=np.full(n, upi_handle, dtype=np.int16),
        upi_payer=np.full(n, 0 if upi_handle >= 0 else -1, dtype=np.int16),
        failure=np.where(success, -1, cat.F[failure]).astype(np.int16),
        customer=customer.astype(np.int64),
        last4=rng.integers(0, 10_000, size=n).astype(np.int16),
        fee=np.where(success, fee, 0),
        tax=np.where(success, tax, 0),
        notes_country=np.zeros(n, dtype=bool),
        empty_error_code=np.zeros(n, dtype=bool),
        refund=np.full(n, NEVER, dtype=np.int64),
        planted=np.ones(n, dtype=bool),
        unsettled=np.zeros(n, dtype=bool),
        line_amount_delta=np.zeros(n, dtype=np.int64),
        line_fee_delta=np.zeros(n, dtype=np.int64),
    )


def _exactly(rng: np.random.Generator, n: int, rate: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """n outcomes with exactly round(n × rate) successes, in random order."""
    success = np.zeros(n, dtype=bool)
    success[: round(n * rate)] = True
    rng.shuffle(success)
    return success


def _amounts(rng: np.random.Generator, n: int) -> IntArray:
    rupees = np.round(np.exp(rng.normal(np.log(900.0), 0.8, size=n)))
    amounts: IntArray = np.clip(rupees * 100, 100, 5_000_000).astype(np.int64)
    return amounts


def plant_traffic(ds: Dataset) -> None:
    """Add the planted attempts (before the outages and every other plant, so the declared outage fails
    its busy hour and nothing else is chosen from them) and note each plant for `record_alert_plants`."""
    rng = _rng(ds.config.seed, 9)
    added: list[Payments] = []
    customers = iter(range(PLANTED_CUSTOMER, PLANTED_CUSTOMER + 10_000_000))

    def fresh(n: int) -> IntArray:
        return np.array([next(customers) for _ in range(n)], dtype=np.int64)

    for busy in BUSY_HOURS:
        bank = cat.BANKS.index(busy.bank)
        usual = cat.BANK_SUCCESS[bank] * cat.HOUR_SUCCESS[busy.ist_hour]
        for days_ago in range(ds.config.days + 1):
            begin = _hour_start(ds, days_ago, busy.ist_hour)
            if not _in_history(ds, begin, begin + HOUR):
                continue
            planted_day = days_ago == busy.days_ago
            rate = busy.rate if planted_day and busy.rate is not None else usual
            created = np.sort(begin + rng.integers(0, HOUR, size=BUSY_ATTEMPTS))
            added.append(
                _payments(
                    rng,
                    created,
                    _exactly(rng, BUSY_ATTEMPTS, rate),
                    method=cat.M_NETBANKING,
                    failure="bank_technical_error" if planted_day else "payment_timed_out",
                    customer=fresh(BUSY_ATTEMPTS),
                    amount=_amounts(rng, BUSY_ATTEMPTS),
                    bank=bank,
                )
            )
            if planted_day:
                ds.alert_plants.append(
                    {
                        "what": busy.what,
                        "rule": "success_drop",
                        "slice": {"method": "netbanking", "bank": busy.bank},
                        "window": {"start": begin, "end": begin + HOUR},
                        "usual_rate": round(usual, 4),
                    }
                )

    # Card testing: one email and phone trying many cards with small amounts within minutes, at night.
    begin = _hour_start(ds, CARD_TESTING_DAYS_AGO, CARD_TESTING_IST_HOUR) + 7 * 60
    if _in_history(ds, begin, begin + HOUR):
        n = CARD_TESTING_ATTEMPTS
        created = begin + np.sort(rng.integers(0, 6 * 60, size=n))
        success = np.zeros(n, dtype=bool)
        success[n // 2] = True  # one card of the batch works
        tester = fresh(1)
        added.append(
            _payments(
                rng,
                created,
                success,
                method=cat.M_CARD,
                failure="card_declined",
                customer=np.repeat(tester, n),
                amount=rng.integers(1, 50, size=n) * 100,
                network=rng.choice([cat.N_VISA, cat.N_MASTERCARD], size=n),
            )
        )
        ds.alert_plants.append(
            {
                "what": "card_testing",
                "rule": "fraud_signal",
                "signal": "card_testing",
                "identity": {"email": _email(int(tester[0])), "contact": _contact(0, int(tester[0]))},
                "window": {"start": int(created[0]), "end": int(created[-1]) + 1},
                "attempts": n,
                "failures": n - 1,
            }
        )

    # Velocity: one customer paying again and again by UPI over five hours of one day.
    begin = _hour_start(ds, VELOCITY_DAYS_AGO, VELOCITY_IST_HOUR)
    if _in_history(ds, begin, begin + 6 * HOUR):
        n = VELOCITY_PAYMENTS
        created = begin + np.sort(rng.integers(0, 5 * HOUR, size=n))
        buyer = fresh(1)
        added.append(
            _payments(
                rng,
                created,
                np.ones(n, dtype=bool),
                method=cat.M_UPI,
                failure="payment_timed_out",
                customer=np.repeat(buyer, n),
                amount=_amounts(rng, n),
                upi_handle=cat.UPI_HANDLES.index("okhdfcbank"),
            )
        )
        ds.alert_plants.append(
            {
                "what": "velocity",
                "rule": "fraud_signal",
                "signal": "velocity",
                "identity": {"email": _email(int(buyer[0])), "contact": _contact(0, int(buyer[0]))},
                "window": {"start": int(created[0]), "end": int(created[-1]) + 1},
                "successful": n,
            }
        )

    payments = ds.payments
    for table in added:
        payments = payments.concat(table)
    ds.payments = payments.take(np.lexsort((payments.id, payments.created)))
    _hold_silence(ds)
    ds.reindex()


def _silence_window(ds: Dataset) -> tuple[int, int] | None:
    drop = BUSY_HOURS[0]
    begin = _hour_start(ds, drop.days_ago, drop.ist_hour, SILENCE_WEEKS_BEFORE)
    return (begin, begin + HOUR) if _in_history(ds, begin, begin + HOUR) else None


def _hold_silence(ds: Dataset) -> None:
    """Keep every payment captured in the silent hour out of the other plants (its capture must stay)."""
    window = _silence_window(ds)
    if window is None:
        return
    p = ds.payments
    p.planted[(p.captured >= window[0]) & (p.captured < window[1])] = True


def record_alert_plants(ds: Dataset) -> None:
    """After every other plant: withhold the silent hour's events, and complete each plant's record with
    what the data now holds and when its alert must be open."""
    p = ds.payments
    for plant in ds.alert_plants:
        begin, end = plant["window"]["start"], plant["window"]["end"]
        if plant["rule"] == "success_drop":
            bank = cat.BANKS.index(plant["slice"]["bank"])
            in_slice = (
                (p.created >= begin) & (p.created < end) & (p.method == cat.M_NETBANKING) & (p.bank == bank)
            )
            succeeded = in_slice & (p.authorized != NEVER) & (p.authorized <= ds.now)
            covering = [
                d.id
                for d in ds.downtimes
                if d.instrument.get("bank") == plant["slice"]["bank"] and d.begin < end and d.end > begin
            ]
            plant.update(
                attempts=int(in_slice.sum()),
                successes=int(succeeded.sum()),
                downtime=covering[0] if covering else None,
                # The rule reads the last whole IST hour: open for the hour after the window.
                check_at=end + 5 * 60,
                holds={"from": end, "until": end + HOUR},
            )
        else:
            email = plant["identity"]["email"]
            mine = np.flatnonzero(
                (p.created >= begin)
                & (p.created < end)
                & (p.customer >= PLANTED_CUSTOMER)
                & (p.method != cat.M_NETBANKING)
            )
            ids = [int(i) for i in mine if _email(int(p.customer[i])) == email]
            plant["payment_ids"] = ["pay_" + p.id[i].decode() for i in ids]
            # Risk signals read the 24 hours before the moment: open once the last attempt is in, until
            # the first one has left the window.
            plant.update(check_at=end + 60, holds={"from": begin, "until": end + DAY})

    window = _silence_window(ds)
    if window is None:
        return
    begin, end = window
    silenced = np.flatnonzero((p.captured >= begin) & (p.captured < end))
    for i in silenced.tolist():
        event = ev.Event(int(p.captured[i]), SILENCE_EVENT, i)
        identifier = ev.event_id(ds, event)
        ds.webhook_faults[identifier] = {
            "kind": "missing",
            "event_type": SILENCE_EVENT,
            "ids": ev.related_ids(ds, event),
            "plant": "webhook_silence",
        }
        ds.anomalies.append(
            {
                "kind": "webhook_missing",
                "ids": ev.related_ids(ds, event),
                "detail": {"event_id": identifier, "event_type": SILENCE_EVENT, "plant": "webhook_silence"},
            }
        )
    created_in_hour = (p.created >= begin) & (p.created < end)
    ds.alert_plants.append(
        {
            "what": "webhook_silence",
            "rule": "webhook_silence",
            "event_type": SILENCE_EVENT,
            "window": {"start": begin, "end": end},
            "events_withheld": len(silenced),
            "api_successes": int(
                (created_in_hour & (p.authorized != NEVER) & (p.authorized <= ds.now)).sum()
            ),
            # The rule reads the last whole hour that ended five minutes before the moment.
            "check_at": end + 10 * 60,
            "holds": {"from": end + 5 * 60, "until": end + 65 * 60},
        }
    )
