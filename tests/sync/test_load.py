"""`python -m sync load`: collection files, single-entity files, and a malformed record quarantined."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from data.models import Order, Payment, Quarantine
from tests.sync.test_normalise import payment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


@pytest.mark.slow
def test_load_collection_and_single_files_quarantines_the_malformed_record(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    good = [payment(id=f"pay_L{i}", amount=1000 + i) for i in range(5)]
    malformed = payment(id="pay_BAD", amount="ten rupees")
    page = tmp_path / "payments-page.json"
    page.write_text(json.dumps(collection([*good[:3], malformed, good[3]])))
    single = tmp_path / "payment.json"
    single.write_text(json.dumps(good[4]))

    result = run_cli(database_url, "load", "--entity", "payments", str(page), str(single))

    assert result.returncode == 0, result.stderr
    assert "loaded 5 payments from 2 file(s); 1 record(s) quarantined" in result.stdout
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Payment.id, Payment.amount)).all())
        sources = set(conn.execute(select(Payment.source)).scalars())
        bad = conn.execute(
            select(Quarantine.entity, Quarantine.entity_id, Quarantine.reason, Quarantine.source)
        ).all()
    assert stored == {f"pay_L{i}": 1000 + i for i in range(5)}
    assert sources == {"file"}
    assert len(bad) == 1
    entity, entity_id, reason, source = bad[0]
    assert (entity, entity_id, source) == ("payments", "pay_BAD", "file")
    assert "amount" in reason

    # Loading the same files again adds nothing, not even a second quarantine row.
    again = run_cli(database_url, "load", "--entity", "payments", str(page), str(single))
    assert again.returncode == 0, again.stderr
    with engine.connect() as conn:
        assert conn.execute(select(Payment.id)).scalars().all().__len__() == 5
        assert len(conn.execute(select(Quarantine.id)).all()) == 1


def test_load_orders_from_ndjson_and_array(database_url: str, engine: Engine, tmp_path: Path) -> None:
    def order(i: int) -> dict[str, Any]:
        return {
            "id": f"order_{i}",
            "entity": "order",
            "amount": 500 * i,
            "amount_paid": 0,
            "amount_due": 500 * i,
            "currency": "INR",
            "receipt": f"r{i}",
            "status": "created",
            "attempts": 0,
            "notes": [],
            "created_at": 1761998400 + i,
        }

    ndjson = tmp_path / "orders.ndjson"
    ndjson.write_text("\n".join(json.dumps(order(i)) for i in range(1, 4)) + "\n{broken\n")
    array = tmp_path / "orders.json"
    array.write_text(json.dumps([order(4), order(5)]))
    result = run_cli(database_url, "load", "--entity", "orders", str(ndjson), str(array))
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        amounts = dict(conn.execute(select(Order.id, Order.amount)).all())
        reasons = conn.execute(select(Quarantine.reason)).scalars().all()
    assert amounts == {f"order_{i}": 500 * i for i in range(1, 6)}
    assert len(reasons) == 1 and "line 4 is not JSON" in reasons[0]


@pytest.mark.slow
def test_load_rejects_bad_input_with_one_line(database_url: str, tmp_path: Path) -> None:
    wrong_entity = run_cli(database_url, "load", "--entity", "customers", str(tmp_path / "x.json"))
    assert wrong_entity.returncode == 2
    assert "unknown entity 'customers'" in wrong_entity.stderr
    missing = run_cli(database_url, "load", "--entity", "orders", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    not_json = tmp_path / "garbage.json"
    not_json.write_text("<html>502 Bad Gateway</html>")
    unreadable = run_cli(database_url, "load", "--entity", "orders", str(not_json))
    assert unreadable.returncode == 1
    assert "1 file(s) not loaded" in unreadable.stderr and "not JSON" in unreadable.stderr
