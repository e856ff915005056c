"""Alert rules evaluated as of a moment `at`, and the alert lifecycle: firing → resolved, acknowledge, snooze.

Every rule reads the hourly rollups or a small, index-bounded window of the webhook, sync and mismatch
tables, so one evaluation costs about the same at 100k or 10M payments. Nothing here reads the wall
clock: `at` is always passed in (the CLI defaults it to now), so a history can be back-tested.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import Connection, Table, and_, case, func, insert, literal, or_, select, update

from analytics.db import Db, as_int, as_utc, reading, writing
from analytics.listing import CHUNK_ROWS
from analytics.risk import fraud_signals
from analytics.rules import format_amount
from analytics.stats import benjamini_hochberg, two_proportion_p_value, wilson_interval
from data.audit import record_audit
from data.ist import IST, ist_day_of, ist_midnight
from data.models import (
    Alert,
    AuditLog,
    Downtime,
    Mismatch,
    Payment,
    PaymentRollupHourly,
    SyncCheckpoint,
    WebhookEvent,
    WebhookRejection,
)
from data.rollups import BREAKDOWN_DIMENSIONS, bucket_start, serialise
from data.settings import AlertRules, RiskRules, get_settings

__all__ = [
    "ALERTS_LISTED",
    "ALERTS_LOCK",
    "ALERT_COLUMNS",
    "DAY_REPORT_ENTITIES",
    "MONEY_CATEGORIES",
    "PAYMENTS_BEHIND_COLUMNS",
    "RULES",
    "AlertContext",
    "AlertError",
    "AlertNotFound",
    "AlertRule",
    "Condition",
    "Evaluation",
    "acknowledge",
    "alert_counts",
    "alert_rows",
    "alerts_query",
    "detect",
    "evaluate",
    "fraud_signal_subject",
    "get_alert",
    "list_alerts",
    "payments_behind",
    "payments_behind_query",
    "snooze",
]

_A: Table = Alert.__table__  # type: ignore[assignment]
_ROLLUP: Table = PaymentRollupHourly.__table__  # type: ignore[assignment]
_P: Table = Payment.__table__  # type: ignore[assignment]
_E: Table = WebhookEvent.__table__  # type: ignore[assignment]
_REJ: Table = WebhookRejection.__table__  # type: ignore[assignment]
_CP: Table = SyncCheckpoint.__table__  # type: ignore[assignment]
_M: Table = Mismatch.__table__  # type: ignore[assignment]
_D: Table = Downtime.__table__  # type: ignore[assignment]

ALERTS_LOCK = 0x5041_594F_5053_0003  # PostgreSQL advisory lock: evaluations take turns
_HOUR = timedelta(hours=1)
# Rejections that mean the signature did not verify (most often a secret rotated on one side only).
SIGNATURE_REASONS = ("bad_signature", "missing_signature")
# Which rollup measure shows the API activity that should have produced each webhook event type.
_EVENT_ACTIVITY = {
    "payment.authorized": "successes",
    "payment.captured": "successes",
    "order.paid": "successes",
    "payment.failed": "failures",
}
# Instruments that get their own success-rate slices, alone and per method (card_type is too coarse).
SLICE_DIMENSIONS = tuple(d for d in BREAKDOWN_DIMENSIONS if d != "card_type")
_SLICE_LABELS = {
    "method": "method",
    "country": "country",
    "bank": "bank",
    "card_network": "card network",
    "card_issuer": "card issuer",
    "wallet": "wallet",
    "upi_flow": "UPI flow",
    "upi_app": "UPI app",
}
MONEY_CATEGORIES = ("money",)


class AlertError(ValueError):
    """An acknowledge or snooze request that cannot be carried out."""


class AlertNotFound(AlertError):
    pass


@dataclass(frozen=True)
class AlertContext:
    at: datetime
    rules: AlertRules
    settlement_days: int = 3
    risk: RiskRules = field(default_factory=RiskRules)


@dataclass(frozen=True)
class Condition:
    """One alert condition that holds at `at`, with its evidence; `key` identifies it across evaluations."""

    rule: str
    subject: str
    title: str
    message: str
    evidence: dict[str, Any]
    link: str | None = None

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"[:200]


Detector = Callable[[Connection, AlertContext], list[Condition]]


@dataclass(frozen=True)
class AlertRule:
    id: str
    severity: str  # critical | high | medium | low
    category: str  # money | payments | webhooks | sync | security
    title: str
    usual_cause: str
    detect: Detector


# --- helpers ----------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _ist_span(start: datetime, end: datetime) -> str:
    """'Tue 03 Nov 14:00–15:00 IST' (display text for messages)."""
    first, last = start.astimezone(IST), end.astimezone(IST)
    day = first.strftime("%a %d %b")
    if ist_day_of(start) == ist_day_of(end - timedelta(microseconds=1)):
        return f"{day} {first:%H:%M}–{last:%H:%M} IST"
    return f"{day} {first:%H:%M} – {last:%a %d %b %H:%M} IST"


def _page_link(page: str, *, days: tuple[date, date] | None = None, **params: str | None) -> str:
    query: dict[str, str] = {}
    if days is not None:
        query.update(period="custom", **{"from": days[0].isoformat(), "to": days[1].isoformat()})
    query.update({name: value for name, value in params.items() if value})
    return f"{page}?{urlencode(query)}" if query else page


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    return ist_day_of(start), ist_day_of(end - timedelta(microseconds=1))


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


# --- success-rate drop ---------------------------------------------------------------------------------------

SliceKey = tuple[tuple[str, str], ...]


def _slice_text(parts: SliceKey) -> str:
    return " · ".join(f"{_SLICE_LABELS[name]} {value}" for name, value in parts)


Cell = tuple[str, str, str, str]  # rollup dimension, dim_value, method, country


def _rollup_cells(
    conn: Connection, window: Sequence[datetime], baseline: Sequence[datetime]
) -> dict[Cell, tuple[int, int, int, int]]:
    """(attempts, successes, baseline attempts, baseline successes) per rollup cell, window vs baseline."""
    r = _ROLLUP.c
    window_start = min(window)
    period = case((r.bucket_start >= window_start, literal(0)), else_=literal(1))
    query = (
        select(
            r.dimension,
            r.dim_value,
            r.method,
            r.country,
            period.label("period"),
            func.sum(r.attempts),
            func.sum(r.successes),
        )
        .where(r.bucket_start.in_([*window, *baseline]), r.dimension.in_(("all", *SLICE_DIMENSIONS)))
        .group_by(r.dimension, r.dim_value, r.method, r.country, period)
    )
    cells: dict[Cell, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for dimension, dim_value, method, country, in_baseline, attempts, successes in conn.execute(query):
        cell = (
            str(dimension),
            str(dim_value) or "unknown",
            str(method) or "unknown",
            str(country) or "unknown",
        )
        offset = 2 * int(in_baseline)
        cells[cell][offset] += as_int(attempts)
        cells[cell][offset + 1] += as_int(successes)
    return {cell: (a, s, ba, bs) for cell, (a, s, ba, bs) in cells.items()}


def _slices_of(cell: Cell) -> list[SliceKey]:
    dimension, value, method, country = cell
    if dimension == "all":
        return [(("method", method),), (("country", country),)]
    return [((dimension, value),), (("method", method), (dimension, value))]


def _instrument(parts: SliceKey) -> str:
    """The rollup dimension a slice is counted from ("all" for method and country slices)."""
    return next((name for name, _ in parts if name not in ("method", "country")), "all")


def _count_in(
    cells: Mapping[Cell, tuple[int, int, int, int]], parts: Mapping[str, str], dimension: str
) -> tuple[int, int, int, int] | None:
    """The counts of the payments matching every part, from `dimension`'s rows; None if not expressible there."""
    if any(name not in ("method", "country", dimension) for name in parts):
        return None
    total = [0, 0, 0, 0]
    for (cell_dimension, value, method, country), measures in cells.items():
        if cell_dimension != dimension:
            continue
        cell_values = {"method": method, "country": country, dimension: value}
        if all(cell_values[name] == wanted for name, wanted in parts.items()):
            total = [t + m for t, m in zip(total, measures, strict=True)]
    return (total[0], total[1], total[2], total[3])


