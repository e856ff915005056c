"""Downtime impact: what each declared Razorpay downtime cost, and the dips no downtime explains.

For each downtime (the `downtimes` table, from the API and the `payment.downtime.*` webhooks) that
overlaps the period: the attempts of its instrument while it lasted, how many failed and the value that
failed (per currency, minor units), against what the instrument's baseline success rate predicts — the
same clock hours of the same weekday in each of the previous `baseline_weeks` weeks, as the success-drop
alert uses. *Likely lost* is the failed value beyond that prediction: each currency's failed value times
the share of failures in excess of the baseline (integer arithmetic, floored). *Drop before declared*:
Razorpay's `begin` lies before it announced the downtime (`created_at`) and the instrument already failed
more than its baseline predicts between the two.

Undeclared dips are the success-drop alerts (analytics/alerts.py) that no declared downtime covers:
likely the merchant's side, or an outage Razorpay did not announce — where a manager must act.

Every query is bounded by the downtime's window (and four weekly copies of it) on payments.created_at,
so the cost follows the downtimes' traffic, not the table's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, select

from analytics.db import Db, as_int, as_utc, reading
from data.models import Alert, Downtime, Payment
from data.rollups import bucket_start
from data.vocabulary import SUCCESS_STATUSES

__all__ = [
    "INSTRUMENT_COLUMNS",
    "DowntimeImpact",
    "UndeclaredDip",
    "downtime_hourly",
    "downtime_impact",
    "likely_lost_by_currency",
    "undeclared_dips",
]

_P: Table = Payment.__table__  # type: ignore[assignment]
_D: Table = Downtime.__table__  # type: ignore[assignment]
_A: Table = Alert.__table__  # type: ignore[assignment]
_HOUR = timedelta(hours=1)

# Downtime column naming an instrument → the payments column holding the same value.
INSTRUMENT_COLUMNS: dict[str, str] = {
    "bank": "bank",
    "issuer": "card_issuer",
    "card_network": "card_network",
    "card_type": "card_type",
    "vpa_handle": "upi_app",
    "flow": "upi_flow",
}


@dataclass(frozen=True)
class DowntimeImpact:
    id: str
    method: str | None
    instrument: dict[str, str]  # payments column → value (bank=HDFC)
    severity: str | None
    begin: datetime
    end: datetime | None  # None: still ongoing
    declared_at: datetime  # when Razorpay announced it
    window_end: datetime  # end, or `now` while ongoing
    attempts: int
    failures: int
    failed_value: dict[str, int]  # currency → minor units
    baseline_attempts: int
    baseline_successes: int
    baseline_weeks: int
    expected_failures: float | None  # attempts × (1 − baseline rate); None without a baseline
    excess_failures: int
    likely_lost: dict[str, int]  # currency → minor units
    drop_before_declared: bool
    failures_before_declared: int = 0
    expected_before_declared: float | None = None
    payment_ids: list[str] = field(default_factory=list)

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_successes / self.baseline_attempts if self.baseline_attempts else None

    @property
    def rate(self) -> float | None:
        return (self.attempts - self.failures) / self.attempts if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "instrument": self.instrument,
            "severity": self.severity,
            "begin": self.begin.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "declared_at": self.declared_at.isoformat(),
            "attempts": self.attempts,
            "failures": self.failures,
            "failed_value": self.failed_value,
            "rate": self.rate,
            "baseline_rate": self.baseline_rate,
            "baseline_attempts": self.baseline_attempts,
            "expected_failures": self.expected_failures,
            "excess_failures": self.excess_failures,
            "likely_lost": self.likely_lost,
            "drop_before_declared": self.drop_before_declared,
        }


@dataclass(frozen=True)
class UndeclaredDip:
    alert_id: int
    slice: dict[str, str]
    start: datetime
    end: datetime
    rate: float
    baseline_rate: float
    attempts: int
    status: str


def _slice_conditions(method: str | None, instrument: Mapping[str, str]) -> list[Any]:
    conditions = []
    if method is not None:
        conditions.append(_P.c.method == method)
    for column, value in instrument.items():
        conditions.append(_P.c[column] == value)
    return conditions


def _counts(
    conn: Connection, conditions: list[Any], start: datetime, end: datetime
) -> tuple[int, int, dict[str, int]]:
    """(attempts, failures, failed value per currency) of the slice's payments created in [start, end)."""
    p = _P.c
    failed = p.status.notin_(SUCCESS_STATUSES)
    rows = conn.execute(
        select(
            p.currency,
            func.count(),
            func.sum(case((failed, 1), else_=0)),
            func.sum(case((failed, p.amount), else_=0)),
        )
        .where(p.created_at >= start, p.created_at < end, p.status != "created", *conditions)
        .group_by(p.currency)
    ).all()
    attempts = sum(as_int(row[1]) for row in rows)
    failures = sum(as_int(row[2]) for row in rows)
    value = {str(row[0]): as_int(row[3]) for row in rows if as_int(row[3])}
    return attempts, failures, value


