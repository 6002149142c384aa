"""Prometheus metrics hooks shared by the services.

Each service process owns one registry; :func:`serve_metrics` exposes it on a
port when ``BYOK_METRICS_PORT`` is set. Metric names are prefixed ``byok_``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["Metrics", "serve_metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """The request metrics every responder records, plus room for service gauges."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "byok_requests",
            "Requests handled, by subject and reply code",
            ["service", "subject", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "byok_request_seconds",
            "Time from receiving a request to sending its reply",
            ["service", "subject"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "byok_events",
            "Events consumed or published, by subject and outcome",
            ["service", "subject", "outcome"],
            registry=self.registry,
        )
        self.event_lag = Histogram(
            "byok_event_lag_seconds",
            "Time from an event's publication to the moment this service applied it",
            ["service", "subject"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "byok_resolver_cache_hits",
            "Resolves answered from the replica's caches alone",
            ["service"],
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "byok_resolver_cache_misses",
            "Resolves that had to fetch key material from key-vault",
            ["service"],
            registry=self.registry,
        )
        self.ledger_debits = Counter(
            "byok_ledger_debits",
            "Usage events by what the ledger did with them (applied, duplicate, byok)",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.up = Gauge("byok_up", "1 while the service runs", ["service"], registry=self.registry)
        self.up.labels(self.service).set(1)

    def observe_request(self, subject: str, code: int, seconds: float) -> None:
        self.requests.labels(self.service, subject, str(code)).inc()
        self.latency.labels(self.service, subject).observe(seconds)

    def count_event(self, subject: str, outcome: str) -> None:
        self.events.labels(self.service, subject, outcome).inc()

    def observe_lag(self, subject: str, published_at: datetime) -> None:
        """Record how long after ``published_at`` this service applied an event."""
        lag = (datetime.now(UTC) - published_at).total_seconds()
        self.event_lag.labels(self.service, subject).observe(max(lag, 0.0))


def serve_metrics(metrics: Metrics, port: int | None) -> None:
    """Expose ``metrics`` over HTTP on ``port`` (no-op when ``port`` is None)."""
    if port is not None:
        start_http_server(port, registry=metrics.registry)
