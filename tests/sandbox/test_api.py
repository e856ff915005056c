"""The sandbox's Razorpay API through the real SDK over HTTP: paging, validation, auth, lookups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError

from tests.support.sandbox import SandboxHandle


def page_all(
    fetch: Callable[[dict[str, Any]], dict[str, Any]], params: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    """Razorpay paging: skip += count until a short page."""
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        page = fetch({**params, "count": count, "skip": skip})
        assert page["entity"] == "collection"
        assert page["count"] == len(page["items"])
        items.extend(page["items"])
        if page["count"] < count:
            return items
        skip += count


def test_paging_every_list_to_exhaustion_returns_every_id_once(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    endpoints = {
        "payments": (client.payment.all, "id"),
        "orders": (client.order.all, "id"),
        "refunds": (client.refund.all, "id"),
        "settlements": (client.settlement.all, "id"),
    }
    for entity, (fetch, key) in endpoints.items():
        truth = sandbox.truth(entity)
        assert truth, entity
        items = page_all(fetch, {}, 100)
        ids = [item[key] for item in items]
        assert len(ids) == len(set(ids)), entity
        assert set(ids) == {row[key] for row in truth}, entity
        # Newest first, like Razorpay: (created_at desc, id desc).
        order = [(item["created_at"], item[key]) for item in items]
        assert order == sorted(order, reverse=True), entity


def test_paging_respects_from_to_windows(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    payments = sandbox.truth("payments")
    created = sorted(p["created_at"] for p in payments)
    start, end = created[len(created) // 4], created[len(created) // 2]
    items = page_all(client.payment.all, {"from": start, "to": end, "expand[]": "card"}, 100)
    expected = {p["id"] for p in payments if start <= p["created_at"] <= end}
    assert [i["id"] for i in items if i["id"] in expected] == [i["id"] for i in items]
    assert {i["id"] for i in items} == expected
    assert len(items) == len(expected)
    # Adjacent closed windows partition the set: nothing lost or doubled at the boundary.
    first = page_all(client.payment.all, {"from": start, "to": end - 1}, 100)
    second = page_all(client.payment.all, {"from": end, "to": end + 3600}, 100)
    assert not {i["id"] for i in first} & {i["id"] for i in second}


def test_expand_card_adds_the_card_object(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    plain = page_all(client.payment.all, {}, 100)
    expanded = page_all(client.payment.all, {"expand[]": "card"}, 100)
    card_methods = [p for p in expanded if p["method"] in ("card", "emi")]
    assert card_methods
    assert all(p["card"]["network"] and p["card"]["last4"] for p in card_methods)
    assert all("card" not in p for p in plain)
    international = [p["card"] for p in card_methods if p["international"]]
    assert international and all(card["issuer"] is None for card in international)


def test_settlement_report_pages_every_line_of_the_month(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    lines = sandbox.truth("settlement_lines")
    settlements = {s["id"]: s for s in sandbox.truth("settlements")}
    months = {
        (d.year, d.month)
        for d in (
            datetime.fromtimestamp(s["created_at"], UTC) + timedelta(hours=5, minutes=30)
            for s in settlements.values()
        )
    }
    served: list[dict[str, Any]] = []
    for year, month in sorted(months):
        served += page_all(client.settlement.report, {"year": year, "month": month}, 1000)
    keys = [(line["entity_id"], line["settlement_id"]) for line in served]
    assert len(keys) == len(set(keys))
    assert set(keys) == {(line["entity_id"], line["settlement_id"]) for line in lines}
    # One day's report is the subset of lines settled that IST day.
    some = next(iter(settlements.values()))
    day = datetime.fromtimestamp(some["created_at"], UTC) + timedelta(hours=5, minutes=30)
    daily = page_all(client.settlement.report, {"year": day.year, "month": day.month, "day": day.day}, 50)
    assert some["id"] in {line["settlement_id"] for line in daily}
    assert all(
        (datetime.fromtimestamp(line["settled_at"], UTC) + timedelta(hours=5, minutes=30)).date()
        == day.date()
        for line in daily
    )


@pytest.mark.parametrize(
    ("call", "params", "message"),
    [
        ("payment", {"count": 101}, "The count may not be greater than 100."),
        ("order", {"count": 0}, "The count must be at least 1."),
        ("refund", {"skip": -1}, "The skip must be at least 0."),
        ("payment", {"from": 20, "to": 1_700_000_000}, "The from must be at least 946684800."),
        (
            "payment",
            {"from": 1_700_000_100, "to": 1_700_000_000},
            "The from must be less than or equal to to.",
        ),
        ("settlement", {"count": "ten"}, "The count must be an integer."),
    ],
)
def test_invalid_list_parameters_raise_bad_request(
    sandbox: SandboxHandle, call: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequestError, match=message):
        getattr(sandbox.client(), call).all(params)


def test_recon_count_limit_is_1000_and_year_month_are_required(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    with pytest.raises(BadRequestError, match="may not be greater than 1000"):
        client.settlement.report({"year": 2025, "month": 1, "count": 1001})
    with pytest.raises(BadRequestError, match="year field is required"):
        client.settlement.report({"month": 1})
    assert client.settlement.report({"year": 2001, "month": 1, "count": 1000})["items"] == []


def test_wrong_or_missing_key_fails_with_razorpay_error_body(sandbox: SandboxHandle) -> None:
    wrong = razorpay.Client(auth=(sandbox.key_id, "not-the-secret"), base_url=sandbox.base_url)
    with pytest.raises(BadRequestError, match="The api key provided is invalid"):
        wrong.payment.all({"count": 1})
    response = requests.get(f"{sandbox.base_url}/v1/payments", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    response = requests.get(
        f"{sandbox.base_url}/_sandbox/state", auth=("rzp_test_other", sandbox.key_secret), timeout=10
    )
    assert response.status_code == 401


def test_fetch_by_id_and_unknown_ids(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    payment = sandbox.truth("payments")[17]
    assert client.payment.fetch(payment["id"]) == payment
    order = next(o for o in sandbox.truth("orders") if o["attempts"] >= 2)
    attempts = client.order.payments(order["id"])
    assert attempts["count"] == order["attempts"]
    assert {p["order_id"] for p in attempts["items"]} == {order["id"]}
    settlement = sandbox.truth("settlements")[0]
    assert client.settlement.fetch(settlement["id"]) == settlement
    for fetch, unknown in (
        (client.payment.fetch, "pay_00000000000000"),
        (client.settlement.fetch, "setl_nope"),
    ):
        with pytest.raises(BadRequestError, match="does not exist"):
            fetch(unknown)
    response = requests.get(
        f"{sandbox.base_url}/v1/payments/pay_00000000000000",
        auth=(sandbox.key_id, sandbox.key_secret),
        timeout=10,
    )
    assert response.status_code == 404
