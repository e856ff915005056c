"""Mismatches as finance reads them: age from the evidence (with the 0–2/3–7/8–30/>30 buckets), cards
and charts that follow the rule filter, evidence in money and IST, and decisions that are never
defaulted and never resolve without a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics import mismatches
from dashboard.format import count, evidence_for_display
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)


def test_age_comes_from_the_evidence_not_from_the_first_sighting() -> None:
    processed = NOW - timedelta(days=26, hours=1)
    evidence = {"refund_id": "rfnd_1", "amount": 5000, "processed_at": processed.isoformat()}
    assert mismatches.evidence_since(evidence) == processed
    assert mismatches.evidence_since({"payments": [{"created_at": processed.isoformat()}]}) == processed
    assert mismatches.evidence_since({"amount": 1}) is None
    assert [mismatches.age_bucket(d) for d in (0.0, 2.9, 3.0, 7.5, 8.0, 30.9, 31.0, 400.0)] == [
        "0–2 days", "0–2 days", "3–7 days", "3–7 days", "8–30 days", "8–30 days", "> 30 days", "> 30 days",
    ]  # fmt: skip


def test_listed_mismatches_are_as_old_as_their_evidence(seeded: Seeded) -> None:
    listed = mismatches.list_mismatches(seeded.engine, now=NOW)
    dated = listed[[mismatches.evidence_since(e) is not None for e in listed["evidence"]]]
    assert not dated.empty
    for row in dated.to_dict("records"):
        since = min(mismatches.evidence_since(row["evidence"]), row["first_seen_at"])
        assert row["age_days"] == round((NOW - since).total_seconds() / 86_400, 2)
        assert row["age_bucket"] == mismatches.age_bucket(row["age_days"])
    timed = [str(e) for e in listed["explanation"] if "IST" in str(e)]
    assert timed, "explanations name their times in IST"
    assert not [e for e in listed["explanation"] if " UTC " in str(e)]


def test_evidence_is_shown_in_money_and_ist() -> None:
    shown = evidence_for_display(
        {
            "refund_id": "rfnd_1",
            "amount": 123456,
            "currency": "INR",
            "processed_at": "2026-11-01T00:00:00+00:00",
        }
    )
    assert shown == {
        "refund id": "rfnd_1",
        "amount": "₹1,234.56",
        "currency": "INR",
        "processed at": "01 Nov 2026, 05:30 IST",
    }


def test_the_rule_filter_changes_the_cards_and_the_charts(app_for: AppFactory, seeded: Seeded) -> None:
    summary = mismatches.mismatch_summary(seeded.engine)
    rules = summary.groupby("rule")["count"].sum()
    assert len(rules) >= 2, "the seed should produce more than one rule"
    with_money = summary[summary["currency"].notna() & (summary["status"] != "resolved")]
    rule = str(with_money["rule"].iloc[0])
    at = app_for(Role.FINANCE, "mismatches", rule=rule)
    assert not at.exception and not at.error, [e.value for e in at.error]
    open_for_rule = int(summary[(summary["rule"] == rule) & (summary["status"] == "open")]["count"].sum())
    assert {m.label: m.value for m in at.metric}["Open"] == count(open_for_rule)
    stake = next(d.value for d in at.dataframe if "at_stake_shown" in d.value.columns)
    assert set(stake["rule"]) == {rule}
    assert at.query_params["rule"] in (rule, [rule])


def test_a_decision_is_never_preselected_and_resolving_needs_a_note(
    app_for: AppFactory, seeded: Seeded
) -> None:
    at = app_for(Role.FINANCE, "mismatches")
    first = mismatches.list_mismatches(seeded.engine, status="open").iloc[0]
    mismatch_id = int(first["id"])
    at.selectbox(key="mismatch_pick").set_value(mismatch_id).run()
    assert at.radio(key="mismatch_decision_choice").value is None
    at.radio(key="mismatch_decision_choice").set_value("acknowledge")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert mismatches.get_mismatch(seeded.engine, mismatch_id)["status"] == "acknowledged"  # type: ignore[index]

    assert at.radio(key="mismatch_decision_choice").value is None  # not "resolve" by default
    at.radio(key="mismatch_decision_choice").set_value("resolve")
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert not at.exception
    assert any("needs a note" in w.value for w in at.warning)
    assert mismatches.get_mismatch(seeded.engine, mismatch_id)["status"] == "acknowledged"  # type: ignore[index]

    at.radio(key="mismatch_decision_choice").set_value("resolve")
    at.text_area(key="mismatch_note").input("Refund debited in setl_2, checked with bank")
    next(b for b in at.button if b.label == "Record decision").click().run()
    after = mismatches.get_mismatch(seeded.engine, mismatch_id)
    assert after is not None and after["status"] == "resolved"
    mismatches.reopen(seeded.engine, mismatch_id, "test-cleanup")
