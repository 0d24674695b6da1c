"""Prometheus metrics, served at GET /metrics (in HTTP mode and, on the probe port, in Socket Mode).

Every label takes its values from a closed set, so no input can grow the number of series: areas
and verbs come from the command registry (`unknown` otherwise), endpoints are route templates
(`get/mailbox/{x}`, never an address), payload kinds are Slack's payload types or `other`, and
outcomes, error kinds, cache names, results and approval states are fixed words in the code.

Where each is recorded:
- `chatops_commands_total`: `bot.dispatch.produce` (Slack, the Prev/Next buttons and the console);
- `chatops_ack_seconds`: `bot.server` (HTTP) and the Socket Mode handler in `bot.__main__`;
- `chatops_refusals_total`: the guard;
- `chatops_mailcow_request_seconds`, `chatops_mailcow_errors_total`, `chatops_cache_total`: the
  mailcow client;
- `chatops_approvals_total`: `bot.approvals.state`, once per state change that wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    "Time from receiving a Slack request to answering it, by payload kind.",
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

PAYLOAD_KINDS = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "event_callback",
        "url_verification",
    }
)


def payload_kind(body: Mapping[str, Any]) -> str:
    """The `kind` label for a Slack payload: `command`, one of Slack's payload types, or `other`.

    Ack latency is observed for unsigned requests too, so the label must not echo what they send.
    """
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if isinstance(kind, str) and kind in PAYLOAD_KINDS else "other"


def render() -> bytes:
    return generate_latest(REGISTRY)
