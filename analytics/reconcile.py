"""Run the reconciliation rules and fold their findings into the stored mismatches, idempotently.

New findings open a mismatch; a finding seen again refreshes its evidence; an open or acknowledged
mismatch whose condition has cleared is auto-resolved; an auto-resolved one that comes back reopens.
A mismatch resolved by a person stays resolved (their decision stands; last_seen_at still moves).
Every change of status goes through analytics.mismatches, the one home of the lifecycle.

A pass is full (every entity) or incremental: only the entities written since the previous pass and
what their changes reach (analytics.reconcile_scope), with the same outcome for the mismatches as a
full pass. Each pass is recorded in reconcile_runs; docs/reconciliation.md says when each kind runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from analytics import mismatches as lifecycle
from analytics.bank_match import refresh_bank_matches
from analytics.bank_rules import BANK_RULES
from analytics.db import Db, as_utc, utcnow, writing
from analytics.mismatch_bulk import due_at_for, evidence_time
from analytics.reconcile_scope import Scope, TimeWindows, build_scope, drop_scope, refresh_statistics
from analytics.rules import RULES, Finding, RuleContext, business_day_cutoff
from analytics.webhook_health import Coverage, coverage
from data.audit import record_audit
from data.models import Mismatch, ReconcileRun, UTCDateTime
from data.rollups import RECONCILE_LOCK, serialise
from data.settings import get_settings

__all__ = ["MODES", "Mode", "ReconcileResult", "reconcile"]

_M: Table = Mismatch.__table__  # type: ignore[assignment]
_RUNS: Table = ReconcileRun.__table__  # type: ignore[assignment]
_CHUNK = 500
BANK_RULE_IDS = frozenset(rule.id for rule in BANK_RULES)

Mode = Literal["full", "incremental", "auto"]
# full: every entity. incremental: what changed since the previous pass (full when there is none to
# build on). auto: incremental, and full once payops_reconcile_full_every_hours have passed since the
# last full pass — what the scheduler runs.
MODES: tuple[str, ...] = ("full", "incremental", "auto")
# Writers stamp updated_at with their own clock before they commit: a row stamped just before the
# previous pass began may have committed after it read. Re-reading this much before it covers
# transactions that long and clocks that far apart (a host's sync against the reconciler's).
CHANGE_OVERLAP = timedelta(minutes=10)

# Which stored mismatches an incremental pass re-examines, per rule: those whose subject is in the
# scope (the same ids the rule's query is kept to). A rule not listed (the bank-statement rules, whose
# size is the settlements' and statement lines', not the payments') runs whole on every pass.
_IN_SCOPE: dict[str, Callable[[Scope], ColumnElement[bool]]] = {
    "captured_not_settled": lambda scope: scope.within("payment", _M.c.payment_id),
    "authorized_not_captured": lambda scope: scope.within("payment", _M.c.payment_id),
    "fee_rate_anomaly": lambda scope: scope.within("payment", _M.c.payment_id),
    "settlement_line_amount_mismatch": lambda scope: scope.within("payment", _M.c.payment_id),
    "webhook_status_conflict": lambda scope: scope.within("payment", _M.c.payment_id),
    "refund_not_debited": lambda scope: scope.within("refund", _M.c.refund_id),
    "order_paid_without_capture": lambda scope: scope.within("order", _M.c.order_id),
    "order_multiple_captures": lambda scope: scope.within("order", _M.c.order_id),
    "settlement_total_mismatch": lambda scope: scope.within("settlement", _M.c.settlement_id),
    "webhook_missing": lambda scope: or_(
        and_(_M.c.refund_id.is_(None), scope.within("payment", _M.c.payment_id)),
        scope.within("refund", _M.c.refund_id),
    ),
}


@dataclass(frozen=True)
class ReconcileResult:
    now: datetime
    found: dict[str, int] = field(default_factory=dict)
    new: int = 0
    reopened: int = 0
    auto_resolved: int = 0
    still_open: int = 0
    mode: str = "full"
    # Why a pass asked to be incremental ran full (None when it ran as asked).
    full_because: str | None = None
    # Incremental: how many entities of each kind the rules looked at.
    scope: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "mode": self.mode,
            "full_because": self.full_because,
            "scope": self.scope,
            "found": self.found,
            "new": self.new,
            "reopened": self.reopened,
            "auto_resolved": self.auto_resolved,
            "still_open": self.still_open,
        }


def _explanation(finding: Finding, ctx: RuleContext) -> str:
    return f"{finding.detail} {RULES[finding.rule].explain(ctx)}"


def _row(finding: Finding, ctx: RuleContext) -> dict[str, Any]:
    now = ctx.now
    rule = RULES[finding.rule]
    started = evidence_time(finding.evidence)
    return {
        "key": finding.key,
        "rule": finding.rule,
        "severity": rule.severity,
        "status": lifecycle.INITIAL_STATUS,
        "auto_resolved": False,
        "payment_id": finding.payment_id,
        "order_id": finding.order_id,
        "refund_id": finding.refund_id,
        "settlement_id": finding.settlement_id,
        "currency": finding.currency,
        "expected_amount": finding.expected_amount,
        "actual_amount": finding.actual_amount,
        "explanation": _explanation(finding, ctx),
        "evidence": finding.evidence,
        "first_seen_at": now,
        "last_seen_at": now,
        "resolved_at": None,
        "updated_by": None,
        "note": None,
        "owner": None,
        "reason_code": None,
        "evidence_at": started,
        "due_at": due_at_for(rule.severity, started or now),
    }


def _fingerprint(selected: Sequence[str], ctx: RuleContext) -> str:
    """The rules and thresholds of a pass: an incremental pass builds only on one with the same."""
    described = {
        "rules": sorted(selected),
        "thresholds": ctx.thresholds(),
        "fee_rate_ranges": {method: list(bounds) for method, bounds in sorted(ctx.fee_rate_ranges.items())},
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _plan(
    conn: Connection, requested: Mode, fingerprint: str, started: datetime
) -> tuple[Row[Any] | None, str | None]:
    """The pass to build on (None: run full) and, when an incremental pass was asked for, why not."""
    if requested == "full":
        return None, None
    previous = conn.execute(select(_RUNS).order_by(_RUNS.c.id.desc()).limit(1)).first()
    if previous is None:
        return None, "no earlier pass to build on"
    if previous.fingerprint != fingerprint:
        return None, "the rules or thresholds differ from the previous pass's"
    if requested == "auto":
        every = timedelta(hours=get_settings().payops_reconcile_full_every_hours)
        last_full = conn.execute(
            select(func.max(_RUNS.c.started_at)).where(
                _RUNS.c.mode == "full", _RUNS.c.fingerprint == fingerprint
            )
        ).scalar()
        if not every or last_full is None or started - as_utc(last_full) >= every:
            return None, "the scheduled full pass is due"
    return previous, None


def _span(window: Coverage) -> tuple[datetime, datetime] | None:
    if window.start is None or window.end is None or window.end <= window.start:
        return None
    return window.start, window.end


def _coverage_moves(before: Coverage, after: Coverage) -> tuple[tuple[datetime, datetime], ...]:
    """created_at ranges that entered or left the webhook coverage window between two passes."""
    old, new = _span(before), _span(after)
    if old is None or new is None:
        return tuple(span for span in (old, new) if span is not None)
    return TimeWindows.between(old[0], new[0]) + TimeWindows.between(old[1], new[1])


def _time_windows(previous: Row[Any], ctx: RuleContext, window: Coverage) -> TimeWindows:
    """What time alone moved across a threshold between the previous pass's `now` and this one's."""
    before = as_utc(previous.rules_now)
    settled_by = TimeWindows.between(
        business_day_cutoff(before, ctx.settlement_days), business_day_cutoff(ctx.now, ctx.settlement_days)
    )
    authorised = TimeWindows.between(
        before - timedelta(days=ctx.authorized_days), ctx.now - timedelta(days=ctx.authorized_days)
    )
    old_window = Coverage(
        as_utc(previous.coverage_start) if previous.coverage_start else None,
        as_utc(previous.coverage_end) if previous.coverage_end else None,
    )
    webhooks = _coverage_moves(old_window, window)
    return TimeWindows(payments=settled_by + authorised + webhooks, refunds=settled_by + webhooks)


def _existing(
    conn: Connection, selected: Sequence[str], scope: Scope | None, finding_keys: Sequence[str]
) -> dict[str, tuple[int, str, bool]]:
    """key → (id, status, auto_resolved) of the stored mismatches this pass decides on: all of the
    selected rules' on a full pass; on an incremental one those in scope and those found again."""
    columns = (_M.c.id, _M.c.key, _M.c.status, _M.c.auto_resolved)
    if scope is None:
        condition: ColumnElement[bool] = _M.c.rule.in_(selected)
    else:
        whole = [rule_id for rule_id in selected if rule_id not in _IN_SCOPE]
        condition = or_(
            _M.c.rule.in_(whole),
            *[
                and_(_M.c.rule == rule_id, _IN_SCOPE[rule_id](scope))
                for rule_id in selected
                if rule_id in _IN_SCOPE
            ],
        )
    existing = {
        key: (mismatch_id, status, auto_resolved)
        for mismatch_id, key, status, auto_resolved in conn.execute(select(*columns).where(condition))
    }
    if scope is not None:
        # A finding whose stored mismatch names other ids than the scope's (its line moved settlement).
        missing = [key for key in finding_keys if key not in existing]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            existing.update(
                (key, (mismatch_id, status, auto_resolved))
                for mismatch_id, key, status, auto_resolved in conn.execute(
                    select(*columns).where(_M.c.key.in_(chunk))
                )
            )
    return existing


