"""The one dialect-aware bulk upsert (`INSERT … ON CONFLICT (pk) DO UPDATE`) every writer uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from data.models import Base

_CHUNK_ROWS = 2000


def table_of(model_or_table: type[Base] | Table) -> Table:
    if isinstance(model_or_table, Table):
        return model_or_table
    table = model_or_table.__table__
    assert isinstance(table, Table)
    return table


# Building the statement (the `excluded` alias, the only_if expression) costs milliseconds, more than
# executing it for a few rows; writers that upsert small batches often (the webhook receiver) reuse it.
# The key holds `only_if` itself, so a caller gets reuse by passing the same function each time.
@lru_cache(maxsize=256)
def _statement(
    table: Table,
    dialect: str,
    keys: tuple[str, ...],
    to_update: tuple[str, ...],
    only_if: Callable[[Table, Any], ColumnElement[bool]] | None,
) -> postgresql.Insert | sqlite.Insert:
    insert: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported databases reach here
        raise NotImplementedError(f"upsert is not implemented for {dialect}")

    excluded = insert.excluded
    if to_update:
        return insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: excluded[name] for name in to_update},
            where=only_if(table, excluded) if only_if is not None else None,
        )
    return insert.on_conflict_do_nothing(index_elements=list(keys))


def upsert(
    conn: Connection,
    model_or_table: type[Base] | Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    update_columns: Iterable[str] | None = None,
    only_if: Callable[[Table, Any], ColumnElement[bool]] | None = None,
    conflict_columns: Sequence[str] | None = None,
) -> int:
    """Insert rows, or update the existing row with the same key. Returns the number of rows sent.

    `update_columns` limits what a conflict overwrites (default: every column given except the key).
    `only_if(table, excluded)` builds a condition on the existing row and the incoming (`excluded`)
    values; when false the existing row is kept (the webhook's forward-only rules are written so). Every row must
    carry the same keys.
    """
    if not rows:
        return 0
    table = table_of(model_or_table)
    keys = list(conflict_columns or [column.name for column in table.primary_key.columns])
    given = list(rows[0].keys())
    stamp_updated_at = "updated_at" in table.c and "updated_at" not in given
    if stamp_updated_at:
        now = datetime.now(UTC)
        rows = [{**row, "updated_at": now} for row in rows]
        given.append("updated_at")
    to_update = [c for c in (update_columns or given) if c not in keys]
    if stamp_updated_at and update_columns is not None:
        to_update.append("updated_at")

    statement = _statement(table, conn.dialect.name, tuple(keys), tuple(to_update), only_if)
    for start in range(0, len(rows), _CHUNK_ROWS):
        conn.execute(statement, list(rows[start : start + _CHUNK_ROWS]))
    return len(rows)
