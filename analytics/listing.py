"""A table that may hold more rows than a page shows: its true count (a COUNT, never the length of a
limited list), its first rows for the screen, and every row in chunks for the export.

A page shows `first` and says "Showing N of M rows" when `truncated`; its CSV streams `rows(...)`
from a server-side cursor in chunks (`yield_per`), so a million rows export in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select

from analytics.db import MAX_ROWS, Db, as_frame, reading

__all__ = ["CHUNK_ROWS", "Listing", "count_rows", "first_and_total", "listing", "stream_rows"]

CHUNK_ROWS = 5000


@dataclass(frozen=True)
class Listing:
    """`total` rows exist; `first` holds at most the first `shown_limit` of them, in order."""

    total: int
    first: pd.DataFrame

    @property
    def shown(self) -> int:
        return len(self.first)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.first)


def count_rows(db: Db, query: Select[Any]) -> int:
    """COUNT(*) of what `query` selects (its order and limit dropped)."""
    counted = select(func.count()).select_from(query.order_by(None).limit(None).subquery())
    with reading(db) as conn:
        return int(conn.execute(counted).scalar_one())


def first_and_total(db: Db, query: Select[Any], first: int) -> tuple[list[tuple[Any, ...]], int]:
    """The first `first` rows of `query` and its true row count, in one statement (COUNT(*) OVER ()).

    For a query the database sorts anyway (its ORDER BY has no index to follow): the sort reads every
    matching row, so the count costs nothing more, where a separate COUNT would read them all again.
    A query that streams in index order should use `listing` instead (a window would read every row)."""
    counted = query.add_columns(func.count().over().label("_total")).limit(first)
    with reading(db) as conn:
        rows = conn.execute(counted).all()
    return [tuple(row[:-1]) for row in rows], (int(rows[0][-1]) if rows else 0)


def listing(db: Db, query: Select[Any], columns: Sequence[str], *, first: int = MAX_ROWS) -> Listing:
    """The true count of `query` and its first `first` rows (as a DataFrame with `columns`)."""
    with reading(db) as conn:
        total = count_rows(conn, query)
        rows = conn.execute(query.limit(first)).all() if total else []
    return Listing(total=total, first=as_frame(rows, columns))


def stream_rows(
    db: Db, query: Select[Any], columns: Sequence[str], *, chunk: int = CHUNK_ROWS
) -> Iterator[dict[str, Any]]:
    """Every row of `query` as a dict keyed by `columns`, read `chunk` rows at a time from a
    server-side cursor (PostgreSQL) or SQLite's own stepping cursor: memory stays flat."""
    names = list(columns)
    with reading(db) as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
        for part in result.partitions():
            for row in part:
                yield dict(zip(names, row, strict=True))
