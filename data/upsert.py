"""The one dialect-aware bulk upsert (`INSERT … ON CONFLICT (pk) DO UPDATE`) every writer uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite

from data.models import Base, UTCDateTime

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


class _Prepared:
    """A statement compiled once, with how to turn a row into the driver's parameters: a tuple for
    SQLite's `?` marks, a dict for psycopg's `%(name)s`."""

    def __init__(
        self,
        sql: str,
        positional: bool,
        slots: Sequence[tuple[str, str | None, Callable[[Any], Any] | None, Any]],
    ) -> None:
        # slots, per parameter: its name, the row key it takes (None for a constant of the statement),
        # its bind processor, or the constant already processed.
        self.sql = sql
        self.positional = positional
        self.names = tuple(name for name, _, _, _ in slots)
        keyed = [(index, key) for index, (_, key, _, _) in enumerate(slots) if key is not None]
        # One C-level lookup of every key a row gives (itemgetter), then the bind processors of the
        # few typed columns (datetimes, JSON, numerics) by position: a Python loop over 35 columns
        # per row cost as much as SQLite's own insert of it.
        self.getter = itemgetter(*(key for _, key in keyed)) if len(keyed) > 1 else None
        self.single_key = keyed[0][1] if len(keyed) == 1 else None
        self.keyed_positions = tuple(index for index, _ in keyed)
        self.template = tuple(constant for _, _, _, constant in slots)
        self.has_constants = len(keyed) < len(slots)
        self.processors = tuple(
            (index, process) for index, (_, key, process, _) in enumerate(slots) if key and process
        )

    def _values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        given: Sequence[Any]
        if self.getter is not None:
            given = self.getter(row)
        elif self.single_key is not None:
            given = (row[self.single_key],)
        else:
            given = ()
        if self.has_constants:
            values = list(self.template)
            for index, value in zip(self.keyed_positions, given, strict=True):
                values[index] = value
        else:
            values = list(given)
        for index, process in self.processors:
            values[index] = process(values[index])
        return tuple(values)  # SQLAlchemy hands the driver tuples or dicts, nothing else

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        values = self._values
        if self.positional:
            return [values(row) for row in rows]
        names = self.names
        return [dict(zip(names, values(row), strict=True)) for row in rows]


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """UTCDateTime's bind processor and SQLite's DATETIME one in one step: the same
    'YYYY-MM-DD HH:MM:SS.ffffff' text of the naive UTC instant, from C (isoformat) instead of a
    %-format of nine fields per value."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: payops stores aware UTC only")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _bind_processor(bind_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(bind_type, UTCDateTime):
        return _sqlite_utc_text
    processor: Callable[[Any], Any] | None = bind_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


@lru_cache(maxsize=256)
def _prepared(
    statement: postgresql.Insert | sqlite.Insert, dialect: Dialect, given: tuple[str, ...]
) -> _Prepared | None:
    """The statement as SQL text plus per-parameter bind processors, or None when a parameter needs
    per-row work SQLAlchemy would do (a callable default for a column the rows do not carry)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(given))
    if compiled.escaped_bind_names:
        return None
    positional = compiled.positiontup is not None
    if positional:
        names = list(compiled.positiontup or ())
    elif dialect.paramstyle == "pyformat":
        names = list(compiled.binds)
    else:  # pragma: no cover - the two drivers payops installs are covered above
        return None
    slots: list[tuple[str, str | None, Callable[[Any], Any] | None, Any]] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute:
            return None  # an IN list rendered at execution time
        process = _bind_processor(bind.type, dialect)
        if name in given:
            slots.append((name, name, process, None))
        elif bind.callable is None and not bind.required:
            slots.append((name, None, None, process(bind.value) if process else bind.value))
        else:
            return None
    return _Prepared(compiled.string, positional, tuple(slots))


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
    # SQLAlchemy's per-row parameter handling (and, on PostgreSQL, its insertmanyvalues batching)
    # costs as much as the database's own insert; the same compiled statement and the same bind
    # processors, applied in one loop and handed to the driver's executemany, do the same work.
    fast = _prepared(statement, conn.dialect, tuple(given))
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        if fast is not None:
            conn.exec_driver_sql(fast.sql, fast.parameters(chunk))
        else:
            conn.execute(statement, list(chunk))
    return len(rows)