def _explained_by(
    cells: Mapping[Cell, tuple[int, int, int, int]],
    parent: SliceKey,
    firing: Sequence[SliceKey],
    rules: AlertRules,
) -> list[SliceKey]:
    """The firing sub-slices that account for the parent's drop (without them it is not down), or []."""
    parent_parts = dict(parent)
    parent_counts = _count_in(cells, parent_parts, _instrument(parent))
    assert parent_counts is not None
    for dimension in SLICE_DIMENSIONS:
        candidates = [t for t in firing if t != parent and _instrument(t) == dimension]
        # Leaves only (HDFC netbanking, not HDFC as well): leaves of one dimension are disjoint.
        leaves = [t for t in candidates if not any(set(t) < set(other) for other in candidates)]
        removed = [0, 0, 0, 0]
        used = []
        for child in leaves:
            child_parts = dict(child)
            if any(parent_parts.get(name, wanted) != wanted for name, wanted in child_parts.items()):
                continue  # disjoint (another method or value)
            overlap = _count_in(cells, {**parent_parts, **child_parts}, dimension)
            if overlap is None or overlap[0] == 0:
                continue
            removed = [r + o for r, o in zip(removed, overlap, strict=True)]
            used.append(child)
        if not used:
            continue
        attempts, successes, base_attempts, base_successes = (
            c - r for c, r in zip(parent_counts, removed, strict=True)
        )
        if attempts < rules.min_attempts or base_attempts < rules.min_baseline_attempts:
            return used
        drop_points = (base_successes / base_attempts - successes / attempts) * 100
        p_value = _drop_p_value(successes, attempts, base_successes, base_attempts)
        if drop_points < rules.min_drop_points or p_value > rules.false_discovery_rate:
            return used
    return []


def _drop_p_value(successes: int, attempts: int, base_successes: int, base_attempts: int) -> float:
    """One-sided two-proportion z-test that the window's rate is below the baseline's."""
    return two_proportion_p_value(successes, attempts, base_successes, base_attempts, alternative="smaller")


def _wilson(successes: int, attempts: int) -> list[float]:
    low, high = wilson_interval(successes, attempts)
    return [round(low, 4), round(high, 4)]


