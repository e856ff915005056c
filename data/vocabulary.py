"""The words payops uses for an entity's status, and their order in its life: one definition that the
webhook receiver (what may overwrite what), the rollups and metrics (what counts as a success) and the
reconciliation rules (what must settle) all share. See docs/metrics.md for the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CAPTURED_STATUSES",
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
}

# A success is a payment that was ever authorized (a refund or capture comes after authorisation).
SUCCESS_STATUSES = ("authorized", "captured", "refunded")
# Captured money: what must reach a settlement (a refunded payment was captured first).
CAPTURED_STATUSES = ("captured", "refunded")
