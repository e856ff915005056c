"""Prometheus metrics of one receiver app, in a registry of its own (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from sync.webhooks.apply import KNOWN_EVENT_TYPES

# An unverified body chooses its own "event" text; only known types become label values.
OTHER_EVENT_TYPE = "other"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)


def event_type_label(event_type: str | None) -> str:
    return event_type if event_type in KNOWN_EVENT_TYPES else OTHER_EVENT_TYPE


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "payops_webhook_events_accepted",
            "Verified events stored for the first time, by event type.",
            ["event_type"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "payops_webhook_events_duplicate",
            "Repeat deliveries of an event already stored (answered 200, only delivery_count changes).",
            ["event_type"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "payops_webhook_events_rejected",
            "Deliveries answered 4xx and recorded in webhook_rejections, by reason and claimed event type.",
            ["reason", "event_type"],
            registry=self.registry,
        )
        self.apply_errors = Counter(
            "payops_webhook_apply_errors",
            "Stored events of a known type whose entities could not all be applied (records quarantined);"
            " events of other types, stored without applying by design, are not counted.",
            ["event_type"],
            registry=self.registry,
        )
        self.conflicts = Counter(
            "payops_webhook_event_conflicts",
            "Validly signed deliveries reusing a stored event id with a different body (kept on the event).",
            ["event_type"],
            registry=self.registry,
        )
        self.interpreted = Counter(
            "payops_webhook_events_interpreted",
            "Newly stored events whose body was not as documented (see webhook_events.interpretation).",
            ["event_type"],
            registry=self.registry,
        )
        self.failures = Counter(
            "payops_webhook_failures",
            "Deliveries answered 5xx (database unavailable or too slow); Razorpay retries them.",
            ["kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "payops_webhook_processing_seconds",
            "Time from request start to response, by outcome.",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lag = Histogram(
            "payops_webhook_delivery_lag_seconds",
            "received_at - event created_at of newly stored events.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
