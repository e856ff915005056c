"""Import bank statement files: parse (sync/statements.py), then store lines and quarantine bad ones
(data/bank_statements.py) in one transaction per file. Matching is analytics' job (reconcile)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from data.audit import record_audit
from data.bank_statements import store_statement
from data.settings import Settings
from sync.quarantine import quarantine_many
from sync.statements import (
    CSV_PRESETS,
    CsvLayout,
    ParsedStatement,
    StatementError,
    detect_format,
    line_keys,
    parse_statement,
)

__all__ = ["ImportResult", "csv_layout", "import_statement"]

QUARANTINE_ENTITY = "bank_statement_line"


@dataclass(frozen=True)
class ImportResult:
    file_name: str
    file_sha256: str
    format: str
    lines: int
    new_lines: int
    quarantined: int
    already_imported: bool
    coverage: tuple[str, str] | None

    def summary(self) -> str:
        if self.already_imported:
            return f"{self.file_name}: already imported (sha256 {self.file_sha256[:12]}…), nothing changed"
        span = f", covers {self.coverage[0]} to {self.coverage[1]}" if self.coverage else ""
        return (
            f"{self.file_name}: {self.format}, {self.lines} line(s), {self.new_lines} new, "
            f"{self.quarantined} quarantined{span}"
        )


def csv_layout(settings: Settings, preset: str | None = None) -> CsvLayout:
    """The CSV layout: the preset (else the configured one) with the configured column mapping laid
    over it; preset "custom" takes the mapping alone."""
    name = preset or settings.bank_csv_preset
    overrides: Mapping[str, Any] = settings.bank_csv_columns
    if name == "custom":
        return CsvLayout.from_mapping("custom", overrides)
    if name not in CSV_PRESETS:
        raise StatementError(f"unknown CSV preset {name!r}; choose from {', '.join(CSV_PRESETS)} or custom")
    base = CSV_PRESETS[name]
    if not overrides:
        return base
    fields = {key: getattr(base, key) for key in base.__dataclass_fields__ if key != "name"}
    return CsvLayout.from_mapping(name, {**fields, **overrides})


def import_statement(
    engine: Engine,
    content: bytes,
    *,
    file_name: str,
    settings: Settings,
    fmt: str | None = None,
    preset: str | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> ImportResult:
    """Parse and store one statement file; raises StatementError if the file as a whole is unreadable."""
    now = now or datetime.now(UTC)
    sha = hashlib.sha256(content).hexdigest()
    chosen = fmt or detect_format(content)
    layout = csv_layout(settings, preset) if chosen == "csv" else None
    parsed = parse_statement(content, chosen, layout)
    coverage = parsed.coverage()
    if coverage is None:
        raise StatementError("the statement has no period and no dated line: nothing to import")
    statement_row = {
        "file_sha256": sha,
        "file_name": file_name[:255],
        "format": chosen,
        "preset": parsed.preset,
        "account": parsed.account,
        "currency": parsed.currency,
        "period_start": coverage[0],
        "period_end": coverage[1],
        "line_count": len(parsed.lines),
        "quarantined": len(parsed.bad),
        "imported_at": now,
        "imported_by": actor[:128],
    }
    with engine.begin() as conn:
        stored = store_statement(conn, statement=statement_row, lines=_line_rows(parsed, sha, file_name, now))
        if not stored.already_imported:
            if parsed.bad:
                quarantine_many(
                    conn,
                    entity=QUARANTINE_ENTITY,
                    records=[
                        (f"{file_name} line {bad.line_number}: {bad.raw}", bad.reason) for bad in parsed.bad
                    ],
                    source="file",
                )
            record_audit(
                conn,
                at=now,
                actor=actor,
                action="statement.import",
                target=file_name[:200],
                detail={
                    "file_sha256": sha,
                    "format": chosen,
                    "lines": len(parsed.lines),
                    "new_lines": stored.new_lines,
                    "quarantined": len(parsed.bad),
                    "period": [coverage[0].isoformat(), coverage[1].isoformat()],
                },
            )
    return ImportResult(
        file_name=file_name,
        file_sha256=sha,
        format=chosen,
        lines=len(parsed.lines),
        new_lines=stored.new_lines,
        quarantined=0 if stored.already_imported else len(parsed.bad),
        already_imported=stored.already_imported,
        coverage=(coverage[0].isoformat(), coverage[1].isoformat()),
    )


def _line_rows(parsed: ParsedStatement, sha: str, file_name: str, now: datetime) -> list[dict[str, Any]]:
    keys = line_keys(parsed.account, parsed.lines)
    return [
        {
            "line_key": key,
            "file_sha256": sha,
            "file_name": file_name[:255],
            "line_number": line.line_number,
            "account": parsed.account,
            "value_date": line.value_date,
            "booking_date": line.booking_date,
            "direction": line.direction,
            "amount": line.amount,
            "currency": line.currency,
            "reference": line.reference,
            "narration": line.narration,
            "balance": line.balance,
            "raw": line.raw,
            "imported_at": now,
        }
        for key, line in zip(keys, parsed.lines, strict=True)
    ]
