"""Fault injection happens at roughly the configured rates (on /v1 only), and moving time creates new
payments and changes old ones."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import requests

from tests.support.sandbox import SandboxHandle

REQUESTS = 400


def within(observed: int, rate: float, n: int) -> bool:
    """Generous binomial bound: mean ± 5 standard deviations (+2 for tiny rates)."""
    mean = rate * n
    spread = 5 * math.sqrt(n * rate * (1 - rate)) + 2
    return mean - spread <= observed <= mean + spread


def classify(response: requests.Response) -> str:
    if response.status_code == 200:
        return "ok"
    if response.status_code == 429:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"
        return "429"
    if response.headers.get("Content-Type", "").startswith("text/html"):
        assert response.status_code == 502 and b"<html>" in response.content
        return "nonjson"
    assert response.status_code in (500, 502, 503, 504)
    assert response.json()["error"]["code"] == "SERVER_ERROR"
    return "5xx"


@pytest.mark.slow
def test_faults_happen_at_roughly_the_configured_rates(sandbox_factory: Any) -> None:
    rates = {
        "fault_5xx": 0.1,
        "fault_429": 0.1,
        "fault_drop": 0.05,
        "fault_nonjson": 0.05,
        "fault_slow": 0.05,
    }
    handle: SandboxHandle = sandbox_factory(days=1, payments_per_day=200, slow_seconds=0.05, **rates)
    outcomes: Counter[str] = Counter()
    for _ in range(REQUESTS):
        try:
            # A fresh connection each time: a dropped one must not poison the next request.
            response = requests.get(
                f"{handle.base_url}/v1/payments",
                params={"count": 2},
                auth=(handle.key_id, handle.key_secret),
                timeout=30,
                headers={"Connection": "close"},
            )
        except requests.ConnectionError:
            outcomes["drop"] += 1
            continue
        outcomes[classify(response)] += 1
    # Draws are sequential (drop, 5xx, non-JSON, 429), so later faults see what earlier ones left.
    left = 1.0
    for name, key in (
        ("drop", "fault_drop"),
        ("5xx", "fault_5xx"),
        ("nonjson", "fault_nonjson"),
        ("429", "fault_429"),
    ):
        assert within(outcomes[name], left * rates[key], REQUESTS), (name, outcomes)
        left *= 1 - rates[key]
    state = handle.state()
    assert state["fault_counts"]["requests"] == REQUESTS
    assert within(state["fault_counts"].get("slow", 0), left * rates["fault_slow"], REQUESTS)
    for name in ("drop", "5xx", "nonjson", "429"):
        assert state["fault_counts"].get(name, 0) == outcomes[name]


def test_admin_routes_never_fail_and_faults_change_at_run_time(sandbox_factory: Any) -> None:
    handle: SandboxHandle = sandbox_factory(days=1, payments_per_day=200, fault_5xx=1.0)
    for _ in range(20):
        assert handle.state()["seed"] == 7
    response = requests.get(
        f"{handle.base_url}/v1/payments", auth=(handle.key_id, handle.key_secret), timeout=10
    )
    assert response.status_code in (500, 502, 503, 504)
    assert handle.set_faults(fault_429=1.0)["fault_5xx"] == 0.0
    response = requests.get(
        f"{handle.base_url}/v1/payments", auth=(handle.key_id, handle.key_secret), timeout=10
    )
    assert response.status_code == 429
    handle.set_faults()
    assert handle.client().payment.all({"count": 3})["count"] == 3
    with pytest.raises(Exception, match="400"):
        handle.set_faults(fault_5xx=3.0)


def test_advance_creates_new_payments_and_changes_statuses(sandbox_factory: Any) -> None:
    handle: SandboxHandle = sandbox_factory(days=2, payments_per_day=400)
    conflicts = {
        a["detail"]["event_id"]: a["ids"]["payment_id"]
        for a in handle.manifest()["anomalies"]
        if a["kind"] == "webhook_status_conflict"
    }
    assert conflicts
    client = handle.client()
    before = {p["id"]: p for p in handle.truth("payments")}
    refunds_before = {r["id"]: r for r in handle.truth("refunds")}
    orders_before = {o["id"]: o for o in handle.truth("orders")}
    old_now = handle.state()["now"]
    result = handle.advance(3 * 24 * 60)  # beyond the pre-generated horizon: exercises a merge
    assert result["now"] == old_now + 3 * 86_400 == handle.state()["now"]
    after = {p["id"]: p for p in handle.truth("payments")}
    new_ids = set(result["new"]["payments"])
    assert new_ids and new_ids == set(after) - set(before)
    assert all(old_now < after[i]["created_at"] <= result["now"] for i in new_ids)
    changed = set(result["changed"]["payments"])
    assert changed and changed <= set(before)
    really_changed = {i for i in before if before[i] != after[i]}
    assert really_changed == changed
    # Every change falls inside a 3-day look-back from the old clock (what an incremental sync re-reads).
    assert all(before[i]["created_at"] >= old_now - 3 * 86_400 for i in changed)
    refunds_after = {r["id"]: r for r in handle.truth("refunds")}
    changed_refunds = {i for i in refunds_before if refunds_before[i] != refunds_after[i]}
    assert changed_refunds == set(result["changed"]["refunds"])
    assert all(refunds_before[i]["created_at"] >= old_now - 3 * 86_400 for i in changed_refunds)
    transitions = Counter((before[i]["status"], after[i]["status"]) for i in changed)
    assert transitions[("authorized", "captured")] > 0
    # Forward only, as webhook receivers expect.
    rank = {"created": 0, "failed": 1, "authorized": 2, "captured": 3, "refunded": 4}
    assert all(rank[after] >= rank[before] for before, after in transitions)
    assert all(after[i]["amount_refunded"] >= before[i]["amount_refunded"] for i in changed)
    orders_after = {o["id"]: o for o in handle.truth("orders")}
    changed_orders = {i for i in orders_before if orders_before[i] != orders_after[i]}
    assert changed_orders == set(result["changed"]["orders"])
    assert set(result["new"]["orders"]) == set(orders_after) - set(orders_before)
    # Planted webhook events still point at their payments after the timeline was extended and re-sorted.
    deliveries = {d["event_id"]: d for d in handle.webhook_deliveries(since=old_now - 2 * 86_400)}
    for event_id, payment_id in conflicts.items():
        assert deliveries[event_id]["body"]["payload"]["payment"]["entity"]["id"] == payment_id
    # New refunds and settlements appear too; the API agrees with the truth.
    assert set(result["new"]["refunds"]) == {r["id"] for r in handle.truth("refunds")} - set(refunds_before)
    assert result["new"]["settlements"]
    newest = client.payment.all({"count": 100, "from": old_now + 1})
    assert {p["id"] for p in newest["items"]} <= new_ids
    assert new_ids & {p["id"] for p in newest["items"]}