def _success_drop(conn: Connection, ctx: AlertContext) -> list[Condition]:
    rules = ctx.rules
    window_end = bucket_start(ctx.at)  # the start of the current IST hour: the last whole hour ends here
    window = [window_end - _HOUR * (h + 1) for h in range(rules.window_hours)]
    window_start = min(window)
    baseline = [bucket - timedelta(weeks=w) for w in range(1, rules.baseline_weeks + 1) for bucket in window]
    cells = _rollup_cells(conn, window, baseline)
    counts: dict[SliceKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for cell, measures in cells.items():
        for key in _slices_of(cell):
            counts[key] = [c + m for c, m in zip(counts[key], measures, strict=True)]

    # A slice with exactly the same counts as a more specific one is the same payments (HDFC is only
    # netbanking): test it once, under its most specific name.
    evaluated: dict[tuple[int, ...], SliceKey] = {}
    for key in sorted(counts, key=lambda parts: (-len(parts), parts)):
        attempts, successes, base_attempts, base_successes = counts[key]
        if attempts < rules.min_attempts or base_attempts < rules.min_baseline_attempts:
            continue
        evaluated.setdefault((attempts, successes, base_attempts, base_successes), key)
    if not evaluated:
        return []
    tested = sorted(evaluated.items(), key=lambda item: item[1])
    p_values = [_drop_p_value(s, n, bs, bn) for (n, s, bn, bs), _ in tested]
    reject, q_values = benjamini_hochberg(p_values, rules.false_discovery_rate)
    firing = [
        parts
        for ((n, s, bn, bs), parts), significant in zip(tested, reject, strict=True)
        if significant and (bs / bn - s / n) * 100 >= rules.min_drop_points
    ]
    # A method or country that is down only because one bank (network, app) in it is down is that
    # bank's alert, not a second one: fire the parent only if it is still down without its firing parts.
    explained = {parent: _explained_by(cells, parent, firing, rules) for parent in firing}

    conditions = []
    for ((attempts, successes, base_attempts, base_successes), parts), p_value, q_value in zip(
        tested, p_values, q_values, strict=True
    ):
        if parts not in explained or explained[parts]:
            continue
        rate, base_rate = successes / attempts, base_successes / base_attempts
        drop_points = (base_rate - rate) * 100
        explains = [_slice_text(parent) for parent, children in explained.items() if parts in children]
        span = _ist_span(window_start, window_end)
        weekday = window_start.astimezone(IST).strftime("%A")
        slice_values = dict(parts)
        covering = _covering_downtime(conn, slice_values, window_start, window_end)
        message = (
            f"Success rate for {_slice_text(parts)} fell to {_percent(rate)} ({successes:,} of "
            f"{attempts:,} attempts) in {span}, against {_percent(base_rate)} ({base_successes:,} of "
            f"{base_attempts:,}) in the same hours of the previous {rules.baseline_weeks} {weekday}s: "
            f"{drop_points:.1f} points down (one-sided two-proportion z-test p={p_value:.1e}, "
            f"Benjamini-Hochberg q={q_value:.1e} over {len(tested)} slices). "
            + (
                f"Razorpay declared a downtime covering it: {covering['summary']}."
                if covering
                else "No declared Razorpay downtime on record covers it: likely the merchant's side, or undeclared."
            )
        )
        method = slice_values.get("method")
        instrument = next(((name, value) for name, value in parts if name != "method"), None)
        conditions.append(
            Condition(
                rule="success_drop",
                subject="|".join(f"{name}={value}" for name, value in parts),
                title=f"Success rate down for {_slice_text(parts)}",
                message=message,
                evidence={
                    "slice": slice_values,
                    "window": {"start": _iso(window_start), "end": _iso(window_end)},
                    "baseline_weeks": rules.baseline_weeks,
                    "current": {
                        "attempts": attempts,
                        "successes": successes,
                        "rate": round(rate, 4),
                        "wilson_95": _wilson(successes, attempts),
                    },
                    "baseline": {
                        "attempts": base_attempts,
                        "successes": base_successes,
                        "rate": round(base_rate, 4),
                        "wilson_95": _wilson(base_successes, base_attempts),
                    },
                    "drop_points": round(drop_points, 2),
                    "p_value": p_value,
                    "q_value": float(q_value),
                    "slices_tested": len(tested),
                    # Wider slices pulled down by this one, not alerted on their own.
                    "also_pulls_down": explains,
                    "downtime": covering,
                    # What `payments_behind` and the Payments drill-down filter on.
                    "payments": {
                        "from": _iso(window_start),
                        "to": _iso(window_end),
                        **slice_values,
                        "outcome": "attempt",
                    },
                },
                link=_page_link(
                    "success-rates",
                    days=_days(window_start, window_end),
                    method=method if method != "unknown" else None,
                    country=slice_values.get("country"),
                    by=instrument[0] if instrument and instrument[0] != "country" else None,
                ),
            )
        )
    return conditions


# Success-rate slice dimension → the downtime column naming the same instrument.
_DOWNTIME_INSTRUMENT = {
    "bank": "bank",
    "card_network": "card_network",
    "card_issuer": "issuer",
    "upi_app": "vpa_handle",
    "upi_flow": "flow",
}


def _covering_downtime(
    conn: Connection, slice_values: Mapping[str, str], start: datetime, end: datetime
) -> dict[str, Any] | None:
    """The declared Razorpay downtime overlapping this window for this slice's method and instrument.

    A downtime naming an instrument covers only slices of that instrument; one naming only a method
    covers every slice of the method. Country slices are never covered (downtimes name no country).
    """
    d = _D.c
    method = slice_values.get("method")
    instruments = {name: value for name, value in slice_values.items() if name in _DOWNTIME_INSTRUMENT}
    if method is None and not instruments:
        return None
    conditions = [d.begin < end, or_(d.end.is_(None), d.end > start)]
    if method is not None:
        conditions.append(or_(d.method.is_(None), d.method == method))
    for name, column in _DOWNTIME_INSTRUMENT.items():
        value = instruments.get(name)
        # Same instrument, or a downtime that names none of this kind (method-wide).
        conditions.append(or_(d[column].is_(None), d[column] == value) if value else d[column].is_(None))
    row = conn.execute(
        select(d.id, d.method, d.severity, d.begin, d.end, *[d[c] for c in _DOWNTIME_INSTRUMENT.values()])
        .where(*conditions)
        .order_by(d.begin)
        .limit(1)
    ).first()
    if row is None:
        return None
    named = [str(getattr(row, column)) for column in _DOWNTIME_INSTRUMENT.values() if getattr(row, column)]
    what = " ".join([*named, str(row.method or "all methods")])
    until = f"{row.end.astimezone(IST):%H:%M}" if row.end else "ongoing"
    return {
        "id": row.id,
        "method": row.method,
        "instrument": named,
        "severity": row.severity,
        "begin": _iso(row.begin),
        "end": _iso(row.end),
        # The drop was already there when Razorpay declared it (the window began before the downtime).
        "drop_before_declared": row.begin > start,
        "summary": f"{what}, {row.begin.astimezone(IST):%H:%M}–{until} IST ({row.severity or 'severity unknown'})",
    }


# --- webhooks ------------------------------------------------------------------------------------------------


def _webhook_silence(conn: Connection, ctx: AlertContext) -> list[Condition]:
    """An event type that stopped arriving during a whole hour in which the API shows its activity."""
    rules = ctx.rules
    types = [t for t in rules.silence_event_types if t in _EVENT_ACTIVITY]
    if not types:
        return []
    # The last whole IST hour that ended at least 5 minutes ago, so normal delivery lag has passed.
    hour_end = bucket_start(ctx.at - timedelta(minutes=5))
    hour_start = hour_end - _HOUR
    r = _ROLLUP.c
    activity_row = conn.execute(
        select(func.sum(r.successes), func.sum(r.failures)).where(
            r.dimension == "all", r.bucket_start == hour_start
        )
    ).one()
    activity = {"successes": as_int(activity_row[0]), "failures": as_int(activity_row[1])}
    # Per type, from the (event_type, created_at) index: events in the hour, and whether any arrived in
    # the week before (the account is subscribed to the type). Neither reads more than the hour's events.
    week_before = hour_start - timedelta(days=7)
    arrived: dict[str, int] = {}
    subscribed: set[str] = set()
    for event_type in types:
        of_type = _E.c.event_type == event_type
        arrived[event_type] = as_int(
            conn.execute(
                select(func.count()).where(
                    of_type,
                    _E.c.created_at >= hour_start,
                    _E.c.created_at < hour_end,
                    # Delivered by then: a replayed event counts from when it was first sent
                    # (sent_at, from the replay), so a replayed history back-tests as it happened.
                    func.coalesce(_E.c.sent_at, _E.c.received_at) <= ctx.at,
                )
            ).scalar()
        )
        last_before = conn.execute(
            select(func.max(_E.c.created_at)).where(of_type, _E.c.created_at < hour_start)
        ).scalar()
        if last_before is not None and last_before >= week_before:
            subscribed.add(event_type)
    conditions = []
    for event_type in types:
        measure = _EVENT_ACTIVITY[event_type]
        expected = activity[measure]
        if event_type not in subscribed or expected < rules.silence_min_activity:
            continue
        if as_int(arrived.get(event_type, 0)) > 0:
            continue
        span = _ist_span(hour_start, hour_end)
        conditions.append(
            Condition(
                rule="webhook_silence",
                subject=event_type,
                title=f"No {event_type} webhooks for an hour",
                message=(
                    f"No {event_type} event was received for {span}, while the API shows "
                    f"{expected:,} payments that should have produced one ({measure.rstrip('es')}). "
                    "Check the webhook's subscription and whether Razorpay has disabled it."
                ),
                evidence={
                    "event_type": event_type,
                    "window": {"start": _iso(hour_start), "end": _iso(hour_end)},
                    "api_activity": expected,
                    "api_measure": measure,
                    "events_received": 0,
                },
                link=_page_link("webhook-health", days=_days(hour_start, hour_end)),
            )
        )
    return conditions


def _rejections(
    conn: Connection, ctx: AlertContext, *, signature: bool
) -> tuple[dict[str, int], Sequence[Any]]:
    start = ctx.at - timedelta(minutes=ctx.rules.webhook_window_minutes)
    reason_filter = _REJ.c.reason.in_(SIGNATURE_REASONS)
    query = (
        # Each row counts one minute's deliveries from one source (delivery_count), first to last seen.
        select(
            _REJ.c.reason,
            func.sum(_REJ.c.delivery_count),
            func.min(_REJ.c.received_at),
            func.max(_REJ.c.last_received_at),
        )
        .where(
            _REJ.c.received_at > start,
            _REJ.c.received_at <= ctx.at,
            reason_filter if signature else ~reason_filter,
        )
        .group_by(_REJ.c.reason)
    )
    rows = conn.execute(query).all()
    return {str(row[0]): int(row[1]) for row in rows}, rows


def _rejection_condition(
    by_reason: dict[str, int],
    rows: Sequence[Any],
    ctx: AlertContext,
    *,
    rule: str,
    title: str,
    what: str,
    advice: str,
) -> list[Condition]:
    """One alert over the window's rejected deliveries: `what` they were, by reason, and `advice`."""
    total = sum(by_reason.values())
    first, last = min(row[2] for row in rows), max(row[3] for row in rows)
    minutes = ctx.rules.webhook_window_minutes
    return [
        Condition(
            rule=rule,
            subject="receiver",
            title=title,
            message=(
                f"{total:,} webhook deliveries {what} in the last {minutes} minutes "
                f"({', '.join(f'{reason} {n:,}' for reason, n in sorted(by_reason.items()))}). {advice}"
            ),
            evidence={
                "count": total,
                "by_reason": by_reason,
                "first": _iso(first),
                "last": _iso(last),
                "window_minutes": minutes,
            },
            link=_page_link("webhook-health", days=_days(first, last + timedelta(microseconds=1))),
        )
    ]


def _signature_rejections(conn: Connection, ctx: AlertContext) -> list[Condition]:
    by_reason, rows = _rejections(conn, ctx, signature=True)
    if sum(by_reason.values()) < ctx.rules.signature_rejections_min:
        return []
    return _rejection_condition(
        by_reason,
        rows,
        ctx,
        rule="webhook_signature_rejections",
        title="Webhook signatures are being rejected",
        what="failed signature verification",
        advice=(
            "Usually the webhook secret was rotated in Razorpay's dashboard but not here: add the new one to "
            "RAZORPAY_WEBHOOK_SECRET (comma-separated, the old one may stay during the rotation)."
        ),
    )


def _non_2xx(conn: Connection, ctx: AlertContext) -> list[Condition]:
    by_reason, rows = _rejections(conn, ctx, signature=False)
    if sum(by_reason.values()) < ctx.rules.non_2xx_min:
        return []
    return _rejection_condition(
        by_reason,
        rows,
        ctx,
        rule="webhook_non_2xx",
        title="Webhook deliveries answered with errors",
        what="were answered non-2xx",
        advice="Razorpay retries for 24 hours and then disables the webhook: fix the cause before that.",
    )


def _delivery_lag(conn: Connection, ctx: AlertContext) -> list[Condition]:
    rules = ctx.rules
    start = ctx.at - timedelta(minutes=rules.webhook_window_minutes)
    lags = (
        conn.execute(select(_E.c.lag_ms).where(_E.c.received_at > start, _E.c.received_at <= ctx.at))
        .scalars()
        .all()
    )
    if len(lags) < rules.lag_min_events:
        return []
    p95_ms = float(np.percentile(np.asarray(lags, dtype=np.int64), 95, method="inverted_cdf"))
    if p95_ms <= rules.lag_p95_seconds * 1000:
        return []
    return [
        Condition(
            rule="webhook_delivery_lag",
            subject="receiver",
            title="Webhooks are arriving late",
            message=(
                f"The 95th percentile of webhook delivery lag (received − created) was {p95_ms / 1000:,.0f} s "
                f"over the {len(lags):,} events received in the last {rules.webhook_window_minutes} minutes "
                f"(threshold {rules.lag_p95_seconds:,} s). Usually retries after the receiver answered "
                "errors or timed out, or a slow queue at Razorpay."
            ),
            evidence={
                "p95_seconds": round(p95_ms / 1000, 1),
                "events": len(lags),
                "threshold_seconds": rules.lag_p95_seconds,
                "window_minutes": rules.webhook_window_minutes,
            },
            link=_page_link("webhook-health", days=_days(start, ctx.at)),
        )
    ]


# --- sync, settlements, mismatches -----------------------------------------------------------------------


# Entities read one whole IST day at a time (the settlement recon report): their checkpoint moves only
# when a day is over, so at noon it is twelve hours old without anything being wrong (sync/paging.py,
# ReportDays; tests/analytics/test_alerts.py checks this list against sync.entities).
DAY_REPORT_ENTITIES = ("settlement_lines",)


def _stale_before(entity: str, at: datetime, limit: timedelta) -> datetime:
    """The checkpoint an entity must have reached by `at`: `limit` before it, or for a day-report entity
    the end of the last IST day that ended more than `limit` ago."""
    if entity in DAY_REPORT_ENTITIES:
        return ist_midnight(ist_day_of(at - limit))
    return at - limit


def _sync_stale(conn: Connection, ctx: AlertContext) -> list[Condition]:
    limit = timedelta(minutes=ctx.rules.sync_stale_minutes)
    stale = {
        str(entity): synced_until
        for entity, synced_until in conn.execute(select(_CP.c.entity, _CP.c.synced_until))
        if synced_until < _stale_before(str(entity), ctx.at, limit)
    }
    if not stale:
        return []
    oldest = min(stale.values())
    names = ", ".join(sorted(stale))
    return [
        Condition(
            rule="sync_stale",
            subject="sync",
            title="Sync is stale",
            message=(
                f"{names}: synced only up to {oldest.astimezone(IST):%d %b %Y %H:%M} IST, "
                f"{(ctx.at - oldest).total_seconds() / 60:,.0f} minutes before now (limit "
                f"{ctx.rules.sync_stale_minutes} minutes). Is `python -m sync run --watch` "
                "(or its schedule) running? See the last run's error on Sync status."
            ),
            evidence={
                "entities": {entity: _iso(until) for entity, until in sorted(stale.items())},
                "limit_minutes": ctx.rules.sync_stale_minutes,
            },
            link="sync-status",
        )
    ]


def _sign_in_failures(conn: Connection, ctx: AlertContext) -> list[Condition]:
    """Failed dashboard sign-ins (audit_log, any name, any address) within the webhook window: someone
    guessing passwords, or a user locked out. The throttle already slows each name and address down."""
    audit = AuditLog.__table__
    minutes = ctx.rules.webhook_window_minutes
    start = ctx.at - timedelta(minutes=minutes)
    failures, first, last, names, addresses = conn.execute(
        select(
            func.count(),
            func.min(audit.c.at),
            func.max(audit.c.at),
            func.count(func.distinct(audit.c.actor)),
            func.count(func.distinct(audit.c.target)),
        ).where(audit.c.action == "sign_in_failed", audit.c.at > start, audit.c.at <= ctx.at)
    ).one()
    if failures < ctx.rules.sign_in_failures_min:
        return []
    return [
        Condition(
            rule="sign_in_failures",
            subject="dashboard",
            title="Many failed dashboard sign-ins",
            message=(
                f"{failures:,} failed sign-ins in the last {minutes} minutes, for {names:,} name(s) from "
                f"{addresses:,} address(es). Names and addresses with repeated failures are locked for "
                "a while; see the audit log (action sign_in_failed) for which."
            ),
            evidence={
                "count": int(failures),
                "names": int(names),
                "addresses": int(addresses),
                "first": _iso(as_utc(first)),
                "last": _iso(as_utc(last)),
                "window_minutes": minutes,
            },
            link=None,
        )
    ]


def _settlement_overdue(conn: Connection, ctx: AlertContext) -> list[Condition]:
    """Reconciliation's captured_not_settled mismatches open as of `at`, summed per currency.

    Reconciliation (`python -m analytics reconcile`, scheduled after the sync) already finds every capture
    past T+N business days without a settlement line; reading its findings keeps this rule's cost to the
    number of such payments, not the number of payments.
    """
    m = _M.c
    open_at = [
        m.rule == "captured_not_settled",
        m.first_seen_at <= ctx.at,
        or_(m.resolved_at.is_(None), m.resolved_at > ctx.at),
    ]
    query = (
        select(m.currency, func.count(), func.sum(m.expected_amount), func.min(_P.c.created_at))
        .select_from(_M.outerjoin(_P, _P.c.id == m.payment_id))
        .where(*open_at)
        .group_by(m.currency)
    )
    conditions = []
    for currency, payments, amount, oldest in conn.execute(query):
        value = as_int(amount)
        if value < ctx.rules.settlement_overdue_min_amount:
            continue
        oldest_text = (
            f"; the oldest was captured {oldest.astimezone(IST):%d %b %Y %H:%M} IST" if oldest else ""
        )
        conditions.append(
            Condition(
                rule="settlement_overdue",
                subject=str(currency),
                title=f"Captured {currency} not settled past T+{ctx.settlement_days}",
                message=(
                    f"{format_amount(value, currency)} across {payments:,} captured payments is not in any "
                    f"settlement past T+{ctx.settlement_days} business days{oldest_text}. Usually a settlement "
                    "on hold, a failed payout, or settlement lines not synced yet."
                ),
                evidence={
                    "currency": currency,
                    "payments": int(payments),
                    "amount": value,
                    "oldest_captured_at": _iso(oldest),
                    "settlement_days": ctx.settlement_days,
                    "source": "reconciliation rule captured_not_settled, open mismatches",
                },
                link=_page_link("mismatches", rule="captured_not_settled"),
            )
        )
    return conditions


def _mismatch_amount(expected: int | None, actual: int | None) -> int:
    if expected is not None and actual is not None:
        return abs(expected - actual)
    return abs(expected if expected is not None else actual or 0)


def _new_mismatches(conn: Connection, ctx: AlertContext) -> list[Condition]:
    rules = ctx.rules
    start = ctx.at - timedelta(hours=rules.new_mismatch_window_hours)
    rows = conn.execute(
        select(_M.c.rule, _M.c.currency, _M.c.expected_amount, _M.c.actual_amount).where(
            _M.c.first_seen_at > start,
            _M.c.first_seen_at <= ctx.at,
            # Captures not settled in time are the settlement-overdue alert's: not counted twice.
            _M.c.rule != "captured_not_settled",
        )
    ).all()
    if not rows:
        return []
    by_rule: dict[str, int] = defaultdict(int)
    inr = 0
    for rule, currency, expected, actual in rows:
        by_rule[str(rule)] += 1
        if currency == "INR":
            inr += _mismatch_amount(expected, actual)
    if len(rows) < rules.new_mismatch_min_count and inr < rules.new_mismatch_min_amount:
        return []
    return [
        Condition(
            rule="new_mismatches",
            subject="reconciliation",
            title="New reconciliation mismatches",
            message=(
                f"{len(rows):,} new mismatches in the last {rules.new_mismatch_window_hours} hours, "
                f"{format_amount(inr, 'INR')} at stake in INR "
                f"({', '.join(f'{rule} {n:,}' for rule, n in sorted(by_rule.items()))}); thresholds "
                f"{rules.new_mismatch_min_count:,} or {format_amount(rules.new_mismatch_min_amount, 'INR')}."
            ),
            evidence={
                "count": len(rows),
                "inr_at_stake": inr,
                "by_rule": dict(by_rule),
                "window_hours": rules.new_mismatch_window_hours,
            },
            link=_page_link("mismatches", status="open"),
        )
    ]


# --- fraud signals ---------------------------------------------------------------------------------------


def fraud_signal_subject(kind: str, subject: str) -> str:
    """An alert's subject for a risk signal about one identity ("email:…", "contact:…", "card:…"): the
    signal, the identity's kind and a digest of its value, so no email or phone number is in an alert's
    key, title or notification (the Risk page shows them, masked by role)."""
    identity, _, value = subject.partition(":")
    return f"{kind}:{identity}:{hashlib.sha256(value.encode()).hexdigest()[:12]}"


def _fraud_signal(conn: Connection, ctx: AlertContext) -> list[Condition]:
    """One alert per card-testing burst or velocity outlier (analytics.risk). A signal whose payments all
    belong to one already raised is the same incident (a card tester's many cards are a velocity signal
    too; one buyer is both an email and a phone number): it is not raised twice."""
    raised: list[set[str]] = []
    conditions = []
    for signal in fraud_signals(conn, ctx.at, ctx.risk, ctx.rules.fraud_signal_kinds):
        ids = set(signal.payment_ids)
        if any(ids <= other for other in raised):
            continue
        raised.append(ids)
        identity = signal.subject.partition(":")[0]
        conditions.append(
            Condition(
                rule="fraud_signal",
                subject=fraud_signal_subject(signal.kind, signal.subject),
                title=signal.title,
                message=f"{signal.explanation} The Risk page lists the payments and who made them.",
                evidence={
                    "signal": signal.kind,
                    "identity": identity,
                    **signal.evidence,
                    "payments": len(signal.payment_ids),
                    "payment_ids": signal.payment_ids[:100],
                    "window_hours": ctx.risk.window_hours,
                },
                link=_page_link("risk", kind=signal.kind),
            )
        )
    return conditions


RULES: dict[str, AlertRule] = {
    rule.id: rule
    for rule in (
        AlertRule(
            "success_drop",
            "high",
            "payments",
            "Success-rate drop against the same hour of previous weeks",
            "A bank, network or app degraded (Razorpay may declare a downtime), or a checkout change.",
            _success_drop,
        ),
        AlertRule(
            "webhook_silence",
            "high",
            "webhooks",
            "Webhook silence while the API shows activity",
            "The webhook was disabled after 24 h of failures, unsubscribed, or its URL changed.",
            _webhook_silence,
        ),
        AlertRule(
            "webhook_signature_rejections",
            "high",
            "webhooks",
            "Spike of signature rejections",
            "A webhook secret rotated in Razorpay but not in RAZORPAY_WEBHOOK_SECRET.",
            _signature_rejections,
        ),
        AlertRule(
            "webhook_non_2xx",
            "high",
            "webhooks",
            "Deliveries answered non-2xx",
            "Malformed or oversized bodies, a proxy in front of the receiver, or the receiver failing.",
            _non_2xx,
        ),
        AlertRule(
            "webhook_delivery_lag",
            "medium",
            "webhooks",
            "Delivery lag p95 over the threshold",
            "Razorpay retrying after errors or timeouts, or a slow receiver.",
            _delivery_lag,
        ),
        AlertRule(
            "sync_stale",
            "high",
            "sync",
            "Sync stale",
            "The sync job stopped, or keeps failing (bad keys, the API unavailable).",
            _sync_stale,
        ),
        AlertRule(
            "sign_in_failures",
            "high",
            "security",
            "Spike of failed dashboard sign-ins",
            "Someone guessing passwords (or names), or a user who forgot theirs and keeps trying.",
            _sign_in_failures,
        ),
        AlertRule(
            "settlement_overdue",
            "critical",
            "money",
            "Captured value past T+N not settled",
            "A settlement on hold or failed, or settlement lines not synced.",
            _settlement_overdue,
        ),
        AlertRule(
            "new_mismatches",
            "high",
            "money",
            "New mismatches above a count or ₹ threshold",
            "A settlement short, fees off-plan, or webhooks and the API disagreeing.",
            _new_mismatches,
        ),
        AlertRule(
            "fraud_signal",
            "high",
            "payments",
            "Card testing or a velocity outlier",
            "Someone checking stolen cards with small charges, or one identity paying unusually often.",
            _fraud_signal,
        ),
    )
}


def detect(conn: Connection, ctx: AlertContext, rules: Iterable[str] | None = None) -> list[Condition]:
    """Every condition that holds at ctx.at (reads only; one list, keys unique)."""
    found: dict[str, Condition] = {}
    for rule_id in rules or RULES:
        for condition in RULES[rule_id].detect(conn, ctx):
            found.setdefault(condition.key, condition)
    return list(found.values())


# --- lifecycle ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    at: datetime
    found: dict[str, int] = field(default_factory=dict)
    fired: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    still_firing: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "found": self.found,
            "fired": self.fired,
            "resolved": self.resolved,
            "still_firing": self.still_firing,
        }


