"""Run the reconciliation rules and fold their findings into the stored mismatches, idempotently.

New findings open a mismatch; a finding seen again refreshes its evidence; an open or acknowledged
mismatch whose condition has cleared is auto-resolved; an auto-resolved one that comes back reopens.
A mismatch resolved by a person stays resolved (their decision stands; last_seen_at still moves).
Every change of status goes through analytics.mismatches, the one home of the lifecycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from analytics import mismatches as lifecycle
from analytics.bank_match import refresh_bank_matches
from analytics.bank_rules import BANK_RULES
from analytics.db import Db, as_utc, utcnow, writing
from analytics.mismatch_bulk import due_at_for, evidence_time
from analytics.rules import RULES, Finding, RuleContext
from data.audit import record_audit
from data.models import Mismatch, UTCDateTime
from data.rollups import RECONCILE_LOCK, serialise

__all__ = ["ReconcileResult", "reconcile"]

_M: Table = Mismatch.__table__  # type: ignore[assignment]
_CHUNK = 500
BANK_RULE_IDS = frozenset(rule.id for rule in BANK_RULES)


@dataclass(frozen=True)
class ReconcileResult:
    now: datetime
    found: dict[str, int] = field(default_factory=dict)
    new: int = 0
    reopened: int = 0
    auto_resolved: int = 0
    still_open: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
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


def reconcile(
    db: Db,
    *,
    now: datetime | None = None,
    rules: Sequence[str] | None = None,
    settlement_days: int | None = None,
    actor: str = "system",
) -> ReconcileResult:
    """Run the rules (all by default) at `now` and update the mismatch lifecycle; one transaction."""
    now = as_utc(now) if now else utcnow()
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

    with writing(db) as conn:
        serialise(conn, RECONCILE_LOCK)  # two runs at once would both insert the same new keys
        if any(rule_id in BANK_RULE_IDS for rule_id in selected):
            refresh_bank_matches(conn, now=now)  # the bank rules read the matches of current data
        findings: dict[str, Finding] = {}
        found: dict[str, int] = {}
        for rule_id in selected:
            rule_findings = RULES[rule_id].detect(conn, ctx)
            found[rule_id] = len({finding.key for finding in rule_findings})
            findings.update((finding.key, finding) for finding in rule_findings)

        existing = {
            key: (mismatch_id, status, auto_resolved)
            for mismatch_id, key, status, auto_resolved in conn.execute(
                select(_M.c.id, _M.c.key, _M.c.status, _M.c.auto_resolved).where(_M.c.rule.in_(selected))
            )
        }

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

        reopened = set(reopen_ids)
        still_open = sum(
            1
            for key in seen_again
            if existing[key][1] in lifecycle.UNRESOLVED_STATUSES or existing[key][0] in reopened
        )
        result = ReconcileResult(
            now=now,
            found=found,
            new=len(new_rows),
            reopened=len(reopen_ids),
            auto_resolved=len(cleared),
            still_open=still_open + len(new_rows),
        )
        record_audit(
            conn, at=now, actor=actor, action="reconcile.run", target="mismatches", detail=result.as_dict()
        )
    return result
