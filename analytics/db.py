"""Small connection helpers: every public function accepts an Engine or a Connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

Db = Engine | Connection

# Independent reads of one page run on at most this many connections at once (the machine's cores are
# what they share: SQLite and the PostgreSQL driver let go of the GIL while a query runs).
SIDE_BY_SIDE = 4


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


def side_by_side(db: Db, *reads: Callable[[Connection], Any]) -> list[Any]:
    """The results of independent reads, in order: each on its own connection at the same time when
    given an engine (a page's heavy queries then take the longest one's time, not their sum), one after
    another on the caller's connection otherwise (so a caller's transaction still sees one snapshot)."""
    if isinstance(db, Connection):
        return [read(db) for read in reads]

    def on_own_connection(read: Callable[[Connection], Any]) -> Any:
        with db.connect() as conn:
            return read(conn)

    with ThreadPoolExecutor(
        max_workers=min(SIDE_BY_SIDE, len(reads)), thread_name_prefix="payops-read"
    ) as pool:
        return list(pool.map(on_own_connection, reads))
