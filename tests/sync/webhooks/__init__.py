"""Tests of the webhook receiver (sync/webhooks)."""
