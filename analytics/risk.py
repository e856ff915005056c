"""Fraud and risk signals as of a moment: card-testing bursts, velocity outliers, the international
share rising, and checkout confirmations that are forged, contradicted by the API, or missing. Each signal carries its evidence and the payments behind it, for a person to judge —
payops never blocks, refunds or flags anything at Razorpay.

Reads payments over a bounded window (`RiskRules.window_hours`, by the created_at, email and contact
indexes) and the hourly rollups for the international share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, case, func, literal, select

from analytics.db import Db, as_int, as_utc, reading
from analytics.rules import format_amount
from analytics.stats import two_proportion_p_value
from data.ist import IST
from data.models import CheckoutConfirmation, Dispute, Payment, PaymentRollupHourly
from data.rollups import bucket_start
from data.settings import RiskRules, get_settings
from data.vocabulary import DISPUTE_NEEDS_RESPONSE, SUCCESS_STATUSES

__all__ = [
    "FRAUD_SIGNAL_KINDS",
    "SIGNAL_KINDS",
    "SIGNAL_PAYMENT_COLUMNS",
    "UNCONFIRMED_LISTED",
    "RiskSignal",
    "fraud_signals",
    "risk_signals",
    "signal_payments",
    "unconfirmed_captures_query",
]

_P: Table = Payment.__table__  # type: ignore[assignment]
_ROLLUP: Table = PaymentRollupHourly.__table__  # type: ignore[assignment]
_CC: Table = CheckoutConfirmation.__table__  # type: ignore[assignment]
_DISPUTE: Table = Dispute.__table__  # type: ignore[assignment]
_DOMESTIC = ("IN", "", "unknown")
# A signal lists at most this many of the captured payments no confirmation reached (its count is exact).
UNCONFIRMED_LISTED = 500

SIGNAL_KINDS = {
    "card_testing": "Card testing: a burst of small card attempts, mostly failing, from one identity",
    "velocity": "Velocity: one email or phone paying unusually often, or with many cards",
    "international_share": "International share of attempts rising against its baseline",
    "forged_confirmation": "Checkout confirmations whose signature does not verify",
    "confirmation_mismatch": "Verified confirmations the API and webhooks contradict",
    "unconfirmed_capture": "Captured payments no checkout confirmation reached",
    "dispute_respond_by": "Open disputes needing a response near (or past) their respond-by date",
}


@dataclass(frozen=True)
class RiskSignal:
    kind: str
    subject: str  # what the signal is about: "email:…", "contact:…", "card:Visa ••1111", "international"
    title: str
    explanation: str
    evidence: dict[str, Any]
    payment_ids: list[str] = field(default_factory=list)
    # How many payments are behind it when `payment_ids` lists only the first of them (else None).
    payments_total: int | None = None

    @property
    def payments(self) -> int:
        """How many payments are behind the signal (not just how many `payment_ids` lists)."""
        return len(self.payment_ids) if self.payments_total is None else self.payments_total

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": self.evidence,
            "payment_ids": self.payment_ids,
            "payments": self.payments,
        }


def _identities() -> list[tuple[str, ColumnElement[Any]]]:
    p = _P.c
    card = func.coalesce(p.card_network, "") + literal(" ••") + p.card_last4
    return [("email", p.email), ("contact", p.contact), ("card", card)]


def _ist(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%d %b %H:%M IST")


def _card_testing(conn: Connection, at: datetime, rules: RiskRules) -> list[RiskSignal]:
    p = _P.c
    start = at - timedelta(hours=rules.window_hours)
    small_card = [
        p.method == "card",
        p.amount <= rules.card_testing_max_amount,
        p.status != "created",
        p.created_at >= start,
        p.created_at < at,
    ]
    burst = timedelta(minutes=rules.card_testing_burst_minutes)
    signals = []
    for kind, identity in _identities():
        candidates = [
            str(value)
            for value in conn.execute(
                select(identity)
                .where(*small_card, identity.is_not(None), identity != "")
                .group_by(identity)
                .having(func.count() >= rules.card_testing_min_attempts)
            ).scalars()
        ]
        for value in candidates:
            rows = conn.execute(
                select(p.id, p.created_at, p.status, p.amount, p.currency, p.card_network, p.card_last4)
                .where(*small_card, identity == value)
                .order_by(p.created_at, p.id)
            ).all()
            # The densest run of attempts within `burst` of its first (two pointers over time order).
            best: tuple[int, int] = (0, 0)
            first = 0
            for last in range(len(rows)):
                while rows[last].created_at - rows[first].created_at > burst:
                    first += 1
                if last - first > best[1] - best[0]:
                    best = (first, last)
            run = rows[best[0] : best[1] + 1]
            failures = sum(row.status == "failed" for row in run)
            if (
                len(run) < rules.card_testing_min_attempts
                or failures / len(run) < rules.card_testing_min_failure_share
            ):
                continue
            span = run[-1].created_at - run[0].created_at
            signals.append(
                RiskSignal(
                    kind="card_testing",
                    subject=f"{kind}:{value}",
                    title=f"Card testing from one {kind}",
                    explanation=(
                        f"{len(run)} card attempts of at most "
                        f"{format_amount(rules.card_testing_max_amount, run[0].currency)} from one {kind} within "
                        f"{span.total_seconds() / 60:.0f} minutes ({_ist(run[0].created_at)}), {failures} of them "
                        "failed: someone checking stolen card numbers with small charges."
                    ),
                    evidence={
                        "identity": kind,
                        "attempts": len(run),
                        "failures": failures,
                        "distinct_cards": len({(row.card_network, row.card_last4) for row in run}),
                        "first": run[0].created_at.isoformat(),
                        "last": run[-1].created_at.isoformat(),
                        "max_amount": max(int(row.amount) for row in run),
                    },
                    payment_ids=[str(row.id) for row in run],
                )
            )
    return _one_per_burst(signals)


def _one_per_burst(signals: Sequence[RiskSignal]) -> list[RiskSignal]:
    """One burst often shares an email, a phone and a card: report it once, under its first identity."""
    seen: list[set[str]] = []
    kept = []
    for signal in signals:
        ids = set(signal.payment_ids)
        if any(len(ids & other) * 2 >= len(ids) for other in seen):
            continue
        seen.append(ids)
        kept.append(signal)
    return kept


def _velocity(conn: Connection, at: datetime, rules: RiskRules) -> list[RiskSignal]:
    p = _P.c
    start = at - timedelta(hours=rules.window_hours)
    card = func.coalesce(p.card_network, "") + literal(" ••") + p.card_last4
    signals = []
    for kind, identity in _identities()[:2]:
        success = p.status.in_(SUCCESS_STATUSES)
        query = (
            select(
                identity,
                func.sum(case((success, 1), else_=0)).label("paid"),
                func.count(func.distinct(card)).label("cards"),
                func.count().label("attempts"),
            )
            .where(
                p.created_at >= start,
                p.created_at < at,
                p.status != "created",
                identity.is_not(None),
                identity != "",
            )
            .group_by(identity)
            .having(
                (func.sum(case((success, 1), else_=0)) >= rules.velocity_max_payments)
                | (func.count(func.distinct(card)) >= rules.velocity_max_cards)
            )
        )
        for value, paid, cards, attempts in conn.execute(query):
            ids = conn.execute(
                select(p.id)
                .where(p.created_at >= start, p.created_at < at, p.status != "created", identity == value)
                .order_by(p.created_at, p.id)
            ).scalars()
            reasons = []
            if as_int(paid) >= rules.velocity_max_payments:
                reasons.append(f"{as_int(paid)} successful payments")
            if as_int(cards) >= rules.velocity_max_cards:
                reasons.append(f"{as_int(cards)} different cards")
            signals.append(
                RiskSignal(
                    kind="velocity",
                    subject=f"{kind}:{value}",
                    title=f"Velocity: one {kind}, {' and '.join(reasons)}",
                    explanation=(
                        f"One {kind} made {as_int(attempts)} attempts in the last {rules.window_hours} hours: "
                        f"{' and '.join(reasons)} (thresholds {rules.velocity_max_payments} payments, "
                        f"{rules.velocity_max_cards} cards). Reselling, a compromised account, or a "
                        "legitimate bulk buyer: look at the payments."
                    ),
                    evidence={
                        "identity": kind,
                        "attempts": as_int(attempts),
                        "successful": as_int(paid),
                        "distinct_cards": as_int(cards),
                    },
                    payment_ids=[str(pid) for pid in ids],
                )
            )
    return signals


def _international(conn: Connection, at: datetime, rules: RiskRules) -> list[RiskSignal]:
    r = _ROLLUP.c
    end = bucket_start(at)
    start = end - timedelta(hours=rules.window_hours)
    base_start = start - timedelta(days=rules.international_baseline_days)
    international = ~r.country.in_(_DOMESTIC)
    recent = r.bucket_start >= start

    def measure(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, r.attempts), else_=0))

    row = conn.execute(
        select(
            measure(recent),
            measure(recent & international),
            measure(~recent),
            measure(~recent & international),
        ).where(r.dimension == "all", r.bucket_start >= base_start, r.bucket_start < end)
    ).one()
    attempts, intl, base_attempts, base_intl = (as_int(v) for v in row)
    if attempts < rules.international_min_attempts or base_attempts < rules.international_min_attempts:
        return []
    share, base_share = intl / attempts, base_intl / base_attempts
    rise = (share - base_share) * 100
    if rise < rules.international_min_rise_points:
        return []
    p_value = two_proportion_p_value(intl, attempts, base_intl, base_attempts, alternative="larger")
    if p_value > rules.international_max_p_value:
        return []
    return [
        RiskSignal(
            kind="international_share",
            subject="international",
            title="International share of attempts is rising",
            explanation=(
                f"{share * 100:.1f}% of attempts ({intl:,} of {attempts:,}) in the last {rules.window_hours} hours "
                f"came from outside India, against {base_share * 100:.1f}% ({base_intl:,} of {base_attempts:,}) "
                f"over the {rules.international_baseline_days} days before (one-sided z-test p={float(p_value):.1e}). "
                "A campaign abroad, or cards tested from abroad: compare with Success rates by country."
            ),
            evidence={
                "attempts": attempts,
                "international": intl,
                "share": round(share, 4),
                "baseline_attempts": base_attempts,
                "baseline_international": base_intl,
                "baseline_share": round(base_share, 4),
                "p_value": float(p_value),
                "window": {"start": start.isoformat(), "end": end.isoformat()},
            },
        )
    ]


def _confirmations(conn: Connection, at: datetime, rules: RiskRules) -> list[RiskSignal]:
    c, p = _CC.c, _P.c
    start = at - timedelta(hours=rules.window_hours)
    in_window = [c.received_at >= start, c.received_at < at]
    total = as_int(conn.execute(select(func.count()).where(*in_window)).scalar())
    if total == 0:
        return []  # confirmations are not in use (or none arrived): nothing to cross-check
    signals = []
    forged = conn.execute(
        select(c.order_id, c.payment_id, c.received_at, c.source_address)
        .where(*in_window, c.verdict == "bad_signature")
        .order_by(c.received_at)
    ).all()
    if forged:
        signals.append(
            RiskSignal(
                kind="forged_confirmation",
                subject="checkout",
                title=f"{len(forged)} checkout confirmations failed signature verification",
                explanation=(
                    f"{len(forged)} of {total} confirmations forwarded in the last {rules.window_hours} hours "
                    "carried a signature that no key secret produces for their order and payment: a tampered "
                    "or replayed browser callback (or a key secret rotated without listing the old one). They "
                    "were answered bad_signature; the backend must not fulfil those orders."
                ),
                evidence={
                    "count": len(forged),
                    "of": total,
                    "orders": sorted({str(row.order_id) for row in forged if row.order_id}),
                    "sources": len({row.source_address for row in forged}),
                    "first": forged[0].received_at.isoformat(),
                    "last": forged[-1].received_at.isoformat(),
                },
                payment_ids=sorted({str(row.payment_id) for row in forged if row.payment_id}),
            )
        )
    contradicted = conn.execute(
        select(c.order_id, c.payment_id, p.status, p.order_id.label("payment_order_id"))
        .join(_P, p.id == c.payment_id)
        .where(*in_window, c.verdict == "verified")
        .where(~p.status.in_(SUCCESS_STATUSES) | (func.coalesce(p.order_id, "") != c.order_id))
        .order_by(c.received_at)
    ).all()
    if contradicted:
        items = [
            {
                "payment_id": str(row.payment_id),
                "confirmed_order_id": str(row.order_id),
                "payment_order_id": row.payment_order_id,
                "payment_status": str(row.status),
                "problem": "another order"
                if row.payment_order_id != row.order_id
                else f"payment is {row.status}",
            }
            for row in contradicted
        ]
        signals.append(
            RiskSignal(
                kind="confirmation_mismatch",
                subject="checkout",
                title=f"{len(items)} verified confirmations the API contradicts",
                explanation=(
                    "A confirmation's signature verified, but the payment it names is not authorized or captured "
                    "according to the API and webhooks, or belongs to another order: do not fulfil on the "
                    "signature alone, check the payment's status."
                ),
                evidence={"items": items[:50], "count": len(items)},
                payment_ids=[item["payment_id"] for item in items],
            )
        )
    never_confirmed = select(p.id).where(*_never_confirmed(at, rules))
    unconfirmed = (
        conn.execute(never_confirmed.order_by(p.created_at, p.id).limit(UNCONFIRMED_LISTED)).scalars().all()
    )
    if unconfirmed:
        # The true count, not the length of the listed ids (which stop at UNCONFIRMED_LISTED).
        total = len(unconfirmed)
        if total >= UNCONFIRMED_LISTED:
            total = as_int(
                conn.execute(select(func.count()).select_from(never_confirmed.subquery())).scalar()
            )
        listed = (
            f" The first {len(unconfirmed):,} (oldest first) are listed below."
            if total > len(unconfirmed)
            else ""
        )
        signals.append(
            RiskSignal(
                kind="unconfirmed_capture",
                subject="checkout",
                title=f"{total:,} captured payments without a checkout confirmation",
                explanation=(
                    "Captured with an order, but no verified confirmation reached payops: often the customer "
                    "closed the page before returning to the site (fulfil from the payment.captured webhook), "
                    "sometimes a backend that does not forward confirmations." + listed
                ),
                evidence={"count": total, "listed": len(unconfirmed)},
                payment_ids=[str(pid) for pid in unconfirmed],
                payments_total=total,
            )
        )
    return signals


def _never_confirmed(at: datetime, rules: RiskRules) -> list[ColumnElement[bool]]:
    """Captured payments of the window, with an order, that no verified confirmation reached."""
    c, p = _CC.c, _P.c
    confirmed = select(c.payment_id).where(c.verdict == "verified", c.payment_id.is_not(None))
    return [
        p.created_at >= at - timedelta(hours=rules.window_hours),
        p.created_at < at - timedelta(minutes=30),  # the customer has had time to come back
        p.order_id.is_not(None),
        p.status.in_(("captured", "refunded")),
        p.id.not_in(confirmed),
    ]


def unconfirmed_captures_query(*, at: datetime, rules: RiskRules | None = None) -> Any:
    """Every payment behind the unconfirmed-capture signal as of `at`, oldest first, with the columns
    `signal_payments` reads (`SIGNAL_PAYMENT_COLUMNS`): what its CSV streams, however many there are."""
    at, rules = as_utc(at), rules or get_settings().risk
    p = _P.c
    return (
        select(*[p[name] for name in SIGNAL_PAYMENT_COLUMNS])
        .where(*_never_confirmed(at, rules))
        .order_by(p.created_at, p.id)
    )


def _fraud_detectors() -> dict[str, Any]:
    return {"card_testing": _card_testing, "velocity": _velocity}


# The signals that say someone may be abusing the checkout (the alert rule `fraud_signal` raises them).
FRAUD_SIGNAL_KINDS = ("card_testing", "velocity")


def fraud_signals(
    conn: Connection, at: datetime, rules: RiskRules, kinds: Sequence[str] = FRAUD_SIGNAL_KINDS
) -> list[RiskSignal]:
    """The card-testing and velocity signals that hold at `at`, in that order (for analytics.alerts)."""
    detectors = _fraud_detectors()
    unknown = [kind for kind in kinds if kind not in detectors]
    if unknown:
        raise ValueError(f"not a fraud signal: {', '.join(unknown)}; choose from {', '.join(detectors)}")
    return [
        signal for kind in FRAUD_SIGNAL_KINDS if kind in kinds for signal in detectors[kind](conn, at, rules)
    ]


def risk_signals(db: Db, *, at: datetime, rules: RiskRules | None = None) -> list[RiskSignal]:
    """Every risk signal that holds at `at` (reads only)."""
    at = as_utc(at)
    rules = rules or get_settings().risk
    with reading(db) as conn:
        return [
            *_card_testing(conn, at, rules),
            *_velocity(conn, at, rules),
            *_international(conn, at, rules),
            *_confirmations(conn, at, rules),
            *_disputes_due(conn, at, rules),
        ]


def _disputes_due(conn: Connection, at: datetime, rules: RiskRules) -> list[RiskSignal]:
    """Disputes needing a response (open, action required) due within the next N hours or already past,
    one signal per currency (money never summed across currencies), most urgent first."""
    d = _DISPUTE.c
    horizon = at + timedelta(hours=rules.dispute_respond_within_hours)
    rows = conn.execute(
        select(d.id, d.payment_id, d.amount, d.currency, d.respond_by, d.status, d.reason_code)
        .where(d.status.in_(DISPUTE_NEEDS_RESPONSE), d.respond_by.is_not(None), d.respond_by <= horizon)
        .order_by(d.currency, d.respond_by, d.id)
    ).all()
    by_currency: dict[str, list[Any]] = {}
    for row in rows:
        by_currency.setdefault(str(row.currency), []).append(row)
    signals = []
    for currency, disputes in by_currency.items():
        overdue = [row for row in disputes if as_utc(row.respond_by) <= at]
        at_stake = sum(int(row.amount) for row in disputes)
        first = as_utc(disputes[0].respond_by)
        signals.append(
            RiskSignal(
                kind="dispute_respond_by",
                subject=f"disputes:{currency}",
                title=f"{len(disputes):,} {currency} disputes to answer within {rules.dispute_respond_within_hours} h",
                explanation=(
                    f"{len(disputes):,} disputes need a response by {horizon.astimezone(IST):%d %b %H:%M} IST "
                    f"({len(overdue):,} already past their respond-by date), "
                    f"{format_amount(at_stake, currency)} at stake; the first is due "
                    f"{_ist(first)}. Unanswered, Razorpay decides them against the merchant."
                ),
                evidence={
                    "currency": currency,
                    "disputes": [
                        {
                            "id": row.id,
                            "payment_id": row.payment_id,
                            "amount": int(row.amount),
                            "status": row.status,
                            "reason_code": row.reason_code,
                            "respond_by": as_utc(row.respond_by).isoformat(),
                            "hours_left": int((as_utc(row.respond_by) - at).total_seconds() // 3600),
                        }
                        for row in disputes
                    ],
                    "at_stake": at_stake,
                    "overdue": len(overdue),
                    "within_hours": rules.dispute_respond_within_hours,
                },
                payment_ids=[str(row.payment_id) for row in disputes if row.payment_id],
            )
        )
    return signals


SIGNAL_PAYMENT_COLUMNS = (
    "id",
    "created_at",
    "status",
    "amount",
    "currency",
    "method",
    "country",
    "card_network",
    "card_last4",
    "email",
    "contact",
    "error_reason",
)


def signal_payments(db: Db, payment_ids: Sequence[str], limit: int = 200) -> list[dict[str, Any]]:
    """The payments behind a signal, newest first (email and phone included: callers mask by role)."""
    if not payment_ids:
        return []
    p = _P.c
    query = (
        select(*[p[name] for name in SIGNAL_PAYMENT_COLUMNS])
        .where(p.id.in_(list(payment_ids)[:limit]))
        .order_by(p.created_at.desc(), p.id.desc())
    )
    with reading(db) as conn:
        return [dict(zip(SIGNAL_PAYMENT_COLUMNS, row, strict=True)) for row in conn.execute(query)]
