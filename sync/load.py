"""Backfill from files: Razorpay list responses (`{"entity": "collection", …}`), single entities, JSON arrays
or NDJSON, written through the same normalisers and upsert as the API sync (source = "file")."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sync.entities import EntitySpec, NormaliseContext, entity_spec
from sync.pull import write_rows
from sync.quarantine import quarantine

__all__ = ["LoadResult", "load_files", "records_of"]

_BATCH = 2000


class UnreadableFile(ValueError):
    """The file is not JSON/NDJSON at all (a malformed *record* is quarantined instead)."""


@dataclass
class LoadResult:
    files: int = 0
    records: int = 0
    upserted: int = 0
    quarantined: int = 0
    # Files that were not JSON at all, with the reason: nothing of them was loaded.
    unreadable: list[str] = field(default_factory=list)


def records_of(text: str) -> list[Any]:
    """The records a file holds: a collection's items, one entity, a JSON array, or NDJSON lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        records: list[Any] = []
        for number, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if len(lines) == 1:
                    raise UnreadableFile(f"not JSON: {error.msg} at line 1 column {error.colno}") from error
                # One broken NDJSON line is one malformed record: kept as text, quarantined.
                records.append(_BrokenLine(line, f"line {number} is not JSON: {error.msg}"))
        return records
    if isinstance(document, Mapping) and document.get("entity") == "collection":
        items = document.get("items")
        if not isinstance(items, list):
            raise UnreadableFile("a collection without an items list")
        return items
    if isinstance(document, list):
        return document
    return [document]


@dataclass(frozen=True)
class _BrokenLine:
    text: str
    reason: str


def _batches(records: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(records), _BATCH):
        yield records[start : start + _BATCH]


def load_files(
    engine: Engine, entity: str, paths: list[Path], *, country_notes_key: str = "country"
) -> LoadResult:
    """Load every file; each batch of rows commits in its own transaction. A file that is not JSON at all
    is listed in `unreadable` and the others still load."""
    spec: EntitySpec = entity_spec(entity)
    result = LoadResult()
    for path in paths:
        try:
            records = records_of(path.read_text(encoding="utf-8"))
        except (UnreadableFile, UnicodeDecodeError) as error:
            result.unreadable.append(f"{path}: {error}")
            continue
        result.files += 1
        # The state in an export was true when the file was written.
        ctx = NormaliseContext(
            state_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            source="file",
            country_notes_key=country_notes_key,
        )
        for batch in _batches(records):
            with engine.begin() as conn:
                good: list[Mapping[str, Any]] = []
                for record in batch:
                    result.records += 1
                    if isinstance(record, _BrokenLine):
                        quarantine(
                            conn, entity=spec.name, raw=record.text, reason=record.reason, source="file"
                        )
                        result.quarantined += 1
                    else:
                        good.append(record)
                upserted, quarantined = write_rows(conn, spec, good, ctx, run_id=None)
                result.upserted += upserted
                result.quarantined += quarantined
    return result
