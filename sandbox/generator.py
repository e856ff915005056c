"""A merchant's Razorpay history as numpy tables: orders, payment attempts, refunds, settlements and
recon lines, generated deterministically in chunks of time, and the `Dataset` that holds them.

The building blocks shared by sandbox/generator.py (which assembles a data set) and
sandbox/anomalies.py (which plants the manifest's anomalies into it). The clock can be moved with
`Dataset.advance`, which reveals the timeline that was generated past `now`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from data.ist import IST_OFFSET_SECONDS
from sandbox import catalogue as cat
from sandbox.tables import (
    NEVER,
    Disputes,
    Downtime,
    IdArray,
    IntArray,
    Lines,
    Orders,
    Payments,
    Refunds,
    Settlements,
    random_ids,
)

IST_OFFSET = IST_OFFSET_SECONDS  # seconds east of UTC
DAY = 86_400
HOUR = 3_600
# Timeline generated beyond `now`, so moving the clock reveals captures, refunds and new payments.
HORIZON_SECONDS = 2 * DAY
# Average payments per order (retries after failures, minus orders that are never attempted); used to
# size the order count so that payments-per-day comes out close to what was asked.
PAYMENTS_PER_ORDER = 1.031
SETTLEMENT_BUSINESS_DAYS = 2
# Planted anomalies of the "old enough" kinds lie at least this far in the past, beyond any T+3.
PLANT_MIN_AGE = 7 * DAY
WEBHOOK_FAULT_WINDOW = 48 * HOUR
INR = cat.CURRENCIES.index("INR")
LOST = cat.DISPUTE_OUTCOMES.index("lost")


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    seed: int = 7
    days: int = 30
    payments_per_day: int = 2000
    now: int | None = None  # epoch seconds; None = the current time floored to the minute
    anomaly_rate: float = 0.002
    # Also plant the conditions the alert rules must find (sandbox/alert_plants.py): busy hours with a
    # success drop, a declared outage's dip and an undeclared dip, a webhook silence, card testing and
    # a velocity outlier. Off by default: it adds traffic that other tests' figures do not expect.
    alert_plants: bool = False

    def resolved_now(self) -> int:
        return int(self.now) if self.now is not None else int(time.time()) // 60 * 60


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def ist_day(epoch: IntArray) -> IntArray:
    return (epoch + IST_OFFSET) // DAY


def weekday(day: IntArray) -> IntArray:
    """Monday = 0 for an epoch day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


# Calendar days to add to reach T+2 business days, by weekday of T (weekends count from Monday).
_T_PLUS_2 = np.array([2, 2, 2, 4, 4, 4, 3], dtype=np.int64)


def settlement_day(capture_day: IntArray) -> IntArray:
    """The IST day on which activity of `capture_day` settles: T+2 business days, Sat/Sun skipped."""
    return capture_day + _T_PLUS_2[weekday(capture_day)]


def _choice(
    rng: np.random.Generator, weights: tuple[float, ...] | list[float], n: int
) -> npt.NDArray[np.int16]:
    p = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int16)


