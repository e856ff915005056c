"""Writes of imported bank statements: the file row, its lines (idempotent by transaction key) and
its quarantined lines, in one transaction. Parsing lives in sync/statements.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from data.models import BankStatement, BankStatementLine
from data.upsert import upsert

__all__ = ["StoredStatement", "coverage_rows", "statement_files", "store_statement"]


@dataclass(frozen=True)
class StoredStatement:
    already_imported: bool
    new_lines: int  # lines not already known from this or an overlapping statement


def store_statement(
    conn: Connection,
    *,
    statement: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
) -> StoredStatement:
    """Insert one statement file and its lines unless a file with the same sha256 is already stored.

    `statement` carries the bank_statements columns; `lines` the bank_statement_lines columns (with
    their `line_key`). Lines already present under the same key (an overlapping statement) are kept
    as first imported.
    """
    sha = statement["file_sha256"]
    known = conn.execute(select(BankStatement.file_sha256).where(BankStatement.file_sha256 == sha)).first()
    if known is not None:
        return StoredStatement(already_imported=True, new_lines=0)
    upsert(conn, BankStatement, [statement])
    before = _line_count(conn)
    # Updating only the conflict column means "do nothing" on a known key (the first import stands).
    upsert(conn, BankStatementLine, list(lines), conflict_columns=["line_key"], update_columns=["line_key"])
    return StoredStatement(already_imported=False, new_lines=_line_count(conn) - before)


def _line_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(BankStatementLine)).scalar_one())


def coverage_rows(conn: Connection) -> list[tuple[str, date, date]]:
    """(currency, first day, last day) of every imported statement."""
    query = select(BankStatement.currency, BankStatement.period_start, BankStatement.period_end)
    return [(row.currency, row.period_start, row.period_end) for row in conn.execute(query)]


def statement_files(conn: Connection) -> list[dict[str, Any]]:
    """Every imported statement file, newest import first (for the Settlements page)."""
    query = select(BankStatement).order_by(BankStatement.imported_at.desc())
    return [dict(row._mapping) for row in conn.execute(query)]
