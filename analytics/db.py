"""Small connection helpers: every public function accepts an Engine or a Connection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

Db = Engine | Connection


@contextmanager
def reading(db: Db) -> Iterator[Connection]:
    """A connection to read with: the caller's own, or a fresh one from the engine."""
    if isinstance(db, Connection):
        yield db
        return
    with db.connect() as conn:
        yield conn


@contextmanager
def writing(db: Db) -> Iterator[Connection]:
    """A connection inside a transaction: the caller's (never committed here), or a new committed one."""
    if isinstance(db, Connection):
        yield db
        return
    with db.begin() as conn:
        yield conn


def as_int(value: object) -> int:
    """SUM() of BigInteger comes back as Decimal on PostgreSQL and int on SQLite; money stays int."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        return int(value)
    return int(str(value))


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: analytics takes aware UTC only")
    return value.astimezone(UTC)


# Drill-down tables never return more rows than this, whatever the caller asks for.
MAX_ROWS = 1000


def as_frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of result rows with exactly these columns (present even when there are no rows)."""
    return pd.DataFrame([tuple(row) for row in rows], columns=list(columns))
