"""The Razorpay webhook receiver: verified, idempotent, durable intake of events (see docs/webhooks.md)."""
