"""Prometheus metrics of the API process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

registry = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "floyo_http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=registry
)
LATENCY = Histogram(
    "floyo_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
EVENTS = Counter("floyo_events_total", "Telemetry events by outcome", ["outcome"], registry=registry)
