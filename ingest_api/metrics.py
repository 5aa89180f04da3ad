"""Prometheus metrics of one API process, on a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.accepted = Counter(
            "watchflow_events_accepted",
            "Events acknowledged after Kafka acked them",
            ["kind"],
            registry=r,
        )
        self.rejected = Counter(
            "watchflow_events_rejected", "Events rejected by validation", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "watchflow_events_duplicate", "Repeats of an event_id within one batch", registry=r
        )
        self.requests = Counter(
            "watchflow_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.produce_latency = Histogram(
            "watchflow_produce_latency_seconds",
            "Time from handing a batch to Kafka until every record was acknowledged",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.kafka_available = Gauge(
            "watchflow_kafka_available", "1 while the producer reaches Kafka", registry=r
        )