def reconcile(
    db: Db,
    *,
    now: datetime | None = None,
    rules: Sequence[str] | None = None,
    settlement_days: int | None = None,
    actor: str = "system",
    mode: Mode = "full",
) -> ReconcileResult:
    """Run the rules (all by default) at `now` and update the mismatch lifecycle; one transaction.

    `mode` (MODES): a full pass, or an incremental one over what changed since the previous pass."""
    now = as_utc(now) if now else utcnow()
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    selected = list(rules) if rules else list(RULES)
    unknown = [rule_id for rule_id in selected if rule_id not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s): {', '.join(unknown)}; choose from {', '.join(RULES)}")
    if settlement_days is not None and settlement_days < 0:
        raise ValueError("settlement_days must not be negative")
    ctx = (
        RuleContext.configured(now)
        if settlement_days is None
        else RuleContext.configured(now, settlement_days=settlement_days)
    )
    fingerprint = _fingerprint(selected, ctx)

    with writing(db) as conn:
        serialise(conn, RECONCILE_LOCK)  # two runs at once would both insert the same new keys
        # The writers' clock, not `now` (the rules' instant, which tests and --now pin): the next
        # incremental pass reads what was written since this moment (less CHANGE_OVERLAP).
        started = datetime.now(UTC)
        window = (
            coverage(conn, now=now, grace_minutes=ctx.webhook_grace_minutes)
            if "webhook_missing" in selected
            else Coverage(None, None)
        )
        previous, full_because = _plan(conn, mode, fingerprint, started)
        if previous is not None:
            scope = build_scope(
                conn,
                changed_since=as_utc(previous.started_at) - CHANGE_OVERLAP,
                windows=_time_windows(previous, ctx, window),
            )
            ctx = dataclasses.replace(ctx, scope=scope)
        else:
            refresh_statistics(conn)
        if any(rule_id in BANK_RULE_IDS for rule_id in selected):
            refresh_bank_matches(conn, now=now)  # the bank rules read the matches of current data
        findings: dict[str, Finding] = {}
        found: dict[str, int] = {}
        for rule_id in selected:
            rule_findings = RULES[rule_id].detect(conn, ctx)
            found[rule_id] = len({finding.key for finding in rule_findings})
            findings.update((finding.key, finding) for finding in rule_findings)

        existing = _existing(conn, selected, ctx.scope, list(findings))
        result = _apply(conn, findings, existing, ctx, actor=actor)
        still_open = conn.execute(
            select(func.count()).where(
                _M.c.rule.in_(selected), _M.c.status.in_(lifecycle.UNRESOLVED_STATUSES)
            )
        ).scalar_one()
        result = dataclasses.replace(
            result,
            found=found,
            still_open=int(still_open),
            mode="full" if ctx.scope is None else "incremental",
            full_because=full_because,
            scope=dict(ctx.scope.counts) if ctx.scope is not None else {},
        )
        if ctx.scope is not None:
            drop_scope(conn)
        conn.execute(
            insert(_RUNS).values(
                started_at=started,
                rules_now=now,
                mode=result.mode,
                fingerprint=fingerprint,
                coverage_start=window.start,
                coverage_end=window.end,
                detail=result.as_dict(),
            )
        )
        record_audit(
            conn, at=now, actor=actor, action="reconcile.run", target="mismatches", detail=result.as_dict()
        )
    return result


