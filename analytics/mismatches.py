"""The mismatch lifecycle: open → acknowledged → resolved, each change in mismatch_events and audit_log.

Reconciliation (analytics.reconcile) writes detections; people acknowledge, resolve or reopen here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, func, insert, select, update

from analytics.db import Db, as_int, as_utc, reading, utcnow, writing
from data.audit import record_audit
from data.models import Mismatch, MismatchEvent

__all__ = [
    "MISMATCH_COLUMNS",
    "STATUSES",
    "InvalidTransition",
    "MismatchError",
    "MismatchNotFound",
    "acknowledge",
    "get_mismatch",
    "list_mismatches",
    "mismatch_history",
    "mismatch_summary",
    "record_event",
    "reopen",
    "resolve",
]

_M: Table = Mismatch.__table__  # type: ignore[assignment]
_EV: Table = MismatchEvent.__table__  # type: ignore[assignment]

STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("critical", "high", "medium", "low")
# Which manual action may move a mismatch from which status.
_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledged": (("open",), "acknowledged"),
    "resolved": (("open", "acknowledged"), "resolved"),
    "reopened": (("resolved", "acknowledged"), "open"),
}
MISMATCH_COLUMNS = [
    "id",
    "rule",
    "severity",
    "status",
    "payment_id",
    "order_id",
    "refund_id",
    "settlement_id",
    "currency",
    "expected_amount",
    "actual_amount",
    "explanation",
    "usual_cause",
    "evidence",
    "first_seen_at",
    "last_seen_at",
    "age_days",
    "auto_resolved",
    "resolved_at",
    "updated_by",
    "note",
]


class MismatchError(ValueError):
    """A lifecycle request that cannot be carried out."""


class MismatchNotFound(MismatchError):
    pass


class InvalidTransition(MismatchError):
    pass


def record_event(
    conn: Connection,
    mismatch_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str,
    note: str | None = None,
) -> None:
    conn.execute(
        insert(_EV).values(
            mismatch_id=mismatch_id,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
    )


def _transition(
    db: Db, mismatch_id: int, action: str, actor: str, note: str | None, now: datetime | None
) -> None:
    if not actor or not actor.strip():
        raise MismatchError("an actor (who made the decision) is required")
    allowed_from, to_status = _TRANSITIONS[action]
    at = as_utc(now) if now else utcnow()
    with writing(db) as conn:
        current = conn.execute(select(_M.c.status, _M.c.rule).where(_M.c.id == mismatch_id)).first()
        if current is None:
            raise MismatchNotFound(f"mismatch {mismatch_id} does not exist")
        from_status, rule = current
        if from_status not in allowed_from:
            raise InvalidTransition(f"mismatch {mismatch_id} is {from_status}; cannot mark it {action}")
        values: dict[str, Any] = {"status": to_status, "updated_by": actor, "note": note}
        if to_status == "resolved":
            values.update(resolved_at=at, auto_resolved=False)
        elif to_status == "open":
            values.update(resolved_at=None, auto_resolved=False)
        # The status check in WHERE makes a concurrent decision on the same mismatch lose cleanly.
        changed = conn.execute(
            update(_M).where(_M.c.id == mismatch_id, _M.c.status == from_status).values(**values)
        ).rowcount
        if changed != 1:
            raise InvalidTransition(f"mismatch {mismatch_id} changed while deciding; reload and retry")
        record_event(
            conn,
            mismatch_id,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
        record_audit(
            conn,
            at=at,
            actor=actor,
            action=f"mismatch.{action}",
            target=f"mismatch:{mismatch_id}",
            detail={"rule": rule, "from": from_status, "to": to_status, "note": note},
        )


def acknowledge(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """open → acknowledged: someone owns it now."""
    _transition(db, mismatch_id, "acknowledged", actor, note, now)


def resolve(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """open | acknowledged → resolved by a person (re-detection will not reopen it; see docs)."""
    _transition(db, mismatch_id, "resolved", actor, note, now)


def reopen(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """resolved | acknowledged → open."""
    _transition(db, mismatch_id, "reopened", actor, note, now)


def _age_days(first_seen: datetime, resolved_at: datetime | None, now: datetime) -> float:
    return round(((resolved_at or now) - first_seen).total_seconds() / 86_400, 2)


def _explanations() -> dict[str, str]:
    from analytics.rules import RULES  # late: rules import webhook health, which is heavier

    return {rule_id: rule.usual_cause for rule_id, rule in RULES.items()}


def _records(rows: list[Any], now: datetime) -> pd.DataFrame:
    causes = _explanations()
    records = []
    for row in rows:
        record = dict(row._mapping)
        record["usual_cause"] = causes.get(record["rule"], "")
        record["age_days"] = _age_days(record["first_seen_at"], record["resolved_at"], now)
        records.append({column: record.get(column) for column in MISMATCH_COLUMNS})
    if not records:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MISMATCH_COLUMNS})
    return pd.DataFrame(records, columns=MISMATCH_COLUMNS)


def list_mismatches(
    db: Db,
    *,
    rule: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    limit: int = 1000,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Mismatches, newest first, with their age (see MISMATCH_COLUMNS)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(*[column for column in _M.c if column.name not in ("key",)])
    if rule:
        query = query.where(_M.c.rule == rule)
    if status:
        query = query.where(_M.c.status == status)
    if severity:
        query = query.where(_M.c.severity == severity)
    query = query.order_by(_M.c.first_seen_at.desc(), _M.c.id.desc()).limit(limit)
    with reading(db) as conn:
        rows = list(conn.execute(query))
    return _records(rows, as_utc(now) if now else utcnow())


def get_mismatch(db: Db, mismatch_id: int, *, now: datetime | None = None) -> dict[str, Any] | None:
    with reading(db) as conn:
        rows = list(conn.execute(select(*[c for c in _M.c if c.name != "key"]).where(_M.c.id == mismatch_id)))
    if not rows:
        return None
    record = _records(rows, as_utc(now) if now else utcnow()).iloc[0].to_dict()
    return {str(key): value for key, value in record.items()}


def mismatch_history(db: Db, mismatch_id: int) -> pd.DataFrame:
    columns = ["at", "actor", "action", "from_status", "to_status", "note"]
    with reading(db) as conn:
        rows = conn.execute(
            select(*[_EV.c[name] for name in columns])
            .where(_EV.c.mismatch_id == mismatch_id)
            .order_by(_EV.c.at, _EV.c.id)
        ).all()
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns).astype(object)
    return frame.where(frame.notna(), None)


def mismatch_summary(db: Db, *, now: datetime | None = None) -> pd.DataFrame:
    """Counts and amounts per rule, severity, status and currency (amounts never summed across currencies)."""
    now = as_utc(now) if now else utcnow()
    currency = func.coalesce(_M.c.currency, "")
    query = (
        select(
            _M.c.rule,
            _M.c.severity,
            _M.c.status,
            currency,
            func.count(),
            func.sum(_M.c.expected_amount),
            func.sum(_M.c.actual_amount),
            func.min(_M.c.first_seen_at),
        )
        .group_by(_M.c.rule, _M.c.severity, _M.c.status, currency)
        .order_by(_M.c.rule, _M.c.status, currency)
    )
    columns = [
        "rule",
        "severity",
        "status",
        "currency",
        "count",
        "expected_amount",
        "actual_amount",
        "oldest_age_days",
    ]
    with reading(db) as conn:
        rows = [
            (
                rule,
                severity,
                status,
                code or None,
                as_int(count),
                as_int(expected),
                as_int(actual),
                _age_days(oldest, None, now),
            )
            for rule, severity, status, code, count, expected, actual, oldest in conn.execute(query)
        ]
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    return pd.DataFrame(rows, columns=columns)
