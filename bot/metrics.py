"""Prometheus metrics, served at GET /metrics.

Labels are low-cardinality on purpose: areas, verbs, endpoints (not addresses), outcomes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter(
    "chatops_commands_total",
    "Slash commands handled, by area, verb and outcome.",
    ["area", "verb", "outcome"],
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "chatops_ack_seconds",
    "Time from receiving a Slack request to answering it.",
    ["kind"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
REFUSALS = Counter(
    "chatops_refusals_total",
    "Payloads refused by the guard, by payload kind and reason.",
    ["kind", "reason"],
    registry=REGISTRY,
)
MAILCOW_SECONDS = Histogram(
    "chatops_mailcow_request_seconds",
    "mailcow API call latency by endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 75.0),
    registry=REGISTRY,
)
MAILCOW_ERRORS = Counter(
    "chatops_mailcow_errors_total",
    "mailcow API failures by endpoint and kind (auth, rejected, unavailable).",
    ["endpoint", "kind"],
    registry=REGISTRY,
)
CACHE = Counter(
    "chatops_cache_total",
    "Read-cache lookups by cache name and result (hit, miss).",
    ["cache", "result"],
    registry=REGISTRY,
)
APPROVALS = Counter(
    "chatops_approvals_total",
    "Approval state changes by new state.",
    ["state"],
    registry=REGISTRY,
)
READY = Gauge("chatops_ready", "1 once the app is ready to take requests.", registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