def _apply(
    conn: Connection,
    findings: dict[str, Finding],
    existing: dict[str, tuple[int, str, bool]],
    ctx: RuleContext,
    *,
    actor: str,
) -> ReconcileResult:
    """Fold the findings into the stored mismatches `existing` (all this pass decides on)."""
    now = ctx.now
    new_keys = [key for key in findings if key not in existing]
    new_rows = [_row(findings[key], ctx) for key in new_keys]
    for start in range(0, len(new_rows), _CHUNK):
        conn.execute(insert(_M), new_rows[start : start + _CHUNK])
    new_ids: list[int] = []
    for start in range(0, len(new_keys), _CHUNK):
        chunk = new_keys[start : start + _CHUNK]
        new_ids.extend(
            mismatch_id for (mismatch_id,) in conn.execute(select(_M.c.id).where(_M.c.key.in_(chunk)))
        )
    lifecycle.record_detected(conn, new_ids, at=now, actor=actor)

    seen_again = [key for key in findings if key in existing]
    if seen_again:
        refresh = (
            update(_M)
            .where(_M.c.id == bindparam("b_id"))
            .values(
                last_seen_at=bindparam("b_seen", type_=UTCDateTime()),
                evidence=bindparam("b_evidence", type_=_M.c.evidence.type),
                explanation=bindparam("b_explanation"),
                expected_amount=bindparam("b_expected"),
                actual_amount=bindparam("b_actual"),
            )
        )
        params = [
            {
                "b_id": existing[key][0],
                "b_seen": now,
                "b_evidence": findings[key].evidence,
                "b_explanation": _explanation(findings[key], ctx),
                "b_expected": findings[key].expected_amount,
                "b_actual": findings[key].actual_amount,
            }
            for key in seen_again
        ]
        for start in range(0, len(params), _CHUNK):
            conn.execute(refresh, params[start : start + _CHUNK])

    # Back after an automatic resolution: open again. (One a person resolved stays resolved.)
    reopen_ids = [
        existing[key][0] for key in seen_again if existing[key][1] == "resolved" and existing[key][2]
    ]
    lifecycle.apply_system(
        conn,
        "reopened",
        [(mismatch_id, "resolved") for mismatch_id in reopen_ids],
        at=now,
        actor=actor,
        note="condition detected again",
    )
    cleared = [
        (mismatch_id, status)
        for key, (mismatch_id, status, _auto) in existing.items()
        if key not in findings and status in lifecycle.UNRESOLVED_STATUSES
    ]
    lifecycle.apply_system(
        conn, "auto_resolved", cleared, at=now, actor=actor, note="condition no longer detected"
    )
    return ReconcileResult(now=now, new=len(new_rows), reopened=len(reopen_ids), auto_resolved=len(cleared))
