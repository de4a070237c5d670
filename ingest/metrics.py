"""Prometheus metrics of the API, summed over every worker process when ``PROMETHEUS_MULTIPROC_DIR`` is set.

``floyo serve`` sets it (a fresh directory per start) before the workers start: each worker then writes its
values to memory-mapped files there and ``/metrics`` adds them up, so scrapes do not jump between workers.
"""

from __future__ import annotations

import os
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

registry = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "floyo_http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=registry
)
LATENCY = Histogram(
    "floyo_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
EVENTS = Counter("floyo_events_total", "Telemetry events by outcome", ["outcome"], registry=registry)
REJECTED = Counter(
    "floyo_rejected_events_total", "Rejected telemetry events by the field at fault", ["field"], registry=registry
)
_FIELD = re.compile(r"^[a-z_]{1,32}$")


def rejection_field(reason: str) -> str:
    """The field a rejection's reason names (``path: …`` → ``path``): a bounded label, never the free text."""
    field = reason.split(":", 1)[0].strip()
    return field if _FIELD.match(field) else "other"


def exposition() -> bytes:
    """The text exposition of every metric: all workers' when in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(merged))
    return bytes(generate_latest(registry))
