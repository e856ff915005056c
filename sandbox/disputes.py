"""Disputes on captured card payments: open → (under review → action required → under review) →
won / lost / closed, with respond-by deadlines; a lost one is deducted in a settlement (an
`adjustment` recon line). Disputes are no anomaly: every rule must stay quiet about them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox import catalogue as cat
from sandbox.generator import DAY, HOUR, INR, LOST, Dataset, _choice, _rng
from sandbox.tables import NEVER, Disputes, random_ids

_WON, _CLOSED = cat.DISPUTE_OUTCOMES.index("won"), cat.DISPUTE_OUTCOMES.index("closed")


def generate_disputes(ds: Dataset) -> Disputes:
    """Disputes for about DISPUTE_RATE of the clean captured INR card payments of the history."""
    rng = _rng(ds.config.seed, 6)
    p = ds.payments
    card = (p.method == cat.M_CARD) | (p.method == cat.M_EMI)
    eligible = np.flatnonzero(
        card
        & (p.captured != NEVER)
        & ~p.planted
        & (p.currency == INR)
        & (p.refund == NEVER)
        & (p.captured >= ds.start)
        # Raised within five days of the capture, so every dispute is already open at `now`.
        & (p.captured <= ds.now - 6 * DAY)
    )
    chosen = eligible[rng.random(len(eligible)) < cat.DISPUTE_RATE]
    if len(chosen) < 3:
        # Even a small history shows a few (so every dispute path is exercised in tests and the demo).
        chosen = np.union1d(chosen, eligible[:: max(1, len(eligible) // 3)][:3])
    n = len(chosen)
    created = p.captured[chosen] + rng.integers(6 * HOUR, 5 * DAY, size=n)
    phase = _choice(rng, cat.DISPUTE_PHASE_WEIGHTS, n)
    contested = rng.random(n) < 0.7
    reviewed = np.where(contested, created + rng.integers(HOUR, 4 * DAY, size=n), NEVER)
    asked = contested & (rng.random(n) < 0.25)
    action_required = np.where(asked, reviewed + rng.integers(DAY, 3 * DAY, size=n), NEVER)
    reviewed_again = np.where(asked, action_required + rng.integers(HOUR, DAY, size=n), NEVER)
    last_review = np.where(asked, reviewed_again, reviewed)
    # An accepted (uncontested) dispute is lost within days; a contested one is decided weeks later.
    resolved = np.where(
        contested,
        last_review + rng.integers(5 * DAY, 25 * DAY, size=n),
        created + rng.integers(DAY, 3 * DAY, size=n),
    )
    draw = rng.random(n)
    outcome = np.where(
        contested, np.where(draw < 0.55, _WON, np.where(draw < 0.9, LOST, _CLOSED)), LOST
    ).astype(np.int16)
    # Retrievals ask for information: they close rather than being won or lost.
    outcome = np.where(phase == cat.DISPUTE_PHASES.index("retrieval"), _CLOSED, outcome).astype(np.int16)
    partial = rng.random(n) < 0.2
    amount = np.where(partial, np.maximum(100, p.amount[chosen] // 2), p.amount[chosen])
    disputes = Disputes(
        id=random_ids(rng, n),
        payment=chosen.astype(np.int64),
        created=created,
        respond_by=created + cat.DISPUTE_RESPOND_DAYS * DAY,
        reviewed=reviewed,
        action_required=action_required,
        reviewed_again=reviewed_again,
        resolved=resolved,
        outcome=outcome,
        amount=amount,
        phase=phase,
        reason=_choice(rng, cat.DISPUTE_REASON_WEIGHTS, n),
    )
    return disputes.take(np.lexsort((disputes.id, disputes.created)))


def status(disputes: Disputes, k: int, at: int) -> str:
    """The dispute's status at `at`: the last stage reached by then."""
    if disputes.resolved[k] != NEVER and at >= disputes.resolved[k]:
        return cat.DISPUTE_OUTCOMES[int(disputes.outcome[k])]
    if disputes.reviewed_again[k] != NEVER and at >= disputes.reviewed_again[k]:
        return "under_review"
    if disputes.action_required[k] != NEVER and at >= disputes.action_required[k]:
        return "action_required"
    if disputes.reviewed[k] != NEVER and at >= disputes.reviewed[k]:
        return "under_review"
    return "open"


def render(ds: Dataset, k: int, at: int) -> dict[str, Any]:
    """The dispute entity as Razorpay's API returns it, at time `at`."""
    d = ds.disputes
    state = status(d, k, at)
    amount = int(d.amount[k])
    reason_code, reason_description = cat.DISPUTE_REASONS[int(d.reason[k])]
    submitted = int(d.reviewed[k]) if d.reviewed[k] != NEVER and at >= d.reviewed[k] else None
    return {
        "id": "disp_" + d.id[k].decode(),
        "entity": "dispute",
        "payment_id": "pay_" + ds.payments.id[int(d.payment[k])].decode(),
        "amount": amount,
        "currency": cat.BASE_CURRENCY,
        "amount_deducted": amount if state == "lost" else 0,
        "reason_code": reason_code,
        "reason_description": reason_description,
        "respond_by": int(d.respond_by[k]),
        "status": state,
        "phase": cat.DISPUTE_PHASES[int(d.phase[k])],
        "created_at": int(d.created[k]),
        "evidence": {
            "amount": amount,
            "summary": "Goods delivered; proof of delivery attached." if submitted else None,
            "shipping_proof": None,
            "billing_proof": None,
            "cancellation_proof": None,
            "customer_communication": None,
            "proof_of_service": None,
            "explanation_letter": None,
            "refund_confirmation": None,
            "access_activity_log": None,
            "refund_cancellation_policy": None,
            "term_and_conditions": None,
            "others": None,
            "submitted_at": submitted,
        },
    }
