"""The one dialect-aware bulk upsert (`INSERT … ON CONFLICT (pk) DO UPDATE`) every writer uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import UpdateBase

from data.models import Base, UTCDateTime

_CHUNK_ROWS = 2000
# Rows per multi-row VALUES statement (`insert_values`): one compiled text per row count up to this,
# and far below both databases' limit on parameters (SQLite 32,766, PostgreSQL 65,535) at 30 columns.
VALUES_CHUNK_ROWS = 128


def table_of(model_or_table: type[Base] | Table) -> Table:
    if isinstance(model_or_table, Table):
        return model_or_table
    table = model_or_table.__table__
    assert isinstance(table, Table)
    return table


# Building the statement (the `excluded` alias, the only_if expression) costs milliseconds, more than
# executing it for a few rows; writers that upsert small batches often (the webhook receiver) reuse it.
# The key holds `only_if` itself, so a caller gets reuse by passing the same function each time.
def dialect_insert(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """`INSERT INTO table` with the dialect's ON CONFLICT clauses available."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for {dialect}")  # pragma: no cover


@lru_cache(maxsize=256)
def _statement(
    table: Table,
    dialect: str,
    keys: tuple[str, ...],
    to_update: tuple[str, ...],
    only_if: Callable[[Table, Any], ColumnElement[bool]] | None,
) -> postgresql.Insert | sqlite.Insert:
    insert = dialect_insert(table, dialect)
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

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
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
        values = self.values
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
def _prepared(statement: UpdateBase, dialect: Dialect, given: tuple[str, ...]) -> _Prepared | None:
    """The statement as SQL text plus per-parameter bind processors, or None when a parameter needs
    per-row work SQLAlchemy would do (a callable default for a column the rows do not carry)."""
    return _compile_prepared(statement, dialect, given)


def _compile_prepared(
    statement: UpdateBase, dialect: Dialect, given: tuple[str, ...], *, rendering: Dialect | None = None
) -> _Prepared | None:
    # `rendering`: the dialect whose paramstyle the text uses; values are processed for `dialect`.
    rendering = rendering or dialect
    compiled = statement.compile(dialect=rendering, column_keys=list(given))
    if compiled.escaped_bind_names:
        return None
    positional = compiled.positiontup is not None
    if positional:
        names = list(compiled.positiontup or ())
    elif rendering.paramstyle == "pyformat":
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


def execute_rows(conn: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `statement` once per row (one executemany) on the driver itself, with the text and bind
    processors SQLAlchemy compiled once; SQLAlchemy's own per-row parameter handling when the
    statement needs it. For the small statements a writer runs on every batch: SQLAlchemy's execution
    of a cached statement still costs more than the database's work for a few rows."""
    if not rows:
        return
    fast = _prepared(statement, conn.dialect, tuple(rows[0]))
    if fast is None:
        conn.execute(statement, list(rows))
    else:
        conn.exec_driver_sql(fast.sql, fast.parameters(rows))


FinishInsert = Callable[[Any], UpdateBase]


@lru_cache(maxsize=8)
def _positional(dialect: Dialect) -> Dialect:
    """The same dialect rendering `%s` marks instead of `%(name)s` (SQLite's `?` already are), so a
    row's group of marks can be repeated for many rows; bind processors still come from `dialect`."""
    if dialect.positional:
        return dialect
    rendering: Dialect = type(dialect)(paramstyle="format")  # type: ignore[call-arg]
    return rendering


class _ValuesTemplate:
    """A one-row INSERT split around its `VALUES (…)` group, to repeat the group for n rows."""

    def __init__(self, head: str, group: str, tail: str, row: _Prepared) -> None:
        self.head, self.group, self.tail, self.row = head, group, tail, row
        self._texts: dict[int, str] = {}

    def sql(self, count: int) -> str:
        text = self._texts.get(count)
        if text is None:
            text = self._texts[count] = self.head + ", ".join([self.group] * count) + self.tail
        return text


@lru_cache(maxsize=64)
def _values_template(
    table: Table, dialect: Dialect, columns: tuple[str, ...], finish: FinishInsert | None
) -> _ValuesTemplate | None:
    """Compile the one-row statement once; None when its text is not one `VALUES (…)` group holding
    every bind (then SQLAlchemy executes it)."""
    insert = dialect_insert(table, dialect.name).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )
    statement = finish(insert) if finish is not None else insert
    row = _compile_prepared(statement, dialect, columns, rendering=_positional(dialect))
    if row is None or not row.positional:
        return None
    sql = row.sql
    start = sql.find(" VALUES (")
    if start < 0 or sql.find(" VALUES (", start + 1) >= 0:
        return None
    open_at = start + len(" VALUES ")
    depth = 0
    for end in range(open_at, len(sql)):  # the matching parenthesis (casts such as NUMERIC(12, 2) nest)
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            break
    group = sql[open_at : end + 1]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if depth != 0 or group.count(mark) != len(row.names) or sql.count(mark) != len(row.names):
        return None
    return _ValuesTemplate(sql[:open_at], group, sql[end + 1 :], row)


def insert_values(
    conn: Connection,
    model_or_table: type[Base] | Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    finish: FinishInsert | None = None,
    chunk_rows: int = VALUES_CHUNK_ROWS,
) -> list[Any]:
    """Insert rows as one multi-row `INSERT … VALUES (…), (…)` statement per chunk of `chunk_rows`;
    returns the rows of its RETURNING clause, if it has one.

    `finish(insert)` adds the rest of the statement (ON CONFLICT, RETURNING) to the insert; pass the
    same function each time (it is part of the cache key). The one-row statement is compiled once and
    its group of marks repeated per row (SQLAlchemy's own multi-row compile costs milliseconds per
    row count, its insertmanyvalues more per batch than the insert). One statement per chunk, unlike
    an executemany: RETURNING then answers for the whole chunk at once (which rows were new), and
    SQLite and PostgreSQL each run it as one statement. Every row must carry the same keys; rows in
    one statement may not hit the same row twice under ON CONFLICT DO UPDATE.
    """
    if not rows:
        return []
    table = table_of(model_or_table)
    columns = tuple(rows[0])
    template = _values_template(table, conn.dialect, columns, finish)
    returned: list[Any] = []
    for start in range(0, len(rows), chunk_rows):
        chunk = rows[start : start + chunk_rows]
        if template is None:
            insert = dialect_insert(table, conn.dialect.name).values(list(chunk))
            result = conn.execute(finish(insert) if finish is not None else insert)
        else:
            values = template.row.values
            parameters = tuple(chain.from_iterable(values(row) for row in chunk))
            result = conn.exec_driver_sql(template.sql(len(chunk)), parameters)
        if result.returns_rows:
            returned.extend(result.all())
    return returned