ALERT_COLUMNS = _COLUMNS = [
    "id",
    "key",
    "rule",
    "severity",
    "category",
    "status",
    "title",
    "message",
    "evidence",
    "link",
    "first_fired_at",
    "last_seen_at",
    "resolved_at",
    "acknowledged_at",
    "acknowledged_by",
    "snoozed_until",
    "snoozed_by",
    "notified_at",
]


def _record(row: Any) -> dict[str, Any]:
    record = dict(zip(_COLUMNS, row, strict=True))
    for name in (
        "first_fired_at",
        "last_seen_at",
        "resolved_at",
        "acknowledged_at",
        "snoozed_until",
        "notified_at",
    ):
        record[name] = _iso(record[name])
    return record


def _select_alerts() -> Any:
    return select(*[_A.c[name] for name in _COLUMNS])


def evaluate(
    db: Db,
    *,
    at: datetime,
    rules: AlertRules | None = None,
    settlement_days: int | None = None,
    only: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate the rules as of `at` and move the lifecycle, in one transaction.

    A condition not firing yet opens a new alert (inheriting a snooze still running from its previous
    episode); one already firing refreshes its message, evidence and last_seen_at; a firing alert whose
    condition no longer holds is resolved at `at`. Evaluations are meant to run in time order.
    """
    at = as_utc(at)
    settings = get_settings()
    selected = list(only) if only else list(RULES)
    unknown = [rule_id for rule_id in selected if rule_id not in RULES]
    if unknown:
        raise ValueError(f"unknown alert rule(s): {', '.join(unknown)}; choose from {', '.join(RULES)}")
    ctx = AlertContext(
        at=at,
        rules=rules or settings.alerts,
        settlement_days=settlement_days if settlement_days is not None else settings.settlement_days,
        risk=settings.risk,
    )
    with writing(db) as conn:
        serialise(conn, ALERTS_LOCK)
        conditions = detect(conn, ctx, selected)
        found: dict[str, int] = dict.fromkeys(selected, 0)
        for condition in conditions:
            found[condition.rule] += 1
        by_key = {condition.key: condition for condition in conditions}
        firing = {
            str(key): int(alert_id)
            for alert_id, key in conn.execute(
                select(_A.c.id, _A.c.key).where(_A.c.status == "firing", _A.c.rule.in_(selected))
            )
        }
        new_keys = [key for key in by_key if key not in firing]
        snoozes = _running_snoozes(conn, new_keys, at)
        fired_ids: list[int] = []
        for key in new_keys:
            condition = by_key[key]
            rule = RULES[condition.rule]
            snoozed_until, snoozed_by = snoozes.get(key, (None, None))
            alert_id = conn.execute(
                insert(_A)
                .values(
                    key=key,
                    rule=condition.rule,
                    severity=rule.severity,
                    category=rule.category,
                    status="firing",
                    title=condition.title[:200],
                    message=condition.message,
                    evidence=condition.evidence,
                    link=condition.link,
                    first_fired_at=at,
                    last_seen_at=at,
                    snoozed_until=snoozed_until,
                    snoozed_by=snoozed_by,
                )
                .returning(_A.c.id)
            ).scalar_one()
            fired_ids.append(int(alert_id))
        for key, alert_id in firing.items():
            current = by_key.get(key)
            if current is None:
                conn.execute(update(_A).where(_A.c.id == alert_id).values(status="resolved", resolved_at=at))
            else:
                conn.execute(
                    update(_A)
                    .where(_A.c.id == alert_id)
                    .values(
                        title=current.title[:200],
                        message=current.message,
                        evidence=current.evidence,
                        link=current.link,
                        last_seen_at=at,
                    )
                )
        resolved_ids = [alert_id for key, alert_id in firing.items() if key not in by_key]
        changed = {
            int(row[0]): _record(row)
            for row in conn.execute(_select_alerts().where(_A.c.id.in_([*fired_ids, *resolved_ids])))
        }
    return Evaluation(
        at=at,
        found=found,
        fired=[changed[i] for i in fired_ids],
        resolved=[changed[i] for i in resolved_ids],
        still_firing=len(firing) - len(resolved_ids),
    )


def _running_snoozes(conn: Connection, keys: Sequence[str], at: datetime) -> dict[str, tuple[datetime, str]]:
    if not keys:
        return {}
    rows = conn.execute(
        select(_A.c.key, _A.c.snoozed_until, _A.c.snoozed_by)
        .where(_A.c.key.in_(list(keys)), _A.c.snoozed_until > at)
        .order_by(_A.c.snoozed_until)
    )
    return {str(key): (until, str(by)) for key, until, by in rows}


def get_alert(db: Db, alert_id: int) -> dict[str, Any] | None:
    with reading(db) as conn:
        row = conn.execute(_select_alerts().where(_A.c.id == alert_id)).first()
    return _record(row) if row is not None else None


# The Alerts page lists at most this many (its cards and "Showing N of M" count them all in SQL).
ALERTS_LISTED = 500


def alerts_query(
    *,
    status: str | None = None,
    categories: Sequence[str] | None = None,
    alert_ids: Sequence[int] | None = None,
) -> Any:
    """Alerts, firing ones first (most severe, then newest), then the history newest first
    (`ALERT_COLUMNS`): what the page lists the first of and what its CSV streams."""
    severity_order = case({"critical": 0, "high": 1, "medium": 2, "low": 3}, value=_A.c.severity, else_=4)
    query = _select_alerts().order_by(
        case((_A.c.status == "firing", 0), else_=1),
        severity_order,
        _A.c.first_fired_at.desc(),
        _A.c.id.desc(),
    )
    if status is not None:
        if status not in ("firing", "resolved"):
            raise ValueError(f"status must be firing or resolved, not {status!r}")
        query = query.where(_A.c.status == status)
    if categories is not None:
        query = query.where(_A.c.category.in_(list(categories)))
    if alert_ids is not None:
        query = query.where(_A.c.id.in_(list(alert_ids)))
    return query


def list_alerts(
    db: Db,
    *,
    status: str | None = None,
    categories: Sequence[str] | None = None,
    alert_ids: Sequence[int] | None = None,
    limit: int = ALERTS_LISTED,
) -> list[dict[str, Any]]:
    """The first `limit` of `alerts_query` (see `alert_counts` for how many there are)."""
    query = alerts_query(status=status, categories=categories, alert_ids=alert_ids)
    with reading(db) as conn:
        return [_record(row) for row in conn.execute(query.limit(limit))]


def alert_rows(db: Db, *, categories: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every alert of `alerts_query` as an `ALERT_COLUMNS` dict, streamed in chunks (the CSV's rows:
    times stay datetimes, so the one CSV writer writes them in IST)."""
    with reading(db) as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
            alerts_query(categories=categories)
        )
        for part in result.partitions():
            yield from (dict(zip(_COLUMNS, row, strict=True)) for row in part)


