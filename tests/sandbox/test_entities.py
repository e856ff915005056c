"""International payments in the base currency, disputes and downtimes, as the sandbox serves them
through the real SDK and its planned webhook deliveries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sandbox import catalogue as cat
from tests.sandbox.test_api import page_all
from tests.support.sandbox import SandboxHandle

STATUSES = {"open", "under_review", "action_required", "won", "lost", "closed"}


def test_international_payments_are_credited_fee_charged_and_settled_in_inr(sandbox: SandboxHandle) -> None:
    payments = {p["id"]: p for p in sandbox.truth("payments")}
    foreign = [p for p in payments.values() if p["currency"] != "INR"]
    assert foreign and all(p["international"] for p in foreign)
    for p in foreign:
        rate = cat.PAISE_PER_100_MINOR[cat.CURRENCIES.index(p["currency"])]
        assert (p["base_amount"], p["base_currency"]) == (p["amount"] * rate // 100, "INR"), p
    assert all("base_amount" not in p for p in payments.values() if p["currency"] == "INR")
    planted = {
        a["ids"]["payment_id"]
        for a in sandbox.manifest()["anomalies"]
        if a["kind"] in ("settlement_line_amount_mismatch", "fee_rate_anomaly")
    }
    lines = sandbox.truth("settlement_lines")
    settled_foreign = 0
    for line in lines:
        assert line["currency"] == "INR"
        paid = payments.get(line["entity_id"])
        if paid is not None and paid["currency"] != "INR" and paid["id"] not in planted:
            p = paid
            settled_foreign += 1
            assert line["amount"] == p["base_amount"] and line["fee"] == p["fee"], (line, p)
            # Razorpay's international card pricing (3–3.5 % + GST), on the base amount.
            assert (
                p["base_amount"] * 300 * 118 // 1_000_000
                <= p["fee"]
                <= p["base_amount"] * 350 * 118 // 1_000_000
            )
    assert settled_foreign
    assert {s["currency"] for s in sandbox.truth("settlements")} == {"INR"}


def test_the_manifest_plants_one_international_fee_anomaly_and_one_line_mismatch(
    sandbox: SandboxHandle,
) -> None:
    international = [a for a in sandbox.manifest()["anomalies"] if a["detail"].get("international")]
    assert sorted(a["kind"] for a in international) == ["fee_rate_anomaly", "settlement_line_amount_mismatch"]
    payments = {p["id"]: p for p in sandbox.truth("payments")}
    for anomaly in international:
        p = payments[anomaly["ids"]["payment_id"]]
        assert p["currency"] == anomaly["detail"]["currency"] != "INR"
        assert p["base_amount"] == anomaly["detail"]["base_amount"]


def test_disputes_page_like_every_list_and_render_every_stage(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    truth = sandbox.truth("disputes")
    assert len(truth) >= 3
    served = page_all(client.dispute.all, {}, 2)
    assert [d["id"] for d in served] == [d["id"] for d in truth]  # newest first, every one once
    first = truth[-1]
    windowed = page_all(client.dispute.all, {"from": first["created_at"], "to": first["created_at"]}, 10)
    assert first["id"] in {d["id"] for d in windowed}
    assert client.dispute.fetch(first["id"]) == first
    payments = {p["id"]: p for p in sandbox.truth("payments")}
    for d in truth:
        assert d["status"] in STATUSES and d["entity"] == "dispute"
        assert d["respond_by"] == d["created_at"] + cat.DISPUTE_RESPOND_DAYS * 86_400
        assert d["amount_deducted"] == (d["amount"] if d["status"] == "lost" else 0)
        payment = payments[d["payment_id"]]
        assert payment["method"] in ("card", "emi") and payment["status"] in ("captured", "refunded")
        assert 0 < d["amount"] <= payment["amount"]


def test_lost_disputes_are_deducted_as_adjustment_lines_that_add_up(sandbox: SandboxHandle) -> None:
    disputes = {d["id"]: d for d in sandbox.truth("disputes")}
    lines = sandbox.truth("settlement_lines")
    adjustments = [line for line in lines if line["type"] == "adjustment"]
    for line in adjustments:
        dispute = disputes[line["dispute_id"]]
        assert dispute["status"] == "lost"
        assert (line["debit"], line["credit"], line["fee"]) == (dispute["amount_deducted"], 0, 0)
        assert line["payment_id"] == dispute["payment_id"] and line["entity_id"].startswith("adj_")
    lines_of: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        lines_of[line["settlement_id"]].append(line)
    planted = {
        a["ids"]["settlement_id"]
        for a in sandbox.manifest()["anomalies"]
        if a["kind"] == "settlement_total_mismatch"
    }
    for s in sandbox.truth("settlements"):
        if s["id"] not in planted:
            own = lines_of[s["id"]]
            assert s["amount"] == sum(x["credit"] for x in own) - sum(x["debit"] for x in own)


def test_dispute_webhooks_carry_the_dispute_and_its_payment(sandbox: SandboxHandle) -> None:
    now = sandbox.state()["now"]
    deliveries = sandbox.webhook_deliveries(since=now - 30 * 86_400)
    disputed = [d for d in deliveries if d["event"].startswith("payment.dispute.")]
    # Every dispute's current status was announced by an event of that name (open: `created`).
    announced = {
        (d["body"]["payload"]["dispute"]["entity"]["id"], d["event"].rsplit(".", 1)[1]) for d in disputed
    }
    for dispute in sandbox.truth("disputes"):
        status = "created" if dispute["status"] == "open" else dispute["status"]
        assert (dispute["id"], status) in announced
        assert (dispute["id"], "created") in announced
    for delivery in disputed:
        body = delivery["body"]
        assert body["contains"] == ["payment", "dispute"]
        dispute = body["payload"]["dispute"]["entity"]
        assert body["payload"]["payment"]["entity"]["id"] == dispute["payment_id"]
        expected = delivery["event"].rsplit(".", 1)[1]
        assert dispute["status"] == ("open" if expected == "created" else expected), delivery
        assert delivery["fault"] is None


def test_downtimes_match_the_dips_planted_in_the_data(sandbox: SandboxHandle) -> None:
    client = sandbox.client()
    planted = {d["id"]: d for d in sandbox.manifest()["downtimes"]}
    assert len(planted) == 3
    served = client.payment.fetchDownTime()["items"]
    assert {d["id"] for d in served} == set(planted)
    payments = {p["id"]: p for p in sandbox.truth("payments")}
    for downtime in served:
        truth = planted[downtime["id"]]
        assert (downtime["method"], downtime["instrument"], downtime["status"]) == (
            truth["method"],
            truth["instrument"],
            "resolved",
        )
        assert (downtime["begin"], downtime["end"], downtime["severity"]) == (
            truth["begin"],
            truth["end"],
            truth["severity"],
        )
        assert client.payment.fetchDownTimeById(downtime["id"]) == downtime
        # The dip: the payments it failed are of its instrument, inside its window, and failed.
        assert truth["failed_by_outage"] == len(truth["payment_ids"]) >= 1
        for payment_id in truth["payment_ids"]:
            p = payments[payment_id]
            assert p["status"] == "failed" and p["method"] == truth["method"]
            assert truth["begin"] <= p["created_at"] < truth["end"]
    now = sandbox.state()["now"]
    events = [
        d
        for d in sandbox.webhook_deliveries(since=now - 30 * 86_400)
        if d["event"].startswith("payment.downtime.")
    ]
    by_id: defaultdict[str, list[str]] = defaultdict(list)
    for delivery in events:
        entity = delivery["body"]["payload"]["payment.downtime"]["entity"]
        by_id[entity["id"]].append(delivery["event"])
    assert {key: sorted(value) for key, value in by_id.items()} == {
        key: ["payment.downtime.resolved", "payment.downtime.started", "payment.downtime.updated"]
        for key in planted
    }
