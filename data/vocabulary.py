"""The words payops uses for an entity's status, and their order in its life: one definition that the
webhook receiver (what may overwrite what), the rollups and metrics (what counts as a success) and the
reconciliation rules (what must settle) all share. See docs/metrics.md for the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CAPTURED_STATUSES",
    "DISPUTE_NEEDS_RESPONSE",
    "DISPUTE_OPEN_STATUSES",
    "PAYMENT_STATUSES",
    "PAYMENT_STATUS_RANK",
    "STATUS_RANK",
    "SUCCESS_STATUSES",
]

# Razorpay's payment statuses, in the order of a payment's life.
PAYMENT_STATUSES = ("created", "authorized", "captured", "refunded", "failed")

# A status may only move to one of equal or higher rank. Payments: failed ranks below authorized so a
# late authorisation applies; captured above authorized so a late payment.authorized cannot undo a
# capture; refunded is the top, so it stays. Terminal outcomes share a rank (neither undoes the other).
PAYMENT_STATUS_RANK: Mapping[str, int] = {
    "created": 0,
    "failed": 1,
    "authorized": 2,
    "captured": 3,
    "refunded": 4,
}
STATUS_RANK: Mapping[str, Mapping[str, int]] = {
    "payment": PAYMENT_STATUS_RANK,
    "order": {"created": 0, "attempted": 1, "paid": 2},
    "refund": {"created": 0, "pending": 0, "processed": 1, "failed": 1},
    "settlement": {"created": 0, "processed": 1, "failed": 1},
    # Evidence asked for again (action_required) and evidence under review alternate: same rank, the
    # newer snapshot wins. An outcome is final.
    "dispute": {"open": 0, "action_required": 1, "under_review": 1, "won": 2, "lost": 2, "closed": 2},
    # An update keeps status "started" (severity changes): the newer snapshot wins.
    "downtime": {"scheduled": 0, "started": 1, "resolved": 2},
}

# A success is a payment that was ever authorized (a refund or capture comes after authorisation).
SUCCESS_STATUSES = ("authorized", "captured", "refunded")
# Captured money: what must reach a settlement (a refunded payment was captured first).
CAPTURED_STATUSES = ("captured", "refunded")

# A dispute not yet won, lost or closed; it needs the merchant's response while open or action_required
# (under review, the bank has the evidence).
DISPUTE_OPEN_STATUSES = ("open", "action_required", "under_review")
DISPUTE_NEEDS_RESPONSE = ("open", "action_required")
