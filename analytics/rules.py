"""Reconciliation rules: one set-based query per rule, each with a stable id, severity and explanation.

A rule returns Findings (the evidence of one mismatch each); `analytics.reconcile` stores them with a
lifecycle. Rules never write. `now` comes from the RuleContext so tests can fix the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, case, exists, func, literal, or_, select

from analytics.reconcile_scope import Scope
from analytics.webhook_health import missing_events, status_conflicts
from data import money
from data.ist import ist_day_of, ist_midnight, to_ist
from data.models import Dispute, Order, Payment, Refund, Settlement, SettlementLine
from data.settings import DEFAULT_FEE_RATE_RANGES, Settings, get_settings
from data.vocabulary import CAPTURED_STATUSES

__all__ = [
    "DEFAULT_FEE_RATE_RANGES",
    "RULES",
    "Finding",
    "Rule",
    "RuleContext",
    "business_day_cutoff",
    "format_amount",
]

_P: Table = Payment.__table__  # type: ignore[assignment]
_O: Table = Order.__table__  # type: ignore[assignment]
_R: Table = Refund.__table__  # type: ignore[assignment]
_S: Table = Settlement.__table__  # type: ignore[assignment]
_L: Table = SettlementLine.__table__  # type: ignore[assignment]
_D: Table = Dispute.__table__  # type: ignore[assignment]

# 'INR 1234.50' from minor units (data.money, exponents from babel): the text of explanations.
format_amount = money.plain


def add_business_days(day: date, days: int) -> date:
    """`day` + `days` weekdays (Saturday and Sunday skipped; no bank-holiday calendar)."""
    current = day
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def business_day_cutoff(now: datetime, days: int) -> datetime:
    """Entities created before the returned instant are past T+`days` business days (IST calendar).

    An entity created on IST day d is due by the end of d + `days` business days; it is overdue when
    that whole day has passed, i.e. due date < today (IST).
    """
    today = ist_day_of(now)
    day = today
    while add_business_days(day, days) >= today:
        day -= timedelta(days=1)
    return ist_midnight(day + timedelta(days=1))


# The defaults are the settings' own (data.settings.Settings), so a threshold has one home.
_SETTING_DEFAULTS = Settings.model_fields


@dataclass(frozen=True)
class RuleContext:
    """When the rules run and with which thresholds; `configured` takes them from the settings."""

    now: datetime
    settlement_days: int = _SETTING_DEFAULTS["settlement_days"].default
    authorized_days: int = _SETTING_DEFAULTS["authorized_days"].default
    webhook_grace_minutes: int = _SETTING_DEFAULTS["webhook_grace_minutes"].default
    fee_rate_ranges: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: dict(DEFAULT_FEE_RATE_RANGES)
    )
    # None on a full pass; on an incremental one, the entities the rules look at (analytics.reconcile_scope).
    scope: Scope | None = None

    @classmethod
    def configured(cls, now: datetime, *, settings: Settings | None = None, **overrides: Any) -> RuleContext:
        """The thresholds of `settings` (the process's by default), with `overrides` on top."""
        settings = settings or get_settings()
        thresholds: dict[str, Any] = {
            "settlement_days": settings.settlement_days,
            "authorized_days": settings.authorized_days,
            "webhook_grace_minutes": settings.webhook_grace_minutes,
            "fee_rate_ranges": dict(settings.fee_rate_ranges),
        }
        return cls(now=now, **{**thresholds, **overrides})

    def thresholds(self) -> dict[str, int]:
        """The numbers a rule's explanation may name: {settlement_days}, {authorized_days}, ..."""
        return _named_thresholds(self)

    def within(self, kind: str, column: Any) -> list[ColumnElement[bool]]:
        """No condition on a full pass; on an incremental one, `column` kept to the scope's `kind` ids."""
        return [] if self.scope is None else [self.scope.within(kind, column)]


def _named_thresholds(source: RuleContext | Settings) -> dict[str, int]:
    return {
        "settlement_days": source.settlement_days,
        "authorized_days": source.authorized_days,
        "webhook_grace_minutes": source.webhook_grace_minutes,
    }


@dataclass(frozen=True)
class Finding:
    """One detected mismatch with its evidence; `subject` makes `key` unique within the rule."""

    rule: str
    subject: str
    detail: str
    evidence: dict[str, Any]
    payment_id: str | None = None
    order_id: str | None = None
    refund_id: str | None = None
    settlement_id: str | None = None
    currency: str | None = None
    expected_amount: int | None = None
    actual_amount: int | None = None

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


Detector = Callable[[Connection, RuleContext], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # critical | high | medium | low
    title: str
    # What the rule finds; may name thresholds as {settlement_days}, {authorized_days} or
    # {webhook_grace_minutes}, filled in by `explain` with the thresholds the rule ran with.
    explanation_template: str
    usual_cause: str
    detect: Detector

    def explain(self, ctx: RuleContext) -> str:
        return self.explanation_template.format(**ctx.thresholds())

    @property
    def explanation(self) -> str:
        """The explanation with the configured thresholds (for catalogues and pages)."""
        return self.explanation_template.format(**_named_thresholds(get_settings()))


def _when(moment: datetime) -> str:
    """A time in an explanation, as the screens show it: `26 Nov 2026, 07:03 IST`."""
    return f"{to_ist(moment):%d %b %Y, %H:%M} IST"


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


# --- the rules ------------------------------------------------------------------------------------------


def _captured_not_settled(conn: Connection, ctx: RuleContext) -> list[Finding]:
    cutoff = business_day_cutoff(ctx.now, ctx.settlement_days)
    has_line = exists().where(_L.c.type == "payment", _L.c.payment_id == _P.c.id)
    query = select(_P.c.id, _P.c.order_id, _P.c.amount, _P.c.currency, _P.c.fee, _P.c.created_at).where(
        _P.c.status.in_(CAPTURED_STATUSES),
        _P.c.created_at < cutoff,
        ~has_line,
        *ctx.within("payment", _P.c.id),
    )
    findings = []
    for row in conn.execute(query):
        findings.append(
            Finding(
                rule="captured_not_settled",
                subject=row.id,
                payment_id=row.id,
                order_id=row.order_id,
                currency=row.currency,
                expected_amount=row.amount,
                actual_amount=0,
                detail=(
                    f"Payment {row.id} ({format_amount(row.amount, row.currency)}) captured "
                    f"{_when(row.created_at)} has no settlement line after T+{ctx.settlement_days} "
                    "business days."
                ),
                evidence={
                    "payment_id": row.id,
                    "amount": row.amount,
                    "currency": row.currency,
                    "fee": row.fee,
                    "captured_at": _iso(row.created_at),
                    "settlement_days": ctx.settlement_days,
                    "due_before": _iso(cutoff),
                },
            )
        )
    return findings


def _payment_line_expected_amount(line: Table) -> Any:
    """What a payment's recon line should carry as `amount`, in the line's own currency: the base amount
    for an international payment (Razorpay settles it in INR), the amount itself for one in the line's
    currency; NULL when the payment states nothing in that currency (then the line cannot be matched)."""
    return case(
        (_P.c.base_currency == line.c.currency, _P.c.base_amount),
        (_P.c.currency == line.c.currency, _P.c.amount),
        else_=None,
    )


def _settlement_line_amount_mismatch(conn: Connection, ctx: RuleContext) -> list[Finding]:
    expected_amount = _payment_line_expected_amount(_L)
    payment_lines = (
        select(
            _L.c.entity_id,
            _L.c.type,
            _L.c.settlement_id,
            _L.c.amount,
            _L.c.fee,
            _L.c.tax,
            _L.c.currency,
            _P.c.id.label("payment_id"),
            expected_amount.label("expected_amount"),
            func.coalesce(_P.c.fee, 0).label("expected_fee"),
            func.coalesce(_P.c.tax, 0).label("expected_tax"),
            _P.c.amount.label("paid_amount"),
            _P.c.currency.label("paid_currency"),
        )
        .join(_P, _P.c.id == _L.c.entity_id)
        .where(
            _L.c.type == "payment",
            *ctx.within("payment", _P.c.id),
            or_(
                expected_amount.is_(None),
                _L.c.amount != expected_amount,
                # fee and tax are stated in the base currency on both sides.
                _L.c.fee != func.coalesce(_P.c.fee, 0),
                _L.c.tax != func.coalesce(_P.c.tax, 0),
            ),
        )
    )
    refund_lines = (
        select(
            _L.c.entity_id,
            _L.c.type,
            _L.c.settlement_id,
            _L.c.amount,
            _L.c.fee,
            _L.c.tax,
            _L.c.currency,
            _R.c.payment_id.label("payment_id"),
            _R.c.amount.label("expected_amount"),
            literal(0).label("expected_fee"),
            literal(0).label("expected_tax"),
            _R.c.amount.label("paid_amount"),
            _R.c.currency.label("paid_currency"),
        )
        .join(_R, _R.c.id == _L.c.entity_id)
        # A refund of an international payment is debited in the base currency at that day's rate, which
        # the refund does not state: only lines in the refund's own currency can be compared.
        .where(
            _L.c.type == "refund",
            _L.c.currency == _R.c.currency,
            _L.c.amount != _R.c.amount,
            *ctx.within("payment", _R.c.payment_id),
        )
    )
    # A lost dispute's deduction: the adjustment line's debit must be what the dispute says was deducted.
    adjustment_lines = (
        select(
            _L.c.entity_id,
            _L.c.type,
            _L.c.settlement_id,
            _L.c.debit.label("amount"),
            _L.c.fee,
            _L.c.tax,
            _L.c.currency,
            _D.c.payment_id.label("payment_id"),
            _D.c.amount_deducted.label("expected_amount"),
            literal(0).label("expected_fee"),
            literal(0).label("expected_tax"),
            _D.c.amount.label("paid_amount"),
            _D.c.currency.label("paid_currency"),
            _D.c.id.label("dispute_id"),
        )
        .join(_D, _D.c.id == _L.c.dispute_id)
        .where(
            _L.c.type == "adjustment",
            _L.c.currency == _D.c.currency,
            _L.c.debit - _L.c.credit != _D.c.amount_deducted,
            *ctx.within("payment", _D.c.payment_id),
        )
    )
    findings = []
    for query in (payment_lines, refund_lines, adjustment_lines):
        for row in conn.execute(query):
            findings.append(_line_finding(row))
    return findings


def _line_finding(row: Any) -> Finding:
    currency = row.currency
    if row.expected_amount is None:
        differences = [
            f"the payment states no amount in {currency} (it was {format_amount(row.paid_amount, row.paid_currency)}"
            " with no base amount)"
        ]
    else:
        differences = [
            f"{name} {format_amount(line, currency)} vs {format_amount(expected, currency)}"
            for name, line, expected in (
                ("amount", row.amount, row.expected_amount),
                ("fee", row.fee, row.expected_fee),
                ("tax", row.tax, row.expected_tax),
            )
            if line != expected
        ]
    dispute_id = getattr(row, "dispute_id", None)
    subject = f"dispute {dispute_id} (deducted)" if dispute_id else row.type
    evidence: dict[str, Any] = {
        "entity_id": row.entity_id,
        "type": row.type,
        "settlement_id": row.settlement_id,
        "line": {"amount": row.amount, "fee": row.fee, "tax": row.tax},
        "expected": {"amount": row.expected_amount, "fee": row.expected_fee, "tax": row.expected_tax},
        "currency": currency,
    }
    if row.paid_currency != currency:
        # International payment: what the customer paid, beside the base-currency figures compared.
        evidence["paid"] = {"amount": row.paid_amount, "currency": row.paid_currency}
    if dispute_id:
        evidence["dispute_id"] = dispute_id
    return Finding(
        rule="settlement_line_amount_mismatch",
        subject=row.entity_id,
        payment_id=row.payment_id,
        refund_id=row.entity_id if row.type == "refund" else None,
        settlement_id=row.settlement_id,
        currency=currency,
        expected_amount=row.expected_amount,
        actual_amount=row.amount,
        detail=(
            f"Settlement line for {row.type} {row.entity_id} in settlement {row.settlement_id} "
            f"disagrees with the {subject}: " + "; ".join(differences) + "."
        ),
        evidence=evidence,
    )


def _settlement_total_mismatch(conn: Connection, ctx: RuleContext) -> list[Finding]:
    lines = (
        select(
            _L.c.settlement_id,
            func.sum(_L.c.credit).label("credits"),
            func.sum(_L.c.debit).label("debits"),
            # Lost disputes and other deductions: part of the debits, shown on their own.
            func.sum(case((_L.c.type == "adjustment", _L.c.debit - _L.c.credit), else_=0)).label(
                "adjustments"
            ),
            func.count().label("lines"),
        )
        .where(_L.c.settlement_id.is_not(None), *ctx.within("settlement", _L.c.settlement_id))
        .group_by(_L.c.settlement_id)
        .subquery()
    )
    credits = func.coalesce(lines.c.credits, 0)
    debits = func.coalesce(lines.c.debits, 0)
    query = (
        select(
            _S.c.id,
            _S.c.amount,
            _S.c.currency,
            _S.c.utr,
            _S.c.created_at,
            credits.label("credits"),
            debits.label("debits"),
            func.coalesce(lines.c.adjustments, 0).label("adjustments"),
            func.coalesce(lines.c.lines, 0).label("lines"),
        )
        .select_from(_S.outerjoin(lines, lines.c.settlement_id == _S.c.id))
        .where(_S.c.status != "failed", _S.c.amount != credits - debits, *ctx.within("settlement", _S.c.id))
    )
    findings = []
    for row in conn.execute(query):
        expected = int(row.credits) - int(row.debits)
        findings.append(
            Finding(
                rule="settlement_total_mismatch",
                subject=row.id,
                settlement_id=row.id,
                currency=row.currency,
                expected_amount=expected,
                actual_amount=row.amount,
                detail=(
                    f"Settlement {row.id} (UTR {row.utr or '—'}) paid {format_amount(row.amount, row.currency)} "
                    f"but its {int(row.lines)} lines add up to {format_amount(expected, row.currency)} "
                    f"(credits {format_amount(int(row.credits), row.currency)} − debits "
                    f"{format_amount(int(row.debits), row.currency)}, of which adjustments "
                    f"{format_amount(int(row.adjustments), row.currency)}); difference "
                    f"{format_amount(row.amount - expected, row.currency)}."
                ),
                evidence={
                    "settlement_id": row.id,
                    "utr": row.utr,
                    "amount": row.amount,
                    "credits": int(row.credits),
                    "debits": int(row.debits),
                    "adjustments": int(row.adjustments),
                    "lines": int(row.lines),
                    "difference": row.amount - expected,
                    "currency": row.currency,
                    "created_at": _iso(row.created_at),
                },
            )
        )
    return findings


def _order_paid_without_capture(conn: Connection, ctx: RuleContext) -> list[Finding]:
    captured = exists().where(_P.c.order_id == _O.c.id, _P.c.status.in_(CAPTURED_STATUSES))
    query = select(_O.c.id, _O.c.amount, _O.c.amount_paid, _O.c.currency, _O.c.created_at).where(
        _O.c.status == "paid", ~captured, *ctx.within("order", _O.c.id)
    )
    return [
        Finding(
            rule="order_paid_without_capture",
            subject=row.id,
            order_id=row.id,
            currency=row.currency,
            expected_amount=row.amount_paid,
            actual_amount=0,
            detail=(
                f"Order {row.id} is paid ({format_amount(row.amount_paid, row.currency)}) but none of its "
                "payments is captured."
            ),
            evidence={
                "order_id": row.id,
                "amount": row.amount,
                "amount_paid": row.amount_paid,
                "currency": row.currency,
                "created_at": _iso(row.created_at),
            },
        )
        for row in conn.execute(query)
    ]


def _order_multiple_captures(conn: Connection, ctx: RuleContext) -> list[Finding]:
    captured = _P.c.status.in_(CAPTURED_STATUSES)
    orders = (
        select(_P.c.order_id)
        .where(captured, _P.c.order_id.is_not(None), *ctx.within("order", _P.c.order_id))
        .group_by(_P.c.order_id)
        .having(func.count() > 1)
        .subquery()
    )
    query = (
        select(
            _P.c.order_id,
            _P.c.id,
            _P.c.amount,
            _P.c.currency,
            _P.c.created_at,
            _O.c.amount.label("order_amount"),
        )
        .join(orders, orders.c.order_id == _P.c.order_id)
        .outerjoin(_O, _O.c.id == _P.c.order_id)
        .where(captured)
        .order_by(_P.c.order_id, _P.c.created_at, _P.c.id)
    )
    grouped: dict[str, list[Any]] = {}
    for row in conn.execute(query):
        grouped.setdefault(row.order_id, []).append(row)
    findings = []
    for order_id, rows in grouped.items():
        currency = rows[0].currency
        total = sum(row.amount for row in rows)
        findings.append(
            Finding(
                rule="order_multiple_captures",
                subject=order_id,
                order_id=order_id,
                payment_id=rows[-1].id,
                currency=currency,
                expected_amount=rows[0].order_amount,
                actual_amount=total,
                detail=(
                    f"Order {order_id} has {len(rows)} captured payments ("
                    + ", ".join(f"{row.id} {format_amount(row.amount, row.currency)}" for row in rows)
                    + "): the customer was charged more than once."
                ),
                evidence={
                    "order_id": order_id,
                    "order_amount": rows[0].order_amount,
                    "payments": [
                        {"payment_id": row.id, "amount": row.amount, "created_at": _iso(row.created_at)}
                        for row in rows
                    ],
                    "currency": currency,
                },
            )
        )
    return findings


def _authorized_not_captured(conn: Connection, ctx: RuleContext) -> list[Finding]:
    cutoff = ctx.now - timedelta(days=ctx.authorized_days)
    query = select(_P.c.id, _P.c.order_id, _P.c.amount, _P.c.currency, _P.c.created_at, _P.c.method).where(
        _P.c.status == "authorized", _P.c.created_at < cutoff, *ctx.within("payment", _P.c.id)
    )
    return [
        Finding(
            rule="authorized_not_captured",
            subject=row.id,
            payment_id=row.id,
            order_id=row.order_id,
            currency=row.currency,
            expected_amount=row.amount,
            actual_amount=0,
            detail=(
                f"Payment {row.id} ({format_amount(row.amount, row.currency)}, {row.method}) was authorized "
                f"{_when(row.created_at)} and is still not captured after {ctx.authorized_days} days: "
                "Razorpay will auto-refund it."
            ),
            evidence={
                "payment_id": row.id,
                "order_id": row.order_id,
                "amount": row.amount,
                "currency": row.currency,
                "authorized_at": _iso(row.created_at),
                "age_hours": int((ctx.now - row.created_at).total_seconds() // 3600),
            },
        )
        for row in conn.execute(query)
    ]


def _refund_not_debited(conn: Connection, ctx: RuleContext) -> list[Finding]:
    cutoff = business_day_cutoff(ctx.now, ctx.settlement_days)
    has_line = exists().where(_L.c.type == "refund", _L.c.entity_id == _R.c.id)
    query = select(_R.c.id, _R.c.payment_id, _R.c.amount, _R.c.currency, _R.c.created_at).where(
        _R.c.status == "processed", _R.c.created_at < cutoff, ~has_line, *ctx.within("refund", _R.c.id)
    )
    return [
        Finding(
            rule="refund_not_debited",
            subject=row.id,
            refund_id=row.id,
            payment_id=row.payment_id,
            currency=row.currency,
            expected_amount=row.amount,
            actual_amount=0,
            detail=(
                f"Refund {row.id} of payment {row.payment_id} ({format_amount(row.amount, row.currency)}), "
                f"processed {_when(row.created_at)}, has no debit line in any settlement after "
                f"T+{ctx.settlement_days} business days."
            ),
            evidence={
                "refund_id": row.id,
                "payment_id": row.payment_id,
                "amount": row.amount,
                "currency": row.currency,
                "processed_at": _iso(row.created_at),
                "due_before": _iso(cutoff),
            },
        )
        for row in conn.execute(query)
    ]


def _fee_rate_anomaly(conn: Connection, ctx: RuleContext) -> list[Finding]:
    ranges = dict(ctx.fee_rate_ranges)
    default_low, default_high = ranges.pop("*", DEFAULT_FEE_RATE_RANGES["*"])
    method = _P.c.method
    low = case(
        *[(method == name, literal(bounds[0])) for name, bounds in ranges.items()], else_=literal(default_low)
    )
    high = case(
        *[(method == name, literal(bounds[1])) for name, bounds in ranges.items()],
        else_=literal(default_high),
    )
    # Razorpay states the fee in the base currency: it is a share of the base amount, not of what a
    # foreign customer paid. A foreign payment without a base amount cannot be judged (and is not).
    base_amount = _P.c.base_amount
    scaled_fee = _P.c.fee * 10_000
    query = select(
        _P.c.id,
        _P.c.order_id,
        _P.c.amount,
        _P.c.currency,
        base_amount,
        _P.c.base_currency,
        _P.c.conversion_rate,
        _P.c.fee,
        _P.c.tax,
        _P.c.method,
        low,
        high,
    ).where(
        _P.c.status.in_(CAPTURED_STATUSES),
        _P.c.fee.is_not(None),
        base_amount > 0,
        or_(scaled_fee < base_amount * low, scaled_fee > base_amount * high),
        *ctx.within("payment", _P.c.id),
    )
    findings = []
    for row in conn.execute(query):
        (
            payment_id,
            order_id,
            amount,
            currency,
            base,
            base_currency,
            conversion,
            fee,
            tax,
            method_name,
            low_bp,
            high_bp,
        ) = row
        rate_bp = fee * 10_000 / base
        paid = format_amount(amount, currency)
        on = paid if base_currency == currency else f"{paid}, credited {format_amount(base, base_currency)}"
        if conversion is not None:
            # The rate Razorpay converted at: a fee that looks wrong is often a conversion that was.
            on += f" at {Decimal(conversion).normalize():f} {base_currency} per {currency}"
        evidence: dict[str, Any] = {
            "payment_id": payment_id,
            "method": method_name,
            "amount": amount,
            "currency": currency,
            "base_amount": base,
            "base_currency": base_currency,
            "conversion_rate": None if conversion is None else f"{Decimal(conversion).normalize():f}",
            "fee": fee,
            "tax": tax,
            "rate_bp": round(rate_bp, 2),
            "range_bp": [int(low_bp), int(high_bp)],
        }
        findings.append(
            Finding(
                rule="fee_rate_anomaly",
                subject=payment_id,
                payment_id=payment_id,
                order_id=order_id,
                currency=base_currency,
                expected_amount=None,
                actual_amount=fee,
                detail=(
                    f"Payment {payment_id} ({method_name}, {on}) was charged a fee of "
                    f"{format_amount(fee, base_currency)} = {rate_bp / 100:.2f}% of the "
                    f"{'amount' if base_currency == currency else 'base amount'}; the configured range for "
                    f"{method_name} is {int(low_bp) / 100:.2f}%–{int(high_bp) / 100:.2f}%."
                ),
                evidence=evidence,
            )
        )
    return findings


def _webhook_missing(conn: Connection, ctx: RuleContext) -> list[Finding]:
    return [
        Finding(
            rule="webhook_missing",
            subject=f"{missing.expected_event}:{missing.entity_id}",
            payment_id=missing.payment_id,
            refund_id=missing.entity_id if missing.expected_event.startswith("refund.") else None,
            order_id=missing.entity_id if missing.expected_event.startswith("order.") else None,
            currency=missing.currency,
            expected_amount=missing.amount,
            detail=(
                f"No {missing.expected_event} webhook arrived for {missing.entity_id} (status {missing.status} per "
                f"the API, created {_when(missing.created_at)}) within {ctx.webhook_grace_minutes} "
                "minutes, although webhooks were flowing then."
            ),
            evidence={
                "expected_event": missing.expected_event,
                "entity_id": missing.entity_id,
                "payment_id": missing.payment_id,
                "status": missing.status,
                "amount": missing.amount,
                "currency": missing.currency,
                "created_at": _iso(missing.created_at),
            },
        )
        for missing in missing_events(
            conn,
            now=ctx.now,
            grace_minutes=ctx.webhook_grace_minutes,
            within=None if ctx.scope is None else ctx.scope.within,
        )
    ]


def _webhook_status_conflict(conn: Connection, ctx: RuleContext) -> list[Finding]:
    return [
        Finding(
            rule="webhook_status_conflict",
            subject=f"{conflict.payment_id}:{conflict.event_id}",
            payment_id=conflict.payment_id,
            detail=(
                f"Webhook {conflict.event_type} ({conflict.event_id}) says payment {conflict.payment_id} is "
                f"{conflict.webhook_status}, but the API says {conflict.api_status}."
            ),
            evidence={
                "payment_id": conflict.payment_id,
                "event_id": conflict.event_id,
                "event_type": conflict.event_type,
                "webhook_status": conflict.webhook_status,
                "api_status": conflict.api_status,
                "event_created_at": _iso(conflict.event_created_at),
            },
        )
        for conflict in status_conflicts(conn, within=None if ctx.scope is None else ctx.scope.within)
    ]


_RULE_LIST = [
    Rule(
        id="captured_not_settled",
        severity="high",
        title="Captured payment not settled",
        explanation_template="A captured payment has no line in any settlement after T+{settlement_days} business days.",
        usual_cause=(
            "The settlement is on hold (risk review, KYC), the recon report for that day was not synced yet, "
            "or the capture happened late in the day and a bank holiday pushed the payout."
        ),
        detect=_captured_not_settled,
    ),
    Rule(
        id="settlement_line_amount_mismatch",
        severity="high",
        title="Settlement line disagrees with its payment or refund",
        explanation_template=(
            "A settlement line's amount, fee or tax differs from the payment (or refund) it settles, compared "
            "in the line's currency (an international payment's base amount); or a dispute adjustment "
            "deducts other than the dispute's amount_deducted."
        ),
        usual_cause="A fee revision applied after capture, a partial capture, or an adjustment folded into the line.",
        detect=_settlement_line_amount_mismatch,
    ),
    Rule(
        id="settlement_total_mismatch",
        severity="critical",
        title="Settlement total ≠ credits − debits",
        explanation_template="The amount paid out in a settlement differs from the credits minus debits of its lines.",
        usual_cause=(
            "Lines missing from the synced recon report, an adjustment or reserve deduction not reported as a "
            "line, or a manual payout correction."
        ),
        detect=_settlement_total_mismatch,
    ),
    Rule(
        id="order_paid_without_capture",
        severity="high",
        title="Paid order without a captured payment",
        explanation_template="An order is marked paid but none of its payments is captured.",
        usual_cause="A payment sync gap (the captured payment was not fetched) or a payment captured on another order.",
        detect=_order_paid_without_capture,
    ),
    Rule(
        id="order_multiple_captures",
        severity="critical",
        title="Order captured more than once",
        explanation_template="More than one payment of the same order is captured: the customer paid twice.",
        usual_cause="The customer retried after a timeout and both attempts were captured (auto-capture on).",
        detect=_order_multiple_captures,
    ),
    Rule(
        id="authorized_not_captured",
        severity="high",
        title="Authorized but not captured",
        explanation_template=(
            "A payment has stayed authorized for more than {authorized_days} days; Razorpay auto-refunds such "
            "payments."
        ),
        usual_cause="Manual capture is configured and the capture call failed or was never made.",
        detect=_authorized_not_captured,
    ),
    Rule(
        id="refund_not_debited",
        severity="medium",
        title="Processed refund not debited",
        explanation_template=(
            "A processed refund has no debit line in any settlement after T+{settlement_days} business days."
        ),
        usual_cause="The refund was funded from a separate balance, or the recon report for that day was not synced.",
        detect=_refund_not_debited,
    ),
    Rule(
        id="webhook_missing",
        severity="medium",
        title="Webhook never came",
        explanation_template=(
            "The API shows a state change (payment captured or failed, refund processed, …) for which the "
            "matching webhook never arrived within {webhook_grace_minutes} minutes, while webhooks were flowing."
        ),
        usual_cause="The endpoint returned errors until Razorpay gave up, the event is not subscribed, or a network drop.",
        detect=_webhook_missing,
    ),
    Rule(
        id="webhook_status_conflict",
        severity="high",
        title="Webhook and API disagree",
        explanation_template="A webhook reported a payment status the API contradicts.",
        usual_cause="A stale or replayed event, an event from another account, or a reversal the webhook did not report.",
        detect=_webhook_status_conflict,
    ),
    Rule(
        id="fee_rate_anomaly",
        severity="low",
        title="Fee outside the expected rate",
        explanation_template=(
            "fee / base amount (what the merchant is credited, in which Razorpay states the fee) is outside "
            "the configured rate range for the payment's method."
        ),
        usual_cause="A pricing-plan change, international or corporate-card pricing, or a fee charged on the wrong amount.",
        detect=_fee_rate_anomaly,
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}

# The bank-statement rules live beside the matching they read and add themselves to RULES; imported
# last because they build on the Finding and Rule above (a plain import also works when bank_rules is
# the module being imported first).
import analytics.bank_rules  # noqa: E402, F401
