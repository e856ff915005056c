"""Writes one batch of API records: normalise, load nested entities, upsert, and quarantine whatever
cannot be normalised or stored, so one bad record never costs the batch (or the sync) the others.

A record that fails to normalise (any exception, not only `NormaliseError`) is quarantined with its
reason. If the database refuses the batch, it is split in halves inside savepoints until the refused
rows are found; they are quarantined and every other row is kept, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, text
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from data.upsert import upsert
from sync.entities import EntitySpec, NormaliseContext, entity_spec
from sync.normalise import NormaliseError
from sync.quarantine import quarantine_many

__all__ = ["OnlyIf", "write_records"]

OnlyIf = Callable[[Table, Any], ColumnElement[bool]]

# Errors that say the connection or the database is unavailable, not that a row is bad: they are
# raised, so the window is retried by the next run instead of its rows being quarantined.
_NOT_ROW_ERRORS = (InterfaceError, DisconnectionError)
# SQLite reports some row faults as OperationalError too ("malformed JSON"); these words mark the
# ones that are about the database, not the row.
_UNAVAILABLE_WORDS = ("locked", "busy", "disk", "unable to open", "connection", "server closed", "terminat")


# JSON scalars and lists: never a nested collection (an `{"entity": "collection", …}` object).
_SCALARS = frozenset({str, int, float, bool, type(None), list})


class _Batch:
    """Normalised rows per entity, and the records set aside with their reasons."""

    def __init__(self, ctx: NormaliseContext) -> None:
        self.ctx = ctx
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {}
        self.bad: dict[str, list[tuple[object, str]]] = {}

    def reject(self, entity: str, raw: object, reason: str) -> None:
        self.bad.setdefault(entity, []).append((raw, reason))

    def add(self, spec: EntitySpec, record: object) -> None:
        try:
            row = spec.normalise(record, self.ctx)  # type: ignore[arg-type]
        except NormaliseError as error:
            self.reject(spec.name, record, error.reason)
            return
        except Exception as error:  # a record must never stop the batch, whatever is wrong with it
            self.reject(spec.name, record, f"cannot be read: {type(error).__name__}: {error}"[:300])
            return
        # A repeat inside one batch: the later copy wins.
        self.rows.setdefault(spec.name, {})[row[spec.key]] = row
        assert isinstance(record, Mapping)
        self._nested(spec, record, row[spec.key])

    def _nested(self, spec: EntitySpec, record: Mapping[str, Any], parent_id: Any) -> None:
        for key, value in record.items():
            # Most values are scalars: skipping them by exact type costs a fraction of the ABC check.
            if type(value) in _SCALARS or not (
                isinstance(value, Mapping) and value.get("entity") == "collection"
            ):
                continue
            items = value.get("items")
            target = spec.nested.get(key)
            if not isinstance(items, list):
                self.reject(spec.name, value, f"nested {key} of {parent_id} has no items list")
                continue
            for child in items:
                if target is not None:
                    self.add(entity_spec(target), child)
                else:
                    self.reject(
                        spec.name,
                        child,
                        f"nested {key} of {parent_id} (expand[]={key}): payops does not store this entity",
                    )


def write_records(
    conn: Connection,
    spec: EntitySpec,
    records: Iterable[object],
    ctx: NormaliseContext,
    *,
    run_id: int | None,
    only_if: OnlyIf | None,
) -> tuple[int, int]:
    """Normalise and upsert `records` (and the entities nested in them) in the caller's transaction,
    then run each written entity's after-write hook with the rows it kept.

    Returns (rows upserted, records quarantined), over every entity written.
    """
    batch = _Batch(ctx)
    for record in records:
        batch.add(spec, record)
    upserted = 0
    for name, keyed in batch.rows.items():
        target = entity_spec(name)
        kept, refused = _upsert_bisecting(conn, target, list(keyed.values()), only_if)
        for row, reason in refused:
            batch.reject(name, row.get("raw", row), reason)
        upserted += len(kept)
        if target.after_write is not None and kept:
            target.after_write(conn, kept)
    quarantined = 0
    for name, bad in batch.bad.items():
        quarantined += quarantine_many(conn, entity=name, records=bad, source=ctx.source, run_id=run_id)
    return upserted, quarantined


def _upsert_bisecting(
    conn: Connection, spec: EntitySpec, rows: Sequence[dict[str, Any]], only_if: OnlyIf | None
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Upsert `rows`; when the database refuses them, find the refused rows by halving. Returns (kept
    rows, [(refused row, reason)])."""
    if not rows:
        return [], []
    try:
        with _savepoint(conn):
            upsert(conn, spec.model, rows, only_if=only_if)
    except _NOT_ROW_ERRORS:
        raise
    except Exception as error:  # DataError, IntegrityError, SQLite's OverflowError …
        if isinstance(error, OperationalError) and not _is_row_fault(conn, error):
            raise
        if len(rows) == 1:
            return [], [(rows[0], _refusal(error))]
        middle = len(rows) // 2
        kept_first, refused_first = _upsert_bisecting(conn, spec, rows[:middle], only_if)
        kept_second, refused_second = _upsert_bisecting(conn, spec, rows[middle:], only_if)
        return kept_first + kept_second, refused_first + refused_second
    return list(rows), []


def _is_row_fault(conn: Connection, error: OperationalError) -> bool:
    """Whether an OperationalError is about the rows (then bisect) or the database (then raise)."""
    message = str(error.orig).lower()
    if any(word in message for word in _UNAVAILABLE_WORDS):
        return False
    try:
        with _savepoint(conn):
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _savepoint(conn: Connection) -> AbstractContextManager[Any]:
    if conn.dialect.name == "sqlite":
        # pysqlite opens its transaction lazily, at the first INSERT: a SAVEPOINT sent before that would
        # itself be the outermost transaction, and releasing it would COMMIT. BEGIN first keeps the
        # savepoint nested in the caller's transaction.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            conn.exec_driver_sql("BEGIN")
    return conn.begin_nested()


def _refusal(error: Exception) -> str:
    """The reason a row was refused: the error class and the database's first line, never the bound
    parameters (they can hold emails and phone numbers)."""
    original = getattr(error, "orig", None) or error
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"database refused the row: {type(original).__name__}: {first_line}"[:300]
