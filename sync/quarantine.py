"""Quarantine: records that could not be normalised are kept with their reason, never dropped silently.

Idempotent by fingerprint (sha256 of entity + raw text): meeting the same bad record again only
refreshes `last_seen_at`, `reason` and `run_id`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from data.models import Quarantine
from data.upsert import upsert
from sync.normalise import scrub_payment_raw

__all__ = ["fingerprint_of", "quarantine", "quarantine_many", "quarantine_text"]


def quarantine_text(entity: str, raw: object) -> str:
    """The text kept for a bad record; a payment's full VPA and card details are scrubbed even here."""
    if isinstance(raw, str):
        return _storable(raw)
    record = scrub_payment_raw(raw) if isinstance(raw, Mapping) and entity in ("payment", "payments") else raw
    try:
        text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # keys that do not sort, nesting past the limit
        text = repr(record)[:100_000]
    return _storable(text)


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold U+0000 (nor can a lone surrogate be encoded): keep the rest visible.
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def fingerprint_of(entity: str, raw_text: str) -> str:
    return hashlib.sha256(f"{entity}\n{raw_text}".encode()).hexdigest()


def _entity_id(raw: object) -> str | None:
    if isinstance(raw, Mapping):
        for key in ("id", "entity_id"):
            value = raw.get(key)
            if isinstance(value, str) and value:
                return _storable(value)[:64]
    return None


def quarantine(
    conn: Connection,
    *,
    entity: str,
    raw: str | Mapping[str, Any] | object,
    reason: str,
    source: str,
    run_id: int | None = None,
) -> None:
    """Keep one bad record (in the caller's transaction)."""
    quarantine_many(conn, entity=entity, records=[(raw, reason)], source=source, run_id=run_id)


def quarantine_many(
    conn: Connection,
    *,
    entity: str,
    records: Sequence[tuple[object, str]],
    source: str,
    run_id: int | None = None,
) -> int:
    """Keep a batch of (raw, reason) bad records in one statement. Returns how many were given."""
    now = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    for raw, reason in records:
        text = quarantine_text(entity, raw)
        fingerprint = fingerprint_of(entity, text)
        rows[fingerprint] = {
            "entity": entity,
            "entity_id": _entity_id(raw),
            "fingerprint": fingerprint,
            "reason": _storable(reason),
            "raw": text,
            "source": source,
            "first_seen_at": now,
            "last_seen_at": now,
            "run_id": run_id,
        }
    upsert(
        conn,
        Quarantine,
        list(rows.values()),
        conflict_columns=["fingerprint"],
        update_columns=["reason", "last_seen_at", "run_id"],
    )
    return len(records)
