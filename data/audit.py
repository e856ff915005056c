"""The audit trail: one row per thing a person (or a job acting for one) did — who, what, to what, when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from data.models import AuditLog

__all__ = ["record_audit"]

_ACTOR_MAX = 128


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str | None,
    detail: Mapping[str, Any],
    at: datetime | None = None,
) -> None:
    """Append one audit_log row in the caller's transaction (so it commits with what it records)."""
    conn.execute(
        insert(AuditLog).values(
            at=at or datetime.now(UTC),
            actor=actor[:_ACTOR_MAX],
            action=action,
            target=target,
            detail=dict(detail),
        )
    )
