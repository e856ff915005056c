"""Stored JSON holds no more personal data than the typed columns: over every record the sandbox API
serves (synced) and every webhook it sends (received), no raw document or webhook payload holds card
data beyond network/type/issuer/last4/international, a full VPA, or an email/phone the typed columns
do not also hold."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from data.models import Base, Payment, Quarantine, WebhookEvent
from sync.load import load_files
from sync.normalise import CARD_FIELDS
from sync.webhooks.app import create_app
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import sync_once
from tests.sync.webhooks.events import post

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "razorpay"
_CARD_SECRETS = {"number", "cvv", "expiry_month", "expiry_year", "name", "emi", "token"}


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, f"{path}[]")


def _problems(document: Any, where: str) -> list[str]:
    found = []
    for path, value in _walk(document):
        key = path.rsplit(".", 1)[-1]
        if key == "vpa" and isinstance(value, str) and "@" in value and not value.startswith("***@"):
            found.append(f"{where}{path}: full VPA")
        if path.endswith(".card") and isinstance(value, dict) and set(value) - set(CARD_FIELDS):
            found.append(f"{where}{path}: card fields {sorted(set(value) - set(CARD_FIELDS))}")
        if key in _CARD_SECRETS and ".card." in path + ".":
            found.append(f"{where}{path}: card secret")
    return found


def _stored_problems(engine: Engine) -> tuple[list[str], list[Any]]:
    problems: list[str] = []
    with engine.connect() as conn:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            if "raw" in model.__table__.c and str(model.__table__.c["raw"].type) != "TEXT":
                for row in conn.execute(select(model.__table__)).mappings():
                    problems += _problems(row["raw"], f"{model.__tablename__}:{row.get('id')}")
        for event_id, payload in conn.execute(select(WebhookEvent.event_id, WebhookEvent.payload)).all():
            problems += _problems(payload, f"webhook_events:{event_id}")
        for qid, text in conn.execute(select(Quarantine.id, Quarantine.raw)).all():
            with contextlib.suppress(orjson.JSONDecodeError):  # quarantined because it is not JSON
                problems += _problems(orjson.loads(text), f"quarantine:{qid}")
        payments = list(conn.execute(select(Payment.id, Payment.email, Payment.contact, Payment.raw)).all())
    return problems, payments


def test_every_real_sample_is_stored_without_more_pii_than_the_typed_columns(
    database_url: str, engine: Engine
) -> None:
    """Every sample in tests/fixtures/razorpay/: API records loaded as the sync stores them, webhooks posted."""
    for entity_dir in sorted((FIXTURES / "api").iterdir()):
        load_files(engine, entity_dir.name, sorted(entity_dir.glob("*.json")))
    with TestClient(create_app(database_url, ["whsec_corpus"])) as client:
        for n, sample in enumerate(sorted((FIXTURES / "webhooks").glob("*.json"))):
            response = post(client, sample.read_bytes(), event_id=f"evt_sample_{n}", secret="whsec_corpus")
            assert response.status_code == 200, sample.name
    problems, payments = _stored_problems(engine)
    assert problems == []
    assert len(payments) > 10
    for pid, email, contact, raw in payments:
        assert (raw.get("email") or None, raw.get("contact") or None) == (email, contact), pid


@pytest.mark.slow
def test_no_stored_document_holds_more_pii_than_the_typed_columns(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine
) -> None:
    sandbox = sandbox_factory(seed=5, days=3, payments_per_day=60)
    sync_once(engine, sandbox, database_url)
    now = int(sandbox.state()["now"])
    deliveries = sandbox.webhook_deliveries(since=now - 30 * 86_400)
    assert deliveries
    with TestClient(create_app(database_url, [sandbox.webhook_secret])) as client:
        for delivery in deliveries:
            # The sender stamps created_at at send time; here, the event's own time.
            body = orjson.dumps({**delivery["body"], "created_at": int(delivery["occurred_at"])})
            assert (
                post(client, body, event_id=delivery["event_id"], secret=sandbox.webhook_secret).status_code
                == 200
            )

    problems, payments = _stored_problems(engine)
    assert problems == []
    assert payments
    for pid, email, contact, raw in payments:
        assert (raw.get("email") or None, raw.get("contact") or None) == (email, contact), pid


def test_the_check_sees_card_data_and_full_vpas() -> None:
    raw = {
        "vpa": "asha.rao@okhdfcbank",
        "upi": {"vpa": "***@okhdfcbank"},
        "card": {"network": "Visa", "last4": "1111", "name": "Asha Rao", "number": "4111111111111111"},
    }
    assert _problems(raw, "p") == [
        "p.vpa: full VPA",
        "p.card: card fields ['name', 'number']",
        "p.card.name: card secret",
        "p.card.number: card secret",
    ]
