"""Database errors never carry bound values into logs: engines hide parameters, and `describe_error`
keeps only the error class and the constraint."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from data.errors import describe_error
from data.models import AuditLog
from sync.webhooks.app import create_app
from tests.sync.webhooks.events import SECRET, T0, envelope, payment, post

EMAIL = "leak.me@example.com"


def _duplicate_audit_row(engine: Engine) -> IntegrityError:
    row = {
        "id": 7,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor": EMAIL,
        "action": "export",
        "target": "+919876543210",
        "detail": {},
    }
    with engine.begin() as conn:
        conn.execute(insert(AuditLog), [row])
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(AuditLog), [row])
    return caught.value


def test_engine_errors_hide_bound_parameters(engine: Engine) -> None:
    error = _duplicate_audit_row(engine)
    assert EMAIL not in str(error)
    assert "+919876543210" not in str(error)
    assert "parameters hidden" in str(error)


def test_described_error_is_class_and_constraint_only(engine: Engine) -> None:
    error = _duplicate_audit_row(engine)
    described = describe_error(error)
    if engine.dialect.name == "postgresql":
        # PostgreSQL's own message quotes the key: `DETAIL: Key (id)=(7) already exists`.
        assert "(id)=(7)" in str(error.orig)
        assert described == "IntegrityError/UniqueViolation (constraint pk_audit_log)"
    else:
        assert described == "IntegrityError/IntegrityError (constraint audit_log.id)"
    assert EMAIL not in described


def test_other_errors_are_named_by_class() -> None:
    assert describe_error(OverflowError("Python int too large: 99999999999999999999")) == "OverflowError"


def test_receiver_log_of_a_refused_event_holds_no_pii(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = envelope("payment.captured", T0, payment=payment(pid="pay_" + "x" * 60, email=EMAIL))
    with caplog.at_level(logging.DEBUG), TestClient(create_app(database_url, [SECRET])) as client:
        assert post(client, body, event_id="evt_pii").status_code == 200
    logged = caplog.text
    assert EMAIL not in logged and "+919876543210" not in logged and "someone@okhdfcbank" not in logged