def alert_counts(db: Db, *, at: datetime, categories: Sequence[str] | None = None) -> dict[str, int]:
    """How many alerts there are (COUNTs, whatever a list shows): `total`, `firing`, `acknowledged`
    (firing, someone is on it), `snoozed` (firing, snoozed past `at`) and `resolved`."""
    firing = _A.c.status == "firing"
    query = select(
        func.count(),
        func.count(case((firing, 1))),
        func.count(case((firing & _A.c.acknowledged_by.is_not(None), 1))),
        func.count(case((firing & (_A.c.snoozed_until > as_utc(at)), 1))),
        func.count(case((_A.c.status == "resolved", 1))),
    ).select_from(_A)
    if categories is not None:
        query = query.where(_A.c.category.in_(list(categories)))
    with reading(db) as conn:
        row = conn.execute(query).one()
    return dict(
        zip(("total", "firing", "acknowledged", "snoozed", "resolved"), map(as_int, row), strict=True)
    )


def _actor(by: str) -> str:
    if not by or not by.strip():
        raise AlertError("who is deciding (--by) is required")
    return by.strip()


def acknowledge(db: Db, alert_id: int, *, by: str, at: datetime) -> dict[str, Any]:
    """Someone is on it: recorded on the alert and in the audit log. Only a firing alert can be acknowledged."""
    actor, at = _actor(by), as_utc(at)
    with writing(db) as conn:
        row = conn.execute(select(_A.c.status, _A.c.key).where(_A.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(f"alert {alert_id} does not exist")
        if row.status != "firing":
            raise AlertError(f"alert {alert_id} is {row.status}; only a firing alert can be acknowledged")
        conn.execute(update(_A).where(_A.c.id == alert_id).values(acknowledged_at=at, acknowledged_by=actor))
        record_audit(
            conn,
            at=at,
            actor=actor,
            action="alert.acknowledge",
            target=f"alert:{alert_id}",
            detail={"key": row.key},
        )
        result = conn.execute(_select_alerts().where(_A.c.id == alert_id)).one()
    return _record(result)


def snooze(db: Db, alert_id: int, *, until: datetime, by: str, at: datetime) -> dict[str, Any]:
    """No notifications for this condition until `until` (a new episode before then inherits it); audited."""
    actor, at, until = _actor(by), as_utc(at), as_utc(until)
    if until <= at:
        raise AlertError(f"snooze until {until.isoformat()} is not in the future")
    with writing(db) as conn:
        row = conn.execute(select(_A.c.key).where(_A.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(f"alert {alert_id} does not exist")
        conn.execute(update(_A).where(_A.c.id == alert_id).values(snoozed_until=until, snoozed_by=actor))
        record_audit(
            conn,
            at=at,
            actor=actor,
            action="alert.snooze",
            target=f"alert:{alert_id}",
            detail={"key": row.key, "until": until.isoformat()},
        )
        result = conn.execute(_select_alerts().where(_A.c.id == alert_id)).one()
    return _record(result)


def mark_notified(db: Db, alert_ids: Sequence[int], at: datetime) -> None:
    if not alert_ids:
        return
    with writing(db) as conn:
        conn.execute(update(_A).where(_A.c.id.in_(list(alert_ids))).values(notified_at=as_utc(at)))


def is_snoozed(alert: Mapping[str, Any], at: datetime) -> bool:
    until = alert.get("snoozed_until")
    return until is not None and datetime.fromisoformat(str(until)) > at


PAYMENTS_BEHIND_COLUMNS = [
    "id",
    "created_at",
    "status",
    "amount",
    "currency",
    "method",
    "bank",
    "card_network",
    "upi_app",
    "wallet",
    "error_code",
    "error_reason",
]


def payments_behind_query(alert: Mapping[str, Any]) -> Any | None:
    """The attempts a success-drop alert counted, newest first (`PAYMENTS_BEHIND_COLUMNS`; no email or
    phone), or None for an alert that names no payments."""
    spec = alert.get("evidence", {}).get("payments")
    if not spec:
        return None
    p = _P.c
    conditions = [
        p.created_at >= datetime.fromisoformat(spec["from"]),
        p.created_at < datetime.fromisoformat(spec["to"]),
        p.status != "created",
    ]
    for name in ("method", "country", *SLICE_DIMENSIONS):
        if name in spec:
            value = spec[name]
            column = p[name]
            conditions.append(or_(column.is_(None), column == "") if value == "unknown" else column == value)
    return (
        select(*[p[name] for name in PAYMENTS_BEHIND_COLUMNS])
        .where(and_(*conditions))
        .order_by(p.created_at.desc(), p.id.desc())
    )


def payments_behind(db: Db, alert: Mapping[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """The first `limit` of `payments_behind_query` (times as ISO text)."""
    query = payments_behind_query(alert)
    if query is None:
        return []
    with reading(db) as conn:
        return [
            {
                name: (_iso(value) if isinstance(value, datetime) else value)
                for name, value in zip(PAYMENTS_BEHIND_COLUMNS, row, strict=True)
            }
            for row in conn.execute(query.limit(limit))
        ]
