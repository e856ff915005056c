"""Every real Razorpay sample in tests/fixtures/razorpay, through payops' real entry points.

API samples (`api/<entity>/*.json`) go through `python -m sync load --entity <entity>` (the Typer app
itself); webhook samples (`webhooks/*.json`) are posted, signed, to the receiver app. On SQLite and
PostgreSQL, the stored values are compared field by field with what Razorpay's documentation says each
field means (tests/conformance/expected.py). A new file in the folder is a new test case.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from data.models import Dispute, Downtime, Order, Payment, Quarantine, Refund, Settlement, SettlementLine
from data.settings import get_settings
from sync.cli import app as sync_cli
from tests.conformance.expected import (
    KEY,
    Expectation,
    expect_api_file,
)

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "razorpay"
API_SAMPLES = sorted((CORPUS / "api").glob("*/*.json"))
WEBHOOK_SAMPLES = sorted((CORPUS / "webhooks").glob("*.json"))
MODELS: dict[str, Any] = {
    "payments": Payment,
    "orders": Order,
    "refunds": Refund,
    "settlements": Settlement,
    "settlement_lines": SettlementLine,
    "disputes": Dispute,
    "downtimes": Downtime,
}
SECRET = "whsec_corpus"


def sample_id(path: Path) -> str:
    return str(path.relative_to(CORPUS))


MINIMUM_REAL_SAMPLES = 100
SOURCE_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<kind>real|composed) \| (?P<source>.+) \|$")


def sources_table() -> dict[str, tuple[str, str]]:
    """file → (kind, source), from the table in SOURCES.md."""
    rows: dict[str, tuple[str, str]] = {}
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        match = SOURCE_ROW.match(line)
        if match is not None:
            assert match["file"] not in rows, f"{match['file']} is listed twice"
            rows[match["file"]] = (match["kind"], match["source"])
    return rows


def _canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True)


def distinct_real_samples(rows: dict[str, tuple[str, str]]) -> set[str]:
    """The real samples as distinct documents: the same JSON in two folders (a payment loaded as an
    order) counts once, and so does a record that is also here inside a real collection."""
    documents = {
        _canonical(json.loads((CORPUS / name).read_text(encoding="utf-8")))
        for name, (kind, _) in rows.items()
        if kind == "real"
    }
    inside_collections = {
        _canonical(item)
        for document in map(json.loads, documents)
        if isinstance(document, dict) and document.get("entity") == "collection"
        for item in document.get("items") or []
    }
    return documents - inside_collections


def test_every_sample_is_named_in_sources_as_real_or_composed() -> None:
    rows = sources_table()
    on_disk = {sample_id(path) for path in API_SAMPLES + WEBHOOK_SAMPLES}
    assert sorted(on_disk - rows.keys()) == []  # every file says where it came from
    assert sorted(rows.keys() - on_disk) == []  # and every row names a file that is here
    for name, (kind, source) in rows.items():
        # A composed sample says so in its source, and a real one names a repository or a docs page.
        assert (kind == "composed") is source.startswith("composed"), name
        if kind == "real":
            assert "razorpay/" in source or "https://razorpay.com/docs/" in source, name


def test_the_corpus_holds_at_least_100_distinct_real_samples() -> None:
    assert len(distinct_real_samples(sources_table())) >= MINIMUM_REAL_SAMPLES


def _stored(engine: Engine, table: str, key: Any, columns: list[str]) -> dict[str, Any] | None:
    model = MODELS[table].__table__
    key_column = model.c[KEY.get(table, "id")]
    with engine.connect() as conn:
        row = conn.execute(select(*(model.c[c] for c in columns)).where(key_column == key)).first()
    return None if row is None else dict(zip(columns, row, strict=True))


def assert_expectation(engine: Engine, expectation: Expectation, *, source: str) -> None:
    for table, rows in expectation.rows.items():
        for key, values in rows.items():
            stored = _stored(engine, table, key, [*values, "source"])
            assert stored is not None, f"{table} {key} was not stored"
            assert stored.pop("source") == source
            differing = {c: (stored[c], v) for c, v in values.items() if stored[c] != v}
            assert differing == {}, f"{table} {key}: (stored, documented) differ"
    with engine.connect() as conn:
        kept = conn.execute(select(Quarantine.entity, Quarantine.entity_id, Quarantine.reason)).all()
    for entity, entity_id, word in expectation.quarantined:
        matching = [r for r in kept if r[0] == entity and (entity_id is None or r[1] == entity_id)]
        assert matching, f"{entity} {entity_id} was not quarantined (kept: {kept})"
        assert any(word in reason for _, _, reason in matching), (word, matching)
    assert len(kept) == len(expectation.quarantined), kept


@pytest.mark.parametrize("sample", API_SAMPLES, ids=sample_id)
def test_api_sample_loads_as_documented(
    sample: Path, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = sample.parent.name
    document = json.loads(sample.read_text(encoding="utf-8"))
    expectation = expect_api_file(table, document)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(sync_cli, ["load", "--entity", table, str(sample)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    upserted = sum(len(rows) for rows in expectation.rows.values())
    assert (
        f"loaded {upserted} {table} from 1 file(s); {len(expectation.quarantined)} record(s)" in result.output
    )
    assert_expectation(engine, expectation, source="file")
