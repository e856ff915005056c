"""The mismatch lifecycle: open → acknowledged → resolved, each change in mismatch_events and audit_log.

The one table of transitions (TRANSITIONS) is here, and every change of status goes through it:
people acknowledge, resolve or reopen (the page and the CLI call `decide`), and reconciliation
(analytics.reconcile) opens, auto-resolves and reopens through `record_detected` and `apply_system`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Table, func, insert, select, update

from analytics.db import Db, as_int, as_utc, reading, utcnow, writing
from data.audit import record_audit
from data.models import Mismatch, MismatchEvent

__all__ = [
    "DECISIONS",
    "INITIAL_STATUS",
    "MISMATCH_COLUMNS",
    "STATUSES",
    "TRANSITIONS",
    "UNRESOLVED_STATUSES",
    "Decision",
    "InvalidTransition",
    "MismatchError",
    "MismatchNotFound",
    "Transition",
    "acknowledge",
    "allowed_decisions",
    "apply_system",
    "decide",
    "get_mismatch",
    "list_mismatches",
    "mismatch_history",
    "mismatch_summary",
    "record_detected",
    "record_event",
    "reopen",
    "resolve",
]

_M: Table = Mismatch.__table__  # type: ignore[assignment]
_EV: Table = MismatchEvent.__table__  # type: ignore[assignment]

STATUSES = ("open", "acknowledged", "resolved")
INITIAL_STATUS = "open"  # a detected mismatch starts here
UNRESOLVED_STATUSES = ("open", "acknowledged")
SEVERITIES = ("critical", "high", "medium", "low")
_CHUNK = 500  # ids per bulk statement


@dataclass(frozen=True)
class Transition:
    """One kind of change: `action` (as mismatch_events records it) moves a mismatch from one of
    `from_statuses` to `to_status`. `by_system` ones are reconciliation's, never a person's."""

    action: str
    from_statuses: tuple[str, ...]
    to_status: str
    by_system: bool = False


# The lifecycle, the only table of it. A person acknowledges, resolves or reopens; reconciliation
# auto-resolves what it no longer detects and reopens what it auto-resolved and detects again (a
# mismatch a person resolved stays resolved: their decision stands). "detected" is the birth event.
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("acknowledged", ("open",), "acknowledged"),
        Transition("resolved", ("open", "acknowledged"), "resolved"),
        Transition("reopened", ("resolved", "acknowledged"), "open"),
        Transition("auto_resolved", UNRESOLVED_STATUSES, "resolved", by_system=True),
    )
}
_DETECTED = "detected"

Decision = Literal["acknowledge", "resolve", "reopen"]
# A person's decision → the transition it makes, in the order the page offers them.
DECISIONS: dict[Decision, str] = {"acknowledge": "acknowledged", "resolve": "resolved", "reopen": "reopened"}


def allowed_decisions(status: str) -> list[Decision]:
    """The decisions a person may take on a mismatch in `status` (empty for an unknown status)."""
    return [decision for decision, action in DECISIONS.items() if status in TRANSITIONS[action].from_statuses]


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
    "since",
    "age_days",
    "age_bucket",
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


def _status_values(transition: Transition, *, at: datetime, actor: str) -> dict[str, Any]:
    """The mismatch columns a transition sets (besides a person's note)."""
    values: dict[str, Any] = {"status": transition.to_status, "updated_by": actor}
    if transition.to_status == "resolved":
        values.update(resolved_at=at, auto_resolved=transition.by_system)
    elif transition.to_status == "open":
        values.update(resolved_at=None, auto_resolved=False)
    return values


def _events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(insert(_EV), rows[start : start + _CHUNK])


def record_detected(conn: Connection, mismatch_ids: Sequence[int], *, at: datetime, actor: str) -> None:
    """The birth events of mismatches reconciliation has just inserted with INITIAL_STATUS."""
    _events(
        conn,
        [
            {
                "mismatch_id": mismatch_id,
                "at": at,
                "actor": actor,
                "action": _DETECTED,
                "from_status": None,
                "to_status": INITIAL_STATUS,
                "note": None,
            }
            for mismatch_id in mismatch_ids
        ],
    )


def apply_system(
    conn: Connection,
    action: str,
    mismatches: Sequence[tuple[int, str]],
    *,
    at: datetime,
    actor: str,
    note: str,
) -> None:
    """Reconciliation's bulk change: move each (id, current status) along `action`, with its events.

    Runs inside the caller's transaction (reconcile holds its lock), so the statuses it read are
    still current; a status the transition does not start from is a bug in the caller.
    """
    transition = TRANSITIONS[action]
    wrong = [mismatch_id for mismatch_id, status in mismatches if status not in transition.from_statuses]
    if wrong:
        raise InvalidTransition(f"cannot mark mismatches {wrong[:5]} {action}")
    ids = [mismatch_id for mismatch_id, _status in mismatches]
    values = _status_values(transition, at=at, actor=actor)
    for start in range(0, len(ids), _CHUNK):
        conn.execute(update(_M).where(_M.c.id.in_(ids[start : start + _CHUNK])).values(**values))
    _events(
        conn,
        [
            {
                "mismatch_id": mismatch_id,
                "at": at,
                "actor": actor,
                "action": action,
                "from_status": status,
                "to_status": transition.to_status,
                "note": note,
            }
            for mismatch_id, status in mismatches
        ],
    )


def _transition(
    db: Db, mismatch_id: int, action: str, actor: str, note: str | None, now: datetime | None
) -> None:
    if not actor or not actor.strip():
        raise MismatchError("an actor (who made the decision) is required")
    transition = TRANSITIONS[action]
    allowed_from, to_status = transition.from_statuses, transition.to_status
    at = as_utc(now) if now else utcnow()
    with writing(db) as conn:
        current = conn.execute(select(_M.c.status, _M.c.rule).where(_M.c.id == mismatch_id)).first()
        if current is None:
            raise MismatchNotFound(f"mismatch {mismatch_id} does not exist")
        from_status, rule = current
        if from_status not in allowed_from:
            raise InvalidTransition(f"mismatch {mismatch_id} is {from_status}; cannot mark it {action}")
        values = {**_status_values(transition, at=at, actor=actor), "note": note}
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


def decide(
    db: Db,
    mismatch_id: int,
    decision: Decision,
    actor: str,
    note: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """A person's decision (see allowed_decisions), recorded in mismatch_events and audit_log."""
    if decision not in DECISIONS:
        raise MismatchError(f"unknown decision {decision!r}; choose from {', '.join(DECISIONS)}")
    _transition(db, mismatch_id, DECISIONS[decision], actor, note, now)


def acknowledge(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """open → acknowledged: someone owns it now."""
    decide(db, mismatch_id, "acknowledge", actor, note, now=now)


def resolve(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """open | acknowledged → resolved by a person (re-detection will not reopen it; see docs)."""
    decide(db, mismatch_id, "resolve", actor, note, now=now)


def reopen(
    db: Db, mismatch_id: int, actor: str, note: str | None = None, *, now: datetime | None = None
) -> None:
    """resolved | acknowledged → open."""
    decide(db, mismatch_id, "reopen", actor, note, now=now)


def _age_days(first_seen: datetime, resolved_at: datetime | None, now: datetime) -> float:
    return round(((resolved_at or now) - first_seen).total_seconds() / 86_400, 2)


# Evidence timestamps of the event a mismatch is about (the capture not settled, the refund not
# debited, the payment whose webhook never came …): the problem is as old as the earliest of them.
EVIDENCE_SINCE_KEYS = ("captured_at", "processed_at", "authorized_at", "created_at", "event_created_at")


def evidence_since(evidence: Any) -> datetime | None:
    """When the problem a mismatch's evidence describes began, or None when the evidence has no time."""
    if not isinstance(evidence, dict):
        return None
    stamps = [evidence.get(key) for key in EVIDENCE_SINCE_KEYS]
    stamps += [p.get("created_at") for p in evidence.get("payments") or [] if isinstance(p, dict)]
    moments = []
    for stamp in stamps:
        if isinstance(stamp, str) and stamp:
            try:
                moments.append(as_utc(datetime.fromisoformat(stamp)))
            except ValueError:
                continue
    return min(moments) if moments else None


AGE_BUCKETS = ("0–2 days", "3–7 days", "8–30 days", "> 30 days")


def age_bucket(age_days: float) -> str:
    """The age bucket finance reads: 0–2, 3–7, 8–30, more than 30 whole days."""
    whole = int(age_days)
    if whole <= 2:
        return AGE_BUCKETS[0]
    if whole <= 7:
        return AGE_BUCKETS[1]
    if whole <= 30:
        return AGE_BUCKETS[2]
    return AGE_BUCKETS[3]


def _explanations() -> dict[str, str]:
    from analytics.rules import RULES  # late: rules import webhook health, which is heavier

    return {rule_id: rule.usual_cause for rule_id, rule in RULES.items()}


def _records(rows: list[Any], now: datetime) -> pd.DataFrame:
    causes = _explanations()
    records = []
    for row in rows:
        record = dict(row._mapping)
        record["usual_cause"] = causes.get(record["rule"], "")
        # Age comes from the evidence (a refund not debited for 26 days is 26 days old), not from when
        # reconcile first noticed; the first sighting stands in when the evidence carries no time.
        since = evidence_since(record["evidence"]) or record["first_seen_at"]
        record["since"] = since
        record["age_days"] = _age_days(min(since, record["first_seen_at"]), record["resolved_at"], now)
        record["age_bucket"] = age_bucket(record["age_days"])
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
    where: Sequence[ColumnElement[bool]] = (),
) -> pd.DataFrame:
    """Mismatches, newest first, with their age (see MISMATCH_COLUMNS); `where` adds conditions
    (analytics.mismatch_bulk.MismatchFilter's)."""
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
    query = query.where(*where).order_by(_M.c.first_seen_at.desc(), _M.c.id.desc()).limit(limit)
    with reading(db) as conn:
        rows = list(conn.execute(query))
    return _records(rows, as_utc(now) if now else utcnow())


UNRESOLVED_BREAKDOWN_COLUMNS = [
    "rule",
    "status",
    "currency",
    "age_bucket",
    "count",
    "at_stake",
    "oldest_days",
]


def unresolved_breakdown(db: Db, *, rule: str | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Every unresolved mismatch (of `rule`, when given) counted per rule, status, currency and age
    bucket, with the money at stake (Σ |expected − actual|, per currency) and the oldest age: the
    cards and charts' figures over all of them, not over the rows a table holds. Ages as in
    `list_mismatches` (from the evidence); rows are streamed, only the groups are kept."""
    at = as_utc(now) if now else utcnow()
    columns = [_M.c[name] for name in ("rule", "status", "currency", "expected_amount", "actual_amount")]
    columns += [_M.c.first_seen_at, _M.c.resolved_at, _M.c.evidence]
    query = select(*columns).where(_M.c.status.in_(UNRESOLVED_STATUSES))
    if rule:
        query = query.where(_M.c.rule == rule)
    groups: dict[tuple[str, str, str | None, str], list[float]] = {}
    with reading(db) as conn:
        for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
            since = evidence_since(row.evidence) or row.first_seen_at
            age = _age_days(min(since, row.first_seen_at), row.resolved_at, at)
            stake = abs(as_int(row.expected_amount) - as_int(row.actual_amount))
            group = groups.setdefault((row.rule, row.status, row.currency, age_bucket(age)), [0, 0, 0.0])
            group[0] += 1
            group[1] += stake
            group[2] = max(group[2], age)
    frame = pd.DataFrame(
        [(*key, int(n), int(stake), oldest) for key, (n, stake, oldest) in groups.items()],
        columns=UNRESOLVED_BREAKDOWN_COLUMNS,
    )
    return frame.sort_values(["rule", "status", "age_bucket"], kind="stable").reset_index(drop=True)


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
