"""One malformed API record never stops an entity's sync: whatever fails to normalise or to store is
quarantined with its reason and the rest commits. Both databases; through `write_rows`, `load_files`
and a whole `run_sync` against a loopback API serving a hostile page."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from data.models import Payment, Quarantine, SyncCheckpoint
from data.settings import Settings
from sync.entities import NormaliseContext, entity_spec
from sync.http import make_client
from sync.load import load_files
from sync.pull import SyncOptions, run_sync, write_rows
from sync.quarantine import quarantine_text
from tests.sync.test_normalise import payment

T0 = 1_795_000_000
CTX = NormaliseContext(state_at=datetime.fromtimestamp(T0 + 3600, UTC), source="api")

# Records that used to raise outside the quarantine path, or be stored although they are wrong.
HOSTILE: list[tuple[str, Any, str]] = [
    ("superscript digit amount", payment(id="pay_H1", amount="\u00b2"), "amount"),
    ("arabic-indic digit amount", payment(id="pay_H2", amount="\u0661\u0662"), "amount"),
    ("amount beyond 64 bits", payment(id="pay_H3", amount=2**64), "amount"),
    ("amount beyond int64", payment(id="pay_H4", amount=2**63), "amount"),
    ("negative amount", payment(id="pay_H5", amount=-100), "amount"),
    ("id wider than its column", payment(id="pay_" + "X" * 60), "id"),
    ("status wider than its column", payment(id="pay_H7", status="captured" * 5), "status"),
    ("created_at beyond datetime", payment(id="pay_H8", created_at=10**15), "created_at"),
    ("another entity", {**payment(id="rfnd_H9"), "entity": "refund"}, "entity"),
    ("a list", [1, 2], "not a JSON object"),
    ("a number", 7, "not a JSON object"),
    ("null", None, "not a JSON object"),
]


def good(n: int) -> dict[str, Any]:
    return payment(id=f"pay_G{n}", amount=1000 + n, created_at=T0 + n)


@pytest.mark.parametrize(("case", "record", "word"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_a_hostile_record_is_quarantined_and_the_batch_commits(
    engine: Engine, case: str, record: Any, word: str
) -> None:
    batch = [good(1), record, good(2)]
    with engine.begin() as conn:
        upserted, quarantined = write_rows(conn, entity_spec("payments"), batch, CTX, run_id=None)
    assert (upserted, quarantined) == (2, 1), case
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Payment.id)).scalars()) == ["pay_G1", "pay_G2"]
        [reason] = conn.execute(select(Quarantine.reason)).scalars().all()
    assert word in reason


def test_rows_the_database_refuses_are_found_by_bisection_and_quarantined(engine: Engine) -> None:
    """A row the normaliser let through but the database refuses (here a 2^63 amount, past BigInteger on
    both databases) costs only itself: the other rows of the batch are stored in the same transaction."""
    spec = entity_spec("payments")
    normalise = spec.normalise

    def permissive(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
        row = normalise({**api, "amount": 1}, ctx)
        row["amount"] = api["amount"]  # what a lax normaliser would hand the database
        return row

    lax = replace(spec, normalise=permissive)
    batch = [good(n) for n in range(10)]
    batch[3]["amount"] = 2**63
    batch[7]["amount"] = 2**63 + 7
    with engine.begin() as conn:
        upserted, quarantined = write_rows(conn, lax, batch, CTX, run_id=None)
    assert (upserted, quarantined) == (8, 2)
    with engine.connect() as conn:
        stored = sorted(conn.execute(select(Payment.id)).scalars())
        refused = conn.execute(select(Quarantine.entity_id, Quarantine.reason)).all()
    assert stored == sorted(f"pay_G{n}" for n in range(10) if n not in (3, 7))
    assert sorted(str(entity_id) for entity_id, _ in refused) == ["pay_G3", "pay_G7"]
    assert all(reason.startswith("database refused the row") for _, reason in refused)


def test_a_refused_row_inside_a_window_that_later_rolls_back_leaves_nothing(engine: Engine) -> None:
    """The bisection's savepoints stay inside the caller's transaction (on SQLite too): a window that
    fails after them commits nothing."""
    with pytest.raises(RuntimeError), engine.begin() as conn:
        write_rows(conn, entity_spec("payments"), [good(1)], CTX, run_id=None)
        raise RuntimeError("the window fails after its rows were written")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Payment)).scalar_one() == 0


def test_orders_expanded_payments_are_loaded_and_other_nested_entities_quarantined(engine: Engine) -> None:
    order = {
        "id": "order_E1",
        "entity": "order",
        "amount": 5000,
        "amount_paid": 5000,
        "currency": "INR",
        "status": "paid",
        "attempts": 1,
        "created_at": T0,
        "payments": {"entity": "collection", "count": 1, "items": [good(1)]},
        "transfers": {"entity": "collection", "count": 1, "items": [{"id": "trf_1", "entity": "transfer"}]},
    }
    with engine.begin() as conn:
        upserted, quarantined = write_rows(conn, entity_spec("orders"), [order], CTX, run_id=None)
    assert (upserted, quarantined) == (2, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Payment.id, Payment.amount)).one() == ("pay_G1", 1001)
        kept = conn.execute(select(Quarantine.entity, Quarantine.entity_id, Quarantine.reason)).one()
    assert kept[:2] == ("orders", "trf_1") and "transfers" in kept[2]


# --- property: any record mix, through the file loader ------------------------------------------------

JUNK = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80)
FIELDS = sorted(payment())


@st.composite
def record_mixes(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = []
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["good", "good", "mutated", "hostile", "junk"]))
        if kind == "good":
            records.append(good(n))
        elif kind == "hostile":
            records.append(draw(st.sampled_from([record for _, record, _ in HOSTILE])))
        elif kind == "junk":
            records.append(draw(JUNK | st.lists(JUNK, max_size=3)))
        else:
            record = good(n)
            for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)):
                record[field] = draw(JUNK)
            records.append(record)
    return records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=record_mixes())
def test_any_record_mix_loads_every_good_record_and_keeps_every_bad_one(
    engine: Engine, tmp_path: Path, records: list[Any]
) -> None:
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"entity": "collection", "count": len(records), "items": records}))
    result = load_files(engine, "payments", [path])
    assert result.unreadable == []
    assert result.records == len(records)
    with engine.connect() as conn:
        stored = set(conn.execute(select(Payment.id)).scalars())
        kept = set(conn.execute(select(Quarantine.raw)).scalars())
    # Every untouched good record is stored; every record that is no object is kept with its reason.
    untouched = {f"pay_G{n}" for n in range(len(records)) if good(n) in records}
    assert untouched <= stored
    for record in records:
        if not isinstance(record, dict):
            assert quarantine_text("payments", record) in kept


# --- a whole sync run against a loopback API serving a hostile page -------------------------------


class _HostileApi(BaseHTTPRequestHandler):
    """GET /v1/payments: the records whose created_at is in [from, to], plus the non-object items on
    every page (they have no created_at to filter on)."""

    records: ClassVar[list[Any]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        start, stop = int(query["from"][0]), int(query["to"][0])
        skip = int(query.get("skip", ["0"])[0])
        items = [
            r
            for r in self.records
            if not isinstance(r, dict)
            or not isinstance(r.get("created_at"), int)
            or start <= r["created_at"] < stop
        ][skip : skip + int(query.get("count", ["100"])[0])]
        body = json.dumps({"entity": "collection", "count": len(items), "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hostile_api() -> Iterator[str]:
    hostile = copy.deepcopy([record for _, record, _ in HOSTILE])
    for n, record in enumerate(hostile):
        if isinstance(record, dict):
            # Inside the synced range; pay_H8's unusable time is a string here, so every page carries it.
            record["created_at"] = "1e15" if record["id"] == "pay_H8" else T0 + 100 + n
    _HostileApi.records = [good(n) for n in range(5)] + hostile
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_sync_run_over_a_hostile_page_succeeds_and_moves_the_checkpoint(
    engine: Engine, database_url: str, hostile_api: str
) -> None:
    client = make_client(
        Settings(
            database_url=database_url,
            razorpay_base_url=hostile_api,
            razorpay_key_id="rzp_test_x",
            razorpay_key_secret=SecretStr("x"),
        )
    )
    options = SyncOptions(
        entities=["payments"],
        since=datetime.fromtimestamp(T0 - 3600, UTC),
        until=datetime.fromtimestamp(T0 + 7200, UTC),
        safety_lag=timedelta(minutes=2),
    )
    for _ in range(2):  # the next run meets the same records again and still succeeds
        result = run_sync(engine, client, options)
        assert result.status == "succeeded"
    with engine.connect() as conn:
        stored = set(conn.execute(select(Payment.id)).scalars())
        checkpoint = conn.execute(select(SyncCheckpoint.synced_until)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(Quarantine)).scalar_one()
    assert stored == {f"pay_G{n}" for n in range(5)}
    assert checkpoint == datetime.fromtimestamp(T0 + 7200, UTC) - timedelta(minutes=2)
    assert quarantined == len(HOSTILE)
