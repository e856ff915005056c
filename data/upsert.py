"""The one dialect-aware bulk upsert (`INSERT … ON CONFLICT (pk) DO UPDATE`) every writer uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Table
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


@dataclass(frozen=True)
class _Positional:
    """An SQLite statement compiled once, with how to turn a row into its positional parameters."""

    sql: str
    # Per `?`: the row key it takes (None for a constant of the statement), its bind processor, or the
    # constant already processed.
    slots: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...]

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        slots = self.slots
        return [
            tuple(
                constant if key is None else (process(row[key]) if process else row[key])
                for key, process, constant in slots
            )
            for row in rows
        ]


@lru_cache(maxsize=256)
def _positional(
    statement: postgresql.Insert | sqlite.Insert, dialect: Dialect, given: tuple[str, ...]
) -> _Positional | None:
    """The statement as SQL text plus per-slot bind processors, or None when a slot needs per-row work
    SQLAlchemy would do (a callable default for a column the rows do not carry)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(given))
    names = compiled.positiontup
    if names is None:
        return None
    slots: list[tuple[str | None, Callable[[Any], Any] | None, Any]] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute:
            return None  # an IN list rendered at execution time
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in given:
            slots.append((name, process, None))
        elif bind.callable is None and not bind.required:
            slots.append((None, None, process(bind.value) if process else bind.value))
        else:
            return None
    return _Positional(compiled.string, tuple(slots))


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
    # On SQLite, SQLAlchemy's per-row parameter handling costs as much as SQLite's own insert; the
    # same compiled statement and the same bind processors, applied in one loop, do the same work.
    fast = _positional(statement, conn.dialect, tuple(given)) if conn.dialect.name == "sqlite" else None
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        if fast is not None:
            conn.exec_driver_sql(fast.sql, fast.parameters(chunk))
        else:
            conn.execute(statement, list(chunk))
    return len(rows)