def _baseline(
    conn: Connection, conditions: list[Any], start: datetime, end: datetime, weeks: int
) -> tuple[int, int]:
    """(attempts, successes) over the same clock span in each of the previous `weeks` weeks, pooled."""
    attempts = successes = 0
    for week in range(1, weeks + 1):
        shift = timedelta(weeks=week)
        n, failed, _ = _counts(conn, conditions, start - shift, end - shift)
        attempts += n
        successes += n - failed
    return attempts, successes


def _expected(attempts: int, base_attempts: int, base_successes: int) -> float | None:
    if not base_attempts:
        return None
    return attempts * (1 - base_successes / base_attempts)


def downtime_impact(
    db: Db, *, start: datetime, end: datetime, now: datetime, baseline_weeks: int = 4
) -> list[DowntimeImpact]:
    """Each declared downtime overlapping [start, end), oldest first, with its cost (see the module doc)."""
    start, end, now = as_utc(start), as_utc(end), as_utc(now)
    d = _D.c
    with reading(db) as conn:
        downtimes = conn.execute(
            select(
                d.id, d.method, d.severity, d.begin, d.end, d.created_at, *[d[c] for c in INSTRUMENT_COLUMNS]
            )
            .where(d.begin < end, (d.end.is_(None)) | (d.end > start), d.begin <= now)
            .order_by(d.begin, d.id)
        ).all()
        impacts = []
        for row in downtimes:
            instrument = {
                INSTRUMENT_COLUMNS[name]: str(getattr(row, name))
                for name in INSTRUMENT_COLUMNS
                if getattr(row, name)
            }
            conditions = _slice_conditions(row.method, instrument)
            begin = as_utc(row.begin)
            window_end = min(as_utc(row.end), now) if row.end is not None else now
            declared = as_utc(row.created_at)
            attempts, failures, failed_value = _counts(conn, conditions, begin, window_end)
            base_attempts, base_successes = _baseline(conn, conditions, begin, window_end, baseline_weeks)
            expected = _expected(attempts, base_attempts, base_successes)
            excess = max(0, failures - round(expected)) if expected is not None else 0
            likely_lost = (
                {currency: value * excess // failures for currency, value in failed_value.items()}
                if failures
                else {}
            )
            likely_lost = {currency: value for currency, value in likely_lost.items() if value}
            before_failures, before_expected, dropped_early = 0, None, False
            if declared > begin:
                early_end = min(declared, window_end)
                n, before_failures, _ = _counts(conn, conditions, begin, early_end)
                early_base = _baseline(conn, conditions, begin, early_end, baseline_weeks)
                before_expected = _expected(n, *early_base)
                dropped_early = before_expected is not None and before_failures > before_expected
            failed_ids = [
                str(payment_id)
                for payment_id in conn.execute(
                    select(_P.c.id)
                    .where(
                        _P.c.created_at >= begin,
                        _P.c.created_at < window_end,
                        _P.c.status.notin_((*SUCCESS_STATUSES, "created")),
                        *conditions,
                    )
                    .order_by(_P.c.created_at, _P.c.id)
                    .limit(500)
                ).scalars()
            ]
            impacts.append(
                DowntimeImpact(
                    id=str(row.id),
                    method=row.method,
                    instrument=instrument,
                    severity=row.severity,
                    begin=begin,
                    end=as_utc(row.end) if row.end is not None else None,
                    declared_at=declared,
                    window_end=window_end,
                    attempts=attempts,
                    failures=failures,
                    failed_value=failed_value,
                    baseline_attempts=base_attempts,
                    baseline_successes=base_successes,
                    baseline_weeks=baseline_weeks,
                    expected_failures=expected,
                    excess_failures=excess,
                    likely_lost=likely_lost,
                    drop_before_declared=dropped_early,
                    failures_before_declared=before_failures,
                    expected_before_declared=before_expected,
                    payment_ids=failed_ids,
                )
            )
    return impacts


def downtime_hourly(
    db: Db,
    *,
    method: str | None,
    instrument: Mapping[str, str],
    begin: datetime,
    end: datetime,
    pad_hours: int = 3,
    baseline_weeks: int = 4,
) -> list[dict[str, Any]]:
    """The instrument's hourly success rate from `pad_hours` before [begin, end) to `pad_hours` after,
    beside its baseline rate for each hour (for the chart with the downtime as a band)."""
    begin, end = as_utc(begin), as_utc(end)
    first = bucket_start(begin) - pad_hours * _HOUR  # IST hours (IST is UTC+05:30)
    last = end + pad_hours * _HOUR
    conditions = _slice_conditions(method, instrument)
    rows = []
    with reading(db) as conn:
        hour = first
        while hour < last:
            attempts, failures, _ = _counts(conn, conditions, hour, hour + _HOUR)
            base_attempts, base_successes = _baseline(conn, conditions, hour, hour + _HOUR, baseline_weeks)
            rows.append(
                {
                    "hour": hour,
                    "attempts": attempts,
                    "successes": attempts - failures,
                    "success_rate": (attempts - failures) / attempts if attempts else None,
                    "baseline_rate": base_successes / base_attempts if base_attempts else None,
                }
            )
            hour += _HOUR
    return rows


def undeclared_dips(db: Db, *, start: datetime, end: datetime) -> list[UndeclaredDip]:
    """Success-drop alerts in [start, end) that no declared Razorpay downtime covers, newest first."""
    start, end = as_utc(start), as_utc(end)
    a = _A.c
    with reading(db) as conn:
        rows = conn.execute(
            select(a.id, a.status, a.evidence)
            .where(and_(a.rule == "success_drop", a.first_fired_at >= start, a.first_fired_at < end))
            .order_by(a.first_fired_at.desc(), a.id.desc())
        ).all()
    dips = []
    for alert_id, status, evidence in rows:
        if not isinstance(evidence, Mapping) or evidence.get("downtime"):
            continue
        window = evidence.get("window") or {}
        current = evidence.get("current") or {}
        baseline = evidence.get("baseline") or {}
        try:
            dips.append(
                UndeclaredDip(
                    alert_id=int(alert_id),
                    slice={str(k): str(v) for k, v in dict(evidence.get("slice") or {}).items()},
                    start=datetime.fromisoformat(str(window["start"])),
                    end=datetime.fromisoformat(str(window["end"])),
                    rate=float(current["rate"]),
                    baseline_rate=float(baseline["rate"]),
                    attempts=int(current["attempts"]),
                    status=str(status),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # an alert written by an older version without these fields
    return dips


def likely_lost_by_currency(impacts: list[DowntimeImpact]) -> dict[str, int]:
    """Σ likely-lost value per currency over several downtimes (never across currencies)."""
    total: dict[str, int] = defaultdict(int)
    for impact in impacts:
        for currency, value in impact.likely_lost.items():
            total[currency] += value
    return dict(total)