def _mix(seed: int, values: IntArray) -> npt.NDArray[np.uint64]:
    """A deterministic 64-bit hash of each value (splitmix64 of seed and value): per-entity draws
    that do not depend on the order of the random stream."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return mixed


def _pick_by(hashes: npt.NDArray[np.uint64], weights: tuple[float, ...]) -> npt.NDArray[np.int16]:
    """An index into `weights` for each hash, drawn with those weights from the hash's top 53 bits."""
    p = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    uniform = (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.searchsorted(cdf, uniform, side="right").astype(np.int16)


def _card_last4(rng: np.random.Generator, card: npt.NDArray[np.uint64]) -> npt.NDArray[np.int16]:
    """Each card's last four digits, from its hash. The random draw that once gave them is still made,
    in its old place, so every later draw of the chunk (ids, quirks, orders) is what it always was."""
    rng.integers(0, 10_000, size=len(card))
    return ((card >> np.uint64(40)) % np.uint64(10_000)).astype(np.int16)


_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Byte value -> base62 character (b % 62): a slight bias is irrelevant for ids.
_BYTE_TO_BASE62 = bytes(_BASE62[b % 62] for b in range(256))


def short_hash(*parts: object, length: int = 14) -> str:
    """A deterministic base62 id fragment from its parts (event ids, settlement ids, UTRs)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=max(length, 1)).digest()
    return digest[:length].translate(_BYTE_TO_BASE62).decode()


def hash_int(*parts: object) -> int:
    """A deterministic 64-bit integer from its parts (latencies, reference numbers)."""
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


# ---------------------------------------------------------------------------------------------
# Orders and payment attempts for one window of time
# ---------------------------------------------------------------------------------------------
def _order_times(rng: np.random.Generator, start: int, end: int, count: int) -> IntArray:
    minutes = np.arange(start // 60, (end + 59) // 60, dtype=np.int64) * 60
    hours = ((minutes + IST_OFFSET) // HOUR) % 24
    days = ist_day(minutes)
    first_day = int(days[0])
    day_noise = rng.lognormal(0.0, 0.08, size=int(days[-1]) - first_day + 1)
    weights = (
        np.asarray(cat.HOUR_TRAFFIC)[hours]
        * np.asarray(cat.WEEKDAY_TRAFFIC)[weekday(days)]
        * day_noise[days - first_day]
        * (1.0 + 0.003 * (days - first_day))
    )
    cdf = np.cumsum(weights)
    picked = np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right")
    times = minutes[np.minimum(picked, len(minutes) - 1)] + rng.integers(0, 60, size=count)
    clipped: IntArray = np.clip(times, start, end - 1)
    return clipped


def _amounts(rng: np.random.Generator, domestic: npt.NDArray[np.bool_]) -> IntArray:
    n = len(domestic)
    rupees = np.exp(rng.normal(np.log(900.0), 1.05, size=n))
    rupees = np.where(rng.random(n) < 0.7, np.round(rupees), np.round(rupees, 2))
    inr = np.clip((rupees * 100).astype(np.int64), 100, 20_000_000)
    units = np.exp(rng.normal(np.log(55.0), 0.9, size=n))
    foreign = np.clip((np.round(units, 2) * 100).astype(np.int64), 100, 1_000_000)
    return np.where(domestic, inr, foreign)


@dataclasses.dataclass
class Chunk:
    orders: Orders
    payments: Payments
    # Orders whose payments carry order_id null (Razorpay allows payments without an order).
    orderless: npt.NDArray[np.bool_]


def generate_chunk(seed: int, chunk: int, start: int, end: int, payments_per_day: int) -> Chunk:
    """Orders created in [start, end) and all their payment attempts, with full timelines."""
    rng = _rng(seed, 1, chunk)
    expected_payments = payments_per_day * (end - start) / DAY
    n_orders = max(1, round(expected_payments / PAYMENTS_PER_ORDER))
    order_created = np.sort(_order_times(rng, start, end, n_orders))

    domestic = rng.random(n_orders) < cat.INDIA_SHARE
    country = np.where(domestic, 0, 1 + _choice(rng, cat.ABROAD_WEIGHTS, n_orders)).astype(np.int16)
    currency_of_country = np.array([cat.CURRENCIES.index(c) for c in cat.COUNTRY_CURRENCY], dtype=np.int16)
    currency = currency_of_country[country]
    amount = _amounts(rng, domestic)
    notes_country = rng.random(n_orders) < np.where(domestic, 0.04, 0.35)
    orderless = rng.random(n_orders) < 0.03
    never_attempted = (rng.random(n_orders) < 0.05) & ~orderless
    retry_draw = rng.random((n_orders, 3))
    pool = max(500, n_orders // 3)
    # Returning customers, a few of them often, but none more than a couple of orders a day (the
    # velocity signal's business); customers abroad are other people than those in India.
    customer = (pool * rng.random(n_orders) ** 1.5).astype(np.int64)
    customer = np.where(domestic, customer, customer + pool)

    # Three candidate attempts per order; which ones happen depends on the earlier outcomes.
    n_slots = n_orders * 3
    slot_order = np.repeat(np.arange(n_orders, dtype=np.int64), 3)
    slot_domestic = domestic[slot_order]
    method = np.where(
        slot_domestic,
        _choice(rng, cat.INDIA_METHOD_WEIGHTS, n_slots),
        _choice(rng, cat.ABROAD_METHOD_WEIGHTS, n_slots),
    ).astype(np.int16)
    # A customer keeps the method of the previous attempt half of the time.
    keep = rng.random(n_slots) < 0.5
    keep[0::3] = False
    for offset in (1, 2):
        idx = np.arange(offset, n_slots, 3)
        method[idx] = np.where(keep[idx], method[idx - 1], method[idx])

    is_card = (method == cat.M_CARD) | (method == cat.M_EMI)
    # Drawn and not used (the card's network follows from the customer, below), so every later draw of
    # the chunk is what it always was.
    _choice(rng, cat.INDIA_NETWORK_WEIGHTS, n_slots)
    _choice(rng, cat.ABROAD_NETWORK_WEIGHTS, n_slots)
    # A customer pays by card with one of their own two cards (the second on a retry), so one customer
    # shows at most two cards, as a real one does: the card's network and last4 follow from it.
    card = _mix(seed, customer[slot_order] * 2 + np.tile(np.array([0, 1, 0], dtype=np.int64), n_orders))
    network = np.where(
        slot_domestic,
        _pick_by(card, cat.INDIA_NETWORK_WEIGHTS),
        _pick_by(card, cat.ABROAD_NETWORK_WEIGHTS),
    ).astype(np.int16)
    card_type = _choice(rng, cat.CARD_TYPE_WEIGHTS, n_slots)
    card_type = np.where(
        (method == cat.M_EMI) | (network == cat.N_AMEX) | (network == cat.N_DINERS), 1, card_type
    ).astype(np.int16)
    issuer = np.where(slot_domestic & is_card, _choice(rng, cat.BANK_WEIGHTS, n_slots), -1).astype(np.int16)
    bank = np.where(method == cat.M_NETBANKING, _choice(rng, cat.BANK_WEIGHTS, n_slots), -1).astype(np.int16)
    wallet = np.where(
        method == cat.M_WALLET,
        np.where(slot_domestic, _choice(rng, cat.INDIA_WALLET_WEIGHTS, n_slots), cat.WALLETS.index("paypal")),
        np.where(method == cat.M_PAYLATER, _choice(rng, cat.PAYLATER_WEIGHTS, n_slots), -1),
    ).astype(np.int16)
    is_upi = method == cat.M_UPI
    upi_flow = np.where(is_upi, _choice(rng, cat.UPI_FLOW_WEIGHTS, n_slots), -1).astype(np.int16)
    upi_handle = np.where(is_upi, _choice(rng, cat.UPI_HANDLE_WEIGHTS, n_slots), -1).astype(np.int16)
    upi_payer = np.where(is_upi, _choice(rng, cat.UPI_PAYER_ACCOUNT_WEIGHTS, n_slots), -1).astype(np.int16)
    network = np.where(is_card, network, -1).astype(np.int16)
    card_type = np.where(is_card, card_type, -1).astype(np.int16)

    # Attempt times: the first a few seconds after the order, retries minutes apart.
    gaps = np.where(
        np.tile(np.array([True, False, False]), n_orders),
        rng.integers(3, 90, size=n_slots),
        rng.integers(20, 400, size=n_slots),
    )
    created = order_created[slot_order] + np.cumsum(gaps.reshape(n_orders, 3), axis=1).reshape(n_slots)
    ist_hour = ((created + IST_OFFSET) // HOUR) % 24

    success_p = (
        np.select(
            [
                is_upi,
                (method == cat.M_CARD) & ~slot_domestic,
                method == cat.M_CARD,
                method == cat.M_NETBANKING,
                method == cat.M_WALLET,
            ],
            [
                np.asarray(cat.UPI_FLOW_SUCCESS)[np.maximum(upi_flow, 0)],
                np.full(n_slots, cat.INTERNATIONAL_CARD_SUCCESS),
                np.asarray(cat.NETWORK_SUCCESS)[np.maximum(network, 0)],
                np.asarray(cat.BANK_SUCCESS)[np.maximum(bank, 0)],
                np.asarray(cat.WALLET_SUCCESS)[np.maximum(wallet, 0)],
            ],
            default=np.asarray(cat.METHOD_SUCCESS)[method],
        )
        * np.asarray(cat.HOUR_SUCCESS)[ist_hour]
    )
    success = rng.random(n_slots) < success_p

    happens = np.zeros((n_orders, 3), dtype=bool)
    succ = success.reshape(n_orders, 3)
    happens[:, 0] = ~never_attempted
    happens[:, 1] = happens[:, 0] & ~succ[:, 0] & (retry_draw[:, 1] < 0.5) & ~orderless
    happens[:, 2] = happens[:, 1] & ~succ[:, 1] & (retry_draw[:, 2] < 0.4)
    last = happens & ~np.concatenate([happens[:, 1:], np.zeros((n_orders, 1), dtype=bool)], axis=1)
    happens_flat = happens.reshape(n_slots)
    last_flat = last.reshape(n_slots)

    # Failure reasons by kind of payment.
    kind = np.select(
        [
            is_upi,
            (method == cat.M_CARD) & ~slot_domestic,
            method == cat.M_CARD,
            method == cat.M_NETBANKING,
            method == cat.M_WALLET,
            method == cat.M_EMI,
        ],
        [0, 2, 1, 3, 4, 5],
        default=6,
    )
    failure = np.full(n_slots, -1, dtype=np.int16)
    for k, name in enumerate(cat.FAILURE_KINDS):
        mask = (kind == k) & ~success
        failure[mask] = _choice(rng, cat.failure_weights(name), int(mask.sum()))

    # Timelines. Late authorisation happens only to an order's last attempt (so never a second capture).
    authorized = np.full(n_slots, NEVER, dtype=np.int64)
    captured = np.full(n_slots, NEVER, dtype=np.int64)
    failed = np.full(n_slots, NEVER, dtype=np.int64)
    auth_delay = np.where(
        upi_flow == 1, rng.integers(15, 300, size=n_slots), rng.integers(2, 45, size=n_slots)
    )
    authorized[success] = created[success] + auth_delay[success]
    failed[~success] = created[~success] + rng.integers(5, 600, size=n_slots)[~success]
    late_reasons = np.isin(
        failure, [cat.F["payment_timed_out"], cat.F["bank_technical_error"], cat.F["gateway_technical_error"]]
    )
    late = ~success & late_reasons & last_flat & (rng.random(n_slots) < 0.25)
    authorized[late] = failed[late] + rng.integers(300, 2 * HOUR, size=n_slots)[late]
    capture_kind = rng.random(n_slots)
    capture_delay = np.select(
        [capture_kind < 0.7, capture_kind < 0.9],
        [rng.integers(1, 60, size=n_slots), rng.integers(60, HOUR, size=n_slots)],
        default=rng.integers(HOUR, 20 * HOUR, size=n_slots),
    )
    has_auth = authorized != NEVER
    captured[has_auth] = authorized[has_auth] + capture_delay[has_auth]

    # Razorpay charges (and settles) in INR: the fee is a share of the base amount.
    base_amount = to_base(amount, currency)
    fee, tax = _fees(rng, base_amount[slot_order], method, network, ~slot_domestic)

    keep_idx = np.flatnonzero(happens_flat)
    n = len(keep_idx)
    payments = Payments(
        id=random_ids(rng, n_slots)[keep_idx],
        order=slot_order[keep_idx],
        attempt=(np.tile(np.arange(1, 4, dtype=np.int16), n_orders))[keep_idx],
        created=created[keep_idx],
        authorized=authorized[keep_idx],
        captured=captured[keep_idx],
        failed=failed[keep_idx],
        amount=amount[slot_order][keep_idx],
        currency=currency[slot_order][keep_idx],
        base_amount=base_amount[slot_order][keep_idx],
        country=country[slot_order][keep_idx],
        international=~slot_domestic[keep_idx],
        method=method[keep_idx],
        network=network[keep_idx],
        card_type=card_type[keep_idx],
        issuer=issuer[keep_idx],
        bank=bank[keep_idx],
        wallet=wallet[keep_idx],
        upi_flow=upi_flow[keep_idx],
        upi_handle=upi_handle[keep_idx],
        upi_payer=upi_payer[keep_idx],
        failure=failure[keep_idx],
        customer=customer[slot_order][keep_idx],
        last4=_card_last4(rng, card)[keep_idx],
        fee=fee[keep_idx],
        tax=tax[keep_idx],
        notes_country=notes_country[slot_order][keep_idx],
        empty_error_code=(rng.random(n_slots) < 0.04)[keep_idx],
        refund=np.full(n, NEVER, dtype=np.int64),
        planted=np.zeros(n, dtype=bool),
        unsettled=np.zeros(n, dtype=bool),
        line_amount_delta=np.zeros(n, dtype=np.int64),
        line_fee_delta=np.zeros(n, dtype=np.int64),
    )
    orders = Orders(
        id=random_ids(rng, n_orders),
        created=order_created,
        amount=amount,
        currency=currency,
        receipt=rng.integers(10_000_000, 99_999_999, size=n_orders),
        notes_country=notes_country,
        country=country,
        paid_override=np.full(n_orders, NEVER, dtype=np.int64),
    )
    return Chunk(orders=orders, payments=payments, orderless=orderless)


def to_base(amount: IntArray, currency: npt.NDArray[np.int16]) -> IntArray:
    """The INR (paise) an amount in minor units of `currency` is credited as."""
    rate = np.asarray(cat.PAISE_PER_100_MINOR, dtype=np.int64)[currency]
    converted: IntArray = amount * rate // 100
    return converted


def drop_orderless(chunk: Chunk) -> tuple[Orders, Payments]:
    """Remove the orders whose payments were made without one (those payments get order NEVER) and
    sort the rest by (created, id), the order every list is served in."""
    kept = np.flatnonzero(~chunk.orderless)
    orders = chunk.orders.take(kept)
    by_time = np.lexsort((orders.id, orders.created))
    orders = orders.take(by_time)
    new_index = np.full(len(chunk.orders), NEVER, dtype=np.int64)
    new_index[kept[by_time]] = np.arange(len(kept))
    payments = chunk.payments
    payments.order = new_index[payments.order]
    return orders, payments


def fee_class(
    method: IntArray | npt.NDArray[np.int16], network: Any, international: Any
) -> npt.NDArray[np.int16]:
    """Index into catalogue.FEE_CLASSES for each payment."""
    premium = (network == cat.N_AMEX) | (network == cat.N_DINERS)
    return np.select(
        [
            international,
            method == cat.M_UPI,
            (method == cat.M_CARD) & premium,
            method == cat.M_CARD,
            method == cat.M_NETBANKING,
            method == cat.M_WALLET,
            method == cat.M_EMI,
        ],
        [3, 0, 2, 1, 4, 5, 6],
        default=7,
    ).astype(np.int16)


def split_fee(amount: IntArray, fee_bp: npt.NDArray[np.float64]) -> tuple[IntArray, IntArray]:
    """Razorpay's convention: `fee` includes GST, `tax` is the GST part (18% of the fee before tax)."""
    base = np.floor(amount * fee_bp / 10_000).astype(np.int64)
    # GST rounded down, so fee <= amount x rate x 1.18 holds exactly (no tolerance needed in fee checks).
    tax = base * cat.GST_RATE_PERCENT // 100
    return base + tax, tax


def _fees(
    rng: np.random.Generator, amount: IntArray, method: Any, network: Any, international: Any
) -> tuple[IntArray, IntArray]:
    classes = fee_class(method, network, international)
    low = np.array([r.low_bp for r in cat.FEE_RANGES], dtype=np.float64)[classes]
    high = np.array([r.high_bp for r in cat.FEE_RANGES], dtype=np.float64)[classes]
    return split_fee(amount, low + rng.random(len(amount)) * (high - low))


# ---------------------------------------------------------------------------------------------
# Refunds
# ---------------------------------------------------------------------------------------------
def generate_refunds(seed: int, chunk: int, payments: Payments, candidates: IntArray) -> Refunds:
    """Full and partial refunds for a share of the captured INR payments in `candidates`."""
    rng = _rng(seed, 2, chunk)
    n = len(candidates)
    chosen = candidates[rng.random(n) < 0.05]
    k = len(chosen)
    pay_amount = payments.amount[chosen]
    partial = rng.random(k) < 0.45
    partial_amount = np.maximum(100, (pay_amount * rng.uniform(0.1, 0.9, size=k)) // 100 * 100)
    amount = np.where(partial & (partial_amount < pay_amount), partial_amount, pay_amount)
    # Every state change of a payment or refund happens within 3 days of its creation (the sync's
    # look-back): captures within 22 h, refunds within 1.8 days of the capture, refund outcomes within
    # 2.9 days of the refund (failures within 3 h, since they change the payment back).
    delay = np.clip(rng.exponential(0.8 * DAY, size=k), 600, 1.8 * DAY).astype(np.int64)
    created = payments.captured[chosen] + delay
    outcome = rng.random(k)
    processed = np.where(outcome < 0.95, created + rng.integers(HOUR, 2 * DAY, size=k), NEVER)
    slow = (outcome >= 0.95) & (outcome < 0.97)
    processed = np.where(slow, created + rng.integers(2 * DAY, 2 * DAY + 21 * HOUR, size=k), processed)
    failed = np.where(outcome >= 0.97, created + rng.integers(HOUR, 3 * HOUR, size=k), NEVER)
    return Refunds(
        id=random_ids(rng, k),
        payment=chosen.astype(np.int64),
        created=created,
        processed=processed,
        failed=failed,
        amount=amount,
        undebited=np.zeros(k, dtype=bool),
    )


# ---------------------------------------------------------------------------------------------
# Settlements and recon lines
# ---------------------------------------------------------------------------------------------
def adjustment_ids(disputes: Disputes) -> IdArray:
    """The raw id of each dispute's adjustment line (the dispute id reversed: unique and stable)."""
    reversed_ids: IdArray = np.array([raw[::-1] for raw in disputes.id.tolist()], dtype="S14")
    return reversed_ids if len(disputes) else np.zeros(0, dtype="S14")


def build_settlements(
    seed: int,
    payments: Payments,
    refunds: Refunds,
    adjust: dict[tuple[int, int], int],
    disputes: Disputes | None = None,
    twins: Mapping[bytes, int] | None = None,
) -> tuple[Settlements, Lines]:
    """Group every capture (credit), every refund that gets processed (debit) and every lost dispute's
    deduction (adjustment debit) by T+2 business day. Everything settles in INR, the base currency: an
    international payment's line carries its base amount. Captures come within 20 hours, so a payment
    settles by T+3 business days of its creation. `twins` (payment id → 1 or 2) settles those payments
    on their own, one settlement each, beside their day's (sandbox.anomalies plants two of one amount)."""
    pay_idx = np.flatnonzero((payments.captured != NEVER) & ~payments.unsettled)
    ref_idx = np.flatnonzero((refunds.processed != NEVER) & ~refunds.undebited)
    pay_day = settlement_day(ist_day(payments.captured[pay_idx]))
    # Razorpay takes a refund out of the balance when it is created, so it is debited T+2 from then.
    ref_day = settlement_day(ist_day(refunds.created[ref_idx]))
    if disputes is not None and len(disputes):
        adj_idx = np.flatnonzero((disputes.resolved != NEVER) & (disputes.outcome == LOST))
    else:
        disputes = Disputes.empty()
        adj_idx = np.zeros(0, dtype=np.int64)
    adj_day = settlement_day(ist_day(disputes.resolved[adj_idx]))

    n_pay, n_ref, n_adj = len(pay_idx), len(ref_idx), len(adj_idx)
    kind = np.concatenate(
        [np.zeros(n_pay, dtype=np.int16), np.ones(n_ref, dtype=np.int16), np.full(n_adj, 2, dtype=np.int16)]
    )
    ref = np.concatenate([pay_idx, ref_idx, adj_idx]).astype(np.int64)
    tag = np.zeros(n_pay + n_ref + n_adj, dtype=np.int64)
    for payment_id, twin in (twins or {}).items():
        tag[:n_pay][payments.id[pay_idx] == payment_id] = twin
    # (settlement day, currency, twin tag): tag 0 is the day's own settlement.
    key = (np.concatenate([pay_day, ref_day, adj_day]) * 16 + INR) * 4 + tag
    created = np.concatenate(
        [payments.created[pay_idx], refunds.created[ref_idx], disputes.resolved[adj_idx]]
    ).astype(np.int64)
    entity_id = np.concatenate(
        [payments.id[pay_idx], refunds.id[ref_idx], adjustment_ids(disputes)[adj_idx]]
    ).astype("S14")
    amount = np.concatenate(
        [
            payments.base_amount[pay_idx] + payments.line_amount_delta[pay_idx],
            refunds.amount[ref_idx],
            disputes.amount[adj_idx],
        ]
    ).astype(np.int64)
    fee = np.concatenate(
        [payments.fee[pay_idx] + payments.line_fee_delta[pay_idx], np.zeros(n_ref + n_adj, np.int64)]
    )
    tax = np.concatenate([payments.tax[pay_idx], np.zeros(n_ref + n_adj, np.int64)])

    keys, settlement_of = np.unique(key, return_inverse=True)
    # Order lines by settlement, then newest first (created desc, id desc) like every list.
    order = np.lexsort((entity_id, created))[::-1]
    order = order[np.argsort(settlement_of[order], kind="stable")]
    lines = Lines(
        kind=kind[order],
        ref=ref[order],
        settlement=settlement_of[order].astype(np.int64),
        created=created[order],
        amount=amount[order],
        fee=fee[order],
        tax=tax[order],
    )
    n_set = len(keys)
    credit = np.where(lines.kind == 0, lines.amount - lines.fee, 0)
    debit = np.where(lines.kind != 0, lines.amount, 0)
    total = np.zeros(n_set, dtype=np.int64)
    np.add.at(total, lines.settlement, credit - debit)
    fees = np.zeros(n_set, dtype=np.int64)
    np.add.at(fees, lines.settlement, lines.fee)
    taxes = np.zeros(n_set, dtype=np.int64)
    np.add.at(taxes, lines.settlement, lines.tax)
    counts = np.bincount(lines.settlement, minlength=n_set)
    line_end = np.cumsum(counts)
    day = keys // 64
    currency = ((keys // 4) % 16).astype(np.int16)
    twin_of = (keys % 4).tolist()
    parts = list(zip(day.tolist(), currency.tolist(), twin_of, strict=True))
    for index, (d, c, t) in enumerate(parts):
        if not t:
            total[index] -= adjust.get((d, c), 0)
    # A twin's parts say so; the day's own settlement keeps the id and UTR it always had.
    ids = [short_hash(seed, "setl", d, c, *(("twin", t) if t else ())) for d, c, t in parts]
    utrs = [
        f"UTIBR{d:06d}{short_hash(seed, 'utr', d, c, *(('twin', t) if t else ()), length=8).upper()}"
        for d, c, t in parts
    ]
    jitter = np.array([hash_int(seed, "setl-time", d) % 1800 + 900 * t for d, _c, t in parts], dtype=np.int64)
    # Settlements are created at 10:00 IST on the settlement day.
    created_at = day * DAY - IST_OFFSET + 10 * HOUR + jitter
    settlements = Settlements(
        id=np.array(ids, dtype="S14") if ids else np.zeros(0, dtype="S14"),
        created=created_at,
        currency=currency,
        amount=total,
        fees=fees,
        tax=taxes,
        utr=np.array(utrs, dtype="S32") if utrs else np.zeros(0, dtype="S32"),
        line_start=line_end - counts,
        line_end=line_end,
    )
    order_set = np.lexsort((settlements.id, settlements.created))
    if not np.array_equal(order_set, np.arange(n_set)):
        # Settlements are served by (created, id); keep each one's lines contiguous in that order,
        # so the lines of the first k settlements are always a prefix.
        remap = np.empty(n_set, dtype=np.int64)
        remap[order_set] = np.arange(n_set)
        settlements = settlements.take(order_set)
        lines.settlement = remap[lines.settlement]
        lines = lines.take(np.argsort(lines.settlement, kind="stable"))
        counts = np.bincount(lines.settlement, minlength=n_set)
        settlements.line_end = np.cumsum(counts)
        settlements.line_start = settlements.line_end - counts
    return settlements, lines


# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Dataset:
    config: SandboxConfig
    now: int
    start: int
    generated_until: int
    chunks: int
    payments: Payments
    orders: Orders
    refunds: Refunds
    settlements: Settlements
    lines: Lines
    settlement_adjust: dict[tuple[int, int], int]
    anomalies: list[dict[str, Any]]
    # Planted webhook delivery faults by event id: {"kind", "pair"?: newer event id}
    webhook_faults: dict[str, dict[str, Any]]
    # Extra events that contradict the API (webhook_status_conflict): (payment index, time, event type)
    conflict_events: list[tuple[int, int, str]]
    disputes: Disputes = dataclasses.field(default_factory=Disputes.empty)
    # Planted outages (see sandbox.downtimes), each matching a success-rate dip in the data.
    downtimes: list[Downtime] = dataclasses.field(default_factory=list)
    # Payments settled on their own, two of one amount on one day (sandbox.anomalies): id → twin 1 | 2.
    settlement_twins: dict[bytes, int] = dataclasses.field(default_factory=dict)
    order_payments: IntArray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    order_payment_start: IntArray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    order_paid_at: IntArray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # The conditions planted for the alert rules (sandbox.alert_plants), when the config asks for them.
    alert_plants: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    # --- derived indexes ---------------------------------------------------------------------
    def reindex(self) -> None:
        """Recompute order → payments and when each order turned paid (after generation or a merge)."""
        has_order = self.payments.order != NEVER
        pay = np.flatnonzero(has_order)
        by_order = pay[np.argsort(self.payments.order[pay], kind="stable")]
        counts = np.bincount(self.payments.order[by_order], minlength=len(self.orders))
        self.order_payments = by_order
        self.order_payment_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        paid = np.full(len(self.orders), np.iinfo(np.int64).max, dtype=np.int64)
        cap = self.payments.captured[pay]
        np.minimum.at(paid, self.payments.order[pay], np.where(cap == NEVER, np.iinfo(np.int64).max, cap))
        paid = np.where(paid == np.iinfo(np.int64).max, NEVER, paid)
        self.order_paid_at = np.where(self.orders.paid_override != NEVER, self.orders.paid_override, paid)

    def payments_of_order(self, order: int) -> IntArray:
        return self.order_payments[self.order_payment_start[order] : self.order_payment_start[order + 1]]

    def visible_count(self, created: IntArray) -> int:
        return int(np.searchsorted(created, self.now, side="right"))

    def counts(self) -> dict[str, int]:
        n_set = self.visible_count(self.settlements.created)
        return {
            "payments": self.visible_count(self.payments.created),
            "orders": self.visible_count(self.orders.created),
            "refunds": self.visible_count(self.refunds.created),
            "settlements": n_set,
            # Line ranges are not in settlement order, so sum each visible settlement's own range.
            "settlement_lines": int(
                (self.settlements.line_end[:n_set] - self.settlements.line_start[:n_set]).sum()
            ),
            "disputes": self.visible_count(self.disputes.created),
            "downtimes": sum(1 for downtime in self.downtimes if downtime.created <= self.now),
        }

    def manifest(self) -> dict[str, Any]:
        return {
            "seed": self.config.seed,
            "now": self.now,
            "anomalies": self.anomalies,
            "webhook_faults": [
                {
                    "kind": fault["kind"],
                    "event_id": event_id,
                    "event_type": fault["event_type"],
                    "ids": fault["ids"],
                }
                for event_id, fault in self.webhook_faults.items()
            ],
            # Outages and the dip each one caused: the payments it touched and how many it failed.
            "downtimes": [downtime.manifest() for downtime in self.downtimes],
            # Conditions planted for the alert rules: what, where, when the alert must be open.
            "alert_plants": self.alert_plants,
        }

    # --- moving time -------------------------------------------------------------------------
    def ensure_generated(self, until: int) -> None:
        """Extend the timeline in HORIZON_SECONDS chunks until it covers `until` plus the horizon."""
        while self.generated_until < until + HORIZON_SECONDS:
            self.chunks += 1
            chunk = generate_chunk(
                self.config.seed,
                self.chunks,
                self.generated_until,
                self.generated_until + HORIZON_SECONDS,
                self.config.payments_per_day,
            )
            self._merge(chunk)
            self.generated_until += HORIZON_SECONDS

    def _merge(self, chunk: Chunk) -> None:
        orders, new_payments = drop_orderless(chunk)
        new_payments.order = np.where(
            new_payments.order == NEVER, NEVER, new_payments.order + len(self.orders)
        )
        self.orders = self.orders.concat(orders)
        n_old = len(self.payments)
        payments = self.payments.concat(new_payments)
        order = np.lexsort((payments.id, payments.created))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        self.payments = payments.take(order)
        self.refunds.payment = remap[self.refunds.payment]
        self.conflict_events = [(int(remap[i]), at, kind) for i, at, kind in self.conflict_events]
        candidates = remap[n_old:]
        candidates = candidates[
            (self.payments.captured[candidates] != NEVER) & (self.payments.currency[candidates] == INR)
        ]
        self._add_refunds(generate_refunds(self.config.seed, self.chunks, self.payments, np.sort(candidates)))
        self.disputes.payment = remap[self.disputes.payment]
        self.settlements, self.lines = build_settlements(
            self.config.seed,
            self.payments,
            self.refunds,
            self.settlement_adjust,
            self.disputes,
            self.settlement_twins,
        )
        self.reindex()

    def _add_refunds(self, new: Refunds) -> None:
        refunds = self.refunds.concat(new)
        order = np.lexsort((refunds.id, refunds.created))
        self.refunds = refunds.take(order)
        self.payments.refund[:] = NEVER
        self.payments.refund[self.refunds.payment] = np.arange(len(self.refunds))

    def advance(self, minutes: int) -> dict[str, Any]:
        """Move the clock; report what became visible or changed in (old now, new now]."""
        old, new = self.now, self.now + minutes * 60
        self.ensure_generated(new)
        self.now = new
        p, r, s, o = self.payments, self.refunds, self.settlements, self.orders

        def window(times: IntArray) -> npt.NDArray[np.bool_]:
            return (times > old) & (times <= new)

        p_new = window(p.created)
        p_changed = (
            ~p_new & (p.created <= old) & (window(p.authorized) | window(p.captured) | window(p.failed))
        )
        # A refund shows on its payment from its creation (unless it fails; see render.payments).
        p_changed[r.payment[window(r.created) & (r.failed == NEVER)]] = True
        p_changed &= ~p_new
        o_new = window(o.created)
        # An order changes when it gets a new attempt or turns paid.
        o_changed = window(self.order_paid_at)
        o_changed[p.order[p_new & (p.order != NEVER)]] = True
        o_changed &= ~o_new & (o.created <= old)
        r_new = window(r.created)
        r_changed = ~r_new & (r.created <= old) & (window(r.processed) | window(r.failed))

        def ids(prefix: str, table_ids: IdArray, mask: npt.NDArray[np.bool_]) -> list[str]:
            return [prefix + raw.decode() for raw in table_ids[mask].tolist()]

        return {
            "now": new,
            "new": {
                "payments": ids("pay_", p.id, p_new),
                "orders": ids("order_", o.id, o_new),
                "refunds": ids("rfnd_", r.id, r_new),
                "settlements": ids("setl_", s.id, window(s.created)),
            },
            "changed": {
                "payments": ids("pay_", p.id, p_changed),
                "orders": ids("order_", o.id, o_changed),
                "refunds": ids("rfnd_", r.id, r_changed),
            },
        }
