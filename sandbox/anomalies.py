"""Plants the ground-truth anomalies and webhook delivery faults, and records each in the manifest.

Each kind is planted on entities that are otherwise clean and old enough for its reconciliation rule
to apply (see docs/sandbox.md); planted entities are kept out of every other random choice, so
nothing else in the data set is anomalous.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sandbox import catalogue as cat
from sandbox import events as ev
from sandbox.alert_plants import plant_traffic, record_alert_plants
from sandbox.disputes import generate_disputes
from sandbox.downtimes import plant_downtimes
from sandbox.generator import (
    DAY,
    HOUR,
    INR,
    PLANT_MIN_AGE,
    WEBHOOK_FAULT_WINDOW,
    Dataset,
    _rng,
    build_settlements,
    fee_class,
    generate_refunds,
    ist_day,
    split_fee,
)
from sandbox.tables import NEVER

Mask = npt.NDArray[np.bool_]

# The manifest's vocabulary: each planted anomaly's kind (a reconciliation rule id) and each webhook
# delivery fault's kind.
ANOMALY_KINDS: tuple[str, ...] = (
    "captured_not_settled",
    "settlement_line_amount_mismatch",
    "settlement_total_mismatch",
    "order_paid_without_capture",
    "order_multiple_captures",
    "authorized_not_captured",
    "refund_not_debited",
    "fee_rate_anomaly",
    "webhook_status_conflict",
    "webhook_missing",
)
WEBHOOK_FAULT_KINDS: tuple[str, ...] = ("missing", "duplicate", "late", "out_of_order", "bad_signature")


def _how_many(rate: float, eligible: int) -> int:
    if eligible == 0 or rate <= 0:
        return 0
    return min(eligible, max(1, round(rate * eligible)))


def _pick(rng: np.random.Generator, mask: Mask, rate: float) -> list[int]:
    candidates = np.flatnonzero(mask)
    k = _how_many(rate, len(candidates))
    return sorted(rng.choice(candidates, size=k, replace=False).tolist()) if k else []


def _ids(
    ds: Dataset,
    payment: int | None = None,
    order: int | None = None,
    refund: int | None = None,
    settlement: int | None = None,
) -> dict[str, str | None]:
    p = ds.payments
    if payment is not None and order is None and int(p.order[payment]) != NEVER:
        order = int(p.order[payment])
    return {
        "payment_id": "pay_" + p.id[payment].decode() if payment is not None else None,
        "order_id": "order_" + ds.orders.id[order].decode() if order is not None else None,
        "refund_id": "rfnd_" + ds.refunds.id[refund].decode() if refund is not None else None,
        "settlement_id": "setl_" + ds.settlements.id[settlement].decode() if settlement is not None else None,
    }


def plant_all(ds: Dataset) -> None:
    """Plant every anomaly kind, then build refunds, settlements and the webhook faults around them."""
    if ds.config.alert_plants:
        plant_traffic(ds)
    plant_downtimes(ds)
    rng = _rng(ds.config.seed, 3)
    rate = ds.config.anomaly_rate
    p = ds.payments
    now = ds.now
    visible = p.created <= now
    old_enough = (p.created >= ds.start + DAY) & visible
    clean_capture = (p.captured != NEVER) & (p.failure == -1) & ~p.planted
    old_capture = clean_capture & (p.captured <= now - PLANT_MIN_AGE) & old_enough & (p.currency == INR)
    pending: list[tuple[str, dict[str, Any], int | None, int | None]] = []  # kind, detail, payment, refund

    def take(mask: Mask) -> list[int]:
        chosen = _pick(rng, mask & ~p.planted, rate)
        p.planted[chosen] = True
        return chosen

    for i in take(old_capture):
        p.unsettled[i] = True
        pending.append(
            ("captured_not_settled", {"amount": int(p.amount[i]), "captured_at": int(p.captured[i])}, i, None)
        )

    # Only where the line's fee rate stays inside the method's range either way (no fee rule may fire).
    high_bp = np.array([r.high_bp for r in cat.FEE_RANGES])[fee_class(p.method, p.network, p.international)]
    roomy = p.fee + 300 <= (p.amount - 5_000) * high_bp * 118 // 1_000_000
    for n, i in enumerate(take(old_capture & (p.amount >= 200_000) & roomy)):
        fee_delta = int(rng.integers(50, 300))
        amount_delta = int(rng.integers(100, 5_000))
        if n % 2 == 1:
            p.line_fee_delta[i] = fee_delta
            detail = {"field": "fee", "payment_fee": int(p.fee[i]), "line_fee": int(p.fee[i]) + fee_delta}
        else:
            p.line_amount_delta[i] = -amount_delta
            detail = {
                "field": "amount",
                "payment_amount": int(p.amount[i]),
                "line_amount": int(p.amount[i]) - amount_delta,
            }
        pending.append(("settlement_line_amount_mismatch", detail, i, None))

    # International payments are reconciled in INR: their line carries the base amount. One of each
    # line-level kind is planted on an international payment (the rules must compare like with like).
    old_international = (
        clean_capture
        & (p.captured <= now - PLANT_MIN_AGE)
        & old_enough
        & (p.currency != INR)
        & p.international
    )
    roomy_base = p.fee + 300 <= (p.base_amount - 5_000) * high_bp * 118 // 1_000_000
    for i in _take_one(rng, p, old_international & (p.base_amount >= 200_000) & roomy_base):
        amount_delta = int(rng.integers(100, 5_000))
        p.line_amount_delta[i] = -amount_delta
        detail = {
            "field": "amount",
            "international": True,
            "payment_amount": int(p.amount[i]),
            "currency": cat.CURRENCIES[int(p.currency[i])],
            "base_amount": int(p.base_amount[i]),
            "line_amount": int(p.base_amount[i]) - amount_delta,
        }
        pending.append(("settlement_line_amount_mismatch", detail, i, None))

    def plant_fee(i: int, **extra: Any) -> None:
        bp = float(rng.integers(cat.ANOMALOUS_FEE_BP[0], cat.ANOMALOUS_FEE_BP[1]))
        fee, tax = split_fee(p.base_amount[i : i + 1], np.array([bp]))
        detail = {
            "normal_fee": int(p.fee[i]),
            "fee": int(fee[0]),
            "tax": int(tax[0]),
            "fee_bp_before_gst": int(bp),
            "method": cat.METHODS[int(p.method[i])],
            **extra,
        }
        p.fee[i], p.tax[i] = int(fee[0]), int(tax[0])
        pending.append(("fee_rate_anomaly", detail, i, None))

    for i in take(old_capture & (p.amount >= 10_000)):
        plant_fee(i)
    for i in _take_one(rng, p, old_international & (p.base_amount >= 10_000)):
        plant_fee(
            i,
            international=True,
            currency=cat.CURRENCIES[int(p.currency[i])],
            base_amount=int(p.base_amount[i]),
        )

    for i in take(clean_capture & old_enough & (p.authorized <= now - 4 * DAY)):
        p.captured[i] = NEVER
        pending.append(("authorized_not_captured", {"authorized_at": int(p.authorized[i])}, i, None))

    _plant_orders(ds, rng, pending)

    # Webhook anomalies: recent captures, inside the window every replay covers.
    recent = clean_capture & (p.captured >= now - 40 * HOUR) & (p.captured <= now - 3 * HOUR)
    for i in take(recent):
        at = int(p.captured[i]) + int(rng.integers(600, 3_600))
        ds.conflict_events.append((i, at, "payment.failed"))
        event = ev.Event(at, "payment.failed", i, conflict=True)
        pending.append(
            (
                "webhook_status_conflict",
                {
                    "event_id": ev.event_id(ds, event),
                    "event_type": "payment.failed",
                    "webhook_status": "failed",
                    "api_status": "captured",
                },
                i,
                None,
            )
        )
    missing_payments = take(clean_capture & (p.captured >= now - 46 * HOUR) & (p.captured <= now - HOUR))
    for i in missing_payments:
        event = ev.Event(int(p.captured[i]), "payment.captured", i)
        pending.append(
            (
                "webhook_missing",
                {"event_id": ev.event_id(ds, event), "event_type": "payment.captured"},
                i,
                None,
            )
        )

    _plant_twin_settlements(ds, old_capture & ~p.planted)

    # Refunds only for clean captured INR payments (a refund of a planted payment would muddy its rule).
    refundable = np.flatnonzero((p.captured != NEVER) & (p.currency == INR) & ~p.planted)
    ds._add_refunds(generate_refunds(ds.config.seed, 0, p, refundable))
    ds.disputes = generate_disputes(ds)
    r = ds.refunds
    # Six calendar days after creation is past T+3 business days whatever the weekday.
    old_refund = (
        (r.processed != NEVER)
        & (r.processed <= now - DAY)
        & (r.created <= now - 6 * DAY)
        & (r.created >= ds.start + DAY)
    )
    chosen_refunds = _pick(rng, old_refund, rate)
    for j in chosen_refunds:
        r.undebited[j] = True
        p.planted[int(r.payment[j])] = True
        pending.append(
            (
                "refund_not_debited",
                {"amount": int(r.amount[j]), "processed_at": int(r.processed[j])},
                int(r.payment[j]),
                j,
            )
        )

    ds.settlements, ds.lines = build_settlements(
        ds.config.seed, p, r, ds.settlement_adjust, ds.disputes, ds.settlement_twins
    )
    ds.reindex()
    _plant_settlement_totals(ds, rng)

    settlement_of_payment = np.full(len(p), NEVER, dtype=np.int64)
    is_payment_line = ds.lines.kind == 0
    settlement_of_payment[ds.lines.ref[is_payment_line]] = ds.lines.settlement[is_payment_line]
    for kind, facts, payment, refund in pending:
        settlement = None
        if payment is not None and kind in ("settlement_line_amount_mismatch", "fee_rate_anomaly"):
            settlement = int(settlement_of_payment[payment])
        ids = _ids(ds, payment=payment, refund=refund, settlement=settlement)
        if kind.startswith("order_"):
            ids = _ids(ds, order=int(facts.pop("_order")), payment=None)
            ids["payment_id"] = facts["payment_ids"][0]
        ds.anomalies.append({"kind": kind, "ids": ids, "detail": facts})
    _plant_webhook_faults(ds, rng, missing_payments)
    if ds.config.alert_plants:
        record_alert_plants(ds)
    ds.anomalies.sort(key=lambda a: (a["kind"], str(a["ids"])))


def _take_one(rng: np.random.Generator, p: Any, mask: Mask) -> list[int]:
    """One payment of `mask` (none if empty), kept out of every later choice."""
    candidates = np.flatnonzero(mask & ~p.planted)
    if not len(candidates):
        return []
    chosen = int(rng.choice(candidates))
    p.planted[chosen] = True
    return [chosen]


def _plant_orders(ds: Dataset, rng: np.random.Generator, pending: list[Any]) -> None:
    p, o = ds.payments, ds.orders
    now = ds.now
    has_order = p.order != NEVER
    n_orders = len(o)
    counts = np.bincount(p.order[has_order], minlength=n_orders)
    ever_authorized = np.zeros(n_orders, dtype=bool)
    ever_authorized[p.order[has_order & (p.authorized != NEVER)]] = True
    any_planted = np.zeros(n_orders, dtype=bool)
    any_planted[p.order[has_order & p.planted]] = True
    in_range = (o.created >= ds.start + DAY) & (o.created <= now - PLANT_MIN_AGE) & ~any_planted
    ds.reindex()

    def payments_of(order: int) -> list[int]:
        return [int(i) for i in ds.payments_of_order(order).tolist()]

    all_failed = in_range & (counts >= 1) & ~ever_authorized
    for k in _pick(rng, all_failed, ds.config.anomaly_rate):
        attempts = payments_of(k)
        last_failure = max(int(p.failed[i]) for i in attempts)
        o.paid_override[k] = last_failure + int(rng.integers(60, 600))
        p.planted[attempts] = True
        pending.append(
            (
                "order_paid_without_capture",
                {
                    "_order": k,
                    "payment_ids": ["pay_" + p.id[i].decode() for i in attempts],
                    "payment_statuses": ["failed"] * len(attempts),
                },
                None,
                None,
            )
        )

    # Two attempts, the first failed (no late authorisation) and the second captured.
    first_failed = np.zeros(n_orders, dtype=bool)
    first = has_order & (p.attempt == 1) & (p.failure >= 0) & (p.authorized == NEVER)
    first_failed[p.order[first]] = True
    last_captured = np.zeros(n_orders, dtype=bool)
    later = has_order & (p.attempt >= 2) & (p.captured != NEVER) & (p.failure == -1)
    last_captured[p.order[later]] = True
    inr = o.currency == INR
    for k in _pick(
        rng,
        in_range & (counts >= 2) & first_failed & last_captured & inr & ~any_planted,
        ds.config.anomaly_rate,
    ):
        attempts = payments_of(k)
        first_attempt = next(i for i in attempts if int(p.attempt[i]) == 1)
        winner = next(i for i in attempts if int(p.captured[i]) != NEVER)
        # The failed first attempt is authorised late, after the order was already paid, and captured.
        p.authorized[first_attempt] = int(p.captured[winner]) + int(rng.integers(600, 3_600))
        p.captured[first_attempt] = int(p.authorized[first_attempt]) + int(rng.integers(1, 60))
        p.planted[attempts] = True
        captured_ids = ["pay_" + p.id[i].decode() for i in sorted([winner, first_attempt])]
        pending.append(("order_multiple_captures", {"_order": k, "payment_ids": captured_ids}, None, None))


def _plant_twin_settlements(ds: Dataset, clean: Mask) -> None:
    """Two settlements of one amount on one day, for the bank statement (sandbox.statements): the first
    day with two clean domestic captures of the same amount and fee class settles each of them on its
    own (as an on-demand payout would), the second with the first's fee, so their credits are equal.
    Nothing is wrong with them: every rule must stay quiet and each credit must match its own UTR."""
    p = ds.payments
    candidates = np.flatnonzero(clean & ~p.international & (p.captured >= ds.start + 3 * DAY))
    classes = fee_class(p.method, p.network, p.international)
    seen: dict[tuple[int, int, int], int] = {}
    for i in candidates[np.argsort(p.captured[candidates], kind="stable")].tolist():
        key = (int(ist_day(p.captured[i : i + 1])[0]), int(p.base_amount[i]), int(classes[i]))
        first = seen.setdefault(key, i)
        if first == i:
            continue
        p.fee[i], p.tax[i] = p.fee[first], p.tax[first]
        p.planted[[first, i]] = True
        ds.settlement_twins = {bytes(p.id[first]): 1, bytes(p.id[i]): 2}
        return


def _plant_settlement_totals(ds: Dataset, rng: np.random.Generator) -> None:
    s = ds.settlements
    eligible = (s.created <= ds.now - DAY) & (s.currency == INR) & (s.created >= ds.start + 3 * DAY)
    twin_payments = np.flatnonzero(np.isin(ds.payments.id, list(ds.settlement_twins)))
    twin_lines = (ds.lines.kind == 0) & np.isin(ds.lines.ref, twin_payments)
    eligible[ds.lines.settlement[twin_lines]] = False  # a twin's amount must stay its one line's
    for k in _pick(rng, eligible, ds.config.anomaly_rate * 20):
        delta = int(rng.integers(100, 10_000))
        day = int(ist_day(s.created[k : k + 1])[0])
        ds.settlement_adjust[(day, int(s.currency[k]))] = delta
        lines_total = int(s.amount[k])
        s.amount[k] -= delta
        ds.anomalies.append(
            {
                "kind": "settlement_total_mismatch",
                "ids": _ids(ds, settlement=k),
                "detail": {
                    "settlement_amount": int(s.amount[k]),
                    "lines_total": lines_total,
                    "difference": -delta,
                },
            }
        )


def _plant_webhook_faults(ds: Dataset, rng: np.random.Generator, missing_payments: list[int]) -> None:
    """Delivery faults on events of the last 48 hours: missing, duplicate, late, out_of_order, bad_signature."""
    rate = ds.config.anomaly_rate
    events = ev.events_between(ds, ds.now - WEBHOOK_FAULT_WINDOW, ds.now)
    identifiers = [ev.event_id(ds, event) for event in events]
    p = ds.payments
    missing = set(missing_payments)
    order_planted = np.zeros(len(ds.orders), dtype=bool)
    with_order = p.order != NEVER
    order_planted[p.order[with_order & p.planted]] = True
    taken: set[int] = set()  # positions in `events`

    def record(position: int, kind: str, **extra: Any) -> None:
        taken.add(position)
        event = events[position]
        ds.webhook_faults[identifiers[position]] = {
            "kind": kind,
            "event_type": event.event_type,
            "ids": ev.related_ids(ds, event),
            **extra,
        }

    def clean(event: ev.Event) -> bool:
        if event.conflict or ev.family(event) in ("dispute", "downtime"):
            return False  # delivery faults stay on the events the webhook-health checks know
        family = event.event_type.split(".")[0]
        if family == "payment":
            return not bool(p.planted[event.index])
        if family == "refund":
            return not bool(p.planted[int(ds.refunds.payment[event.index])])
        if family == "order":
            return not bool(order_planted[event.index])
        return True

    for position, event in enumerate(events):
        if event.event_type == "payment.captured" and event.index in missing and not event.conflict:
            record(position, "missing")
    candidates = [position for position, event in enumerate(events) if clean(event)]
    n = len(events)

    def sample(pool: list[int]) -> list[int]:
        pool = [position for position in pool if position not in taken]
        k = min(len(pool), _how_many(rate, n))
        return [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False).tolist())] if k else []

    # Out of order: a payment's authorized and captured events, the captured one delivered first.
    captured_at = {events[q].index: q for q in candidates if events[q].event_type == "payment.captured"}
    authorized = [
        q
        for q in candidates
        if events[q].event_type == "payment.authorized"
        and events[q].index in captured_at
        and events[captured_at[events[q].index]].at > events[q].at
    ]
    for older in sample(authorized):
        newer = captured_at[events[older].index]
        record(newer, "out_of_order")
        record(older, "out_of_order", pair=identifiers[newer])
    # Badly signed: only payment.authorized events of payments whose capture is delivered normally,
    # so the payment's state still arrives by webhook (a rejected event is not a "missing" one).
    signable = [q for q in authorized if captured_at[events[q].index] not in taken]
    for position in sample(signable):
        record(position, "bad_signature")
    for position in sample(candidates):
        record(position, "duplicate", repeat=int(rng.integers(2, 4)))
    for position in sample(candidates):
        record(position, "late")
