"""Prometheus metrics of the real-time scorers (`/metrics` of the REST API, and the streaming
scorer's own port)."""

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from fraud_assets.serving.scorer import NotScored, Scored
from fraud_assets.serving.state import OnlineFeatures

SCORED = Counter("fraud_scored_transactions_total", "Transactions scored", ["source"])
ALERTS = Counter("fraud_alerts_total", "Transactions at or above the alert threshold", ["source"])
REJECTED = Counter(
    "fraud_rejected_transactions_total",
    "Transactions not scored (invalid lines, repeated ids), by reason",
    ["source", "reason"],
)
SCORES = Histogram(
    "fraud_score",
    "Fraud probabilities served",
    ["source"],
    buckets=[i / 20 for i in range(1, 21)],
)
CHAMPION_VERSION = Gauge("fraud_champion_version", "Registry version of the champion served")
STATE_ENTITIES = Gauge("fraud_feature_state_entities", "Entities in the online state", ["entity"])
STATE_ROWS = Gauge("fraud_feature_state_rows", "Transactions held in the online state", ["entity"])
PENDING_LABELS = Gauge("fraud_feature_state_pending_labels", "Transactions awaiting a label")
REQUESTS = Counter(
    "fraud_http_requests_total", "HTTP requests by route and status", ["route", "status"]
)
REQUEST_SECONDS = Histogram(
    "fraud_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0),
)
STREAM_BATCH_SECONDS = Histogram(
    "fraud_stream_batch_seconds",
    "From consuming a micro-batch to committing its offsets",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
STREAM_LATENCY_SECONDS = Histogram(
    "fraud_stream_end_to_end_seconds",
    "From a transaction's arrival in the input topic to its score's delivery",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "fraud_stream_consumer_lag", "Messages behind the input topic's end", ["partition"]
)


def record_outcomes(outcomes: Sequence[Scored | NotScored], source: str) -> None:
    scores = [outcome.score for outcome in outcomes if isinstance(outcome, Scored)]
    alerts = sum(1 for outcome in outcomes if isinstance(outcome, Scored) and outcome.alert)
    SCORED.labels(source).inc(len(scores))
    ALERTS.labels(source).inc(alerts)
    histogram = SCORES.labels(source)
    for score in scores:
        histogram.observe(score)
    for outcome in outcomes:
        if isinstance(outcome, NotScored):
            REJECTED.labels(source, outcome.reason).inc()


def record_state(state: OnlineFeatures) -> None:
    size = state.size()
    STATE_ENTITIES.labels("customer").set(size.customers)
    STATE_ENTITIES.labels("terminal").set(size.terminals)
    STATE_ROWS.labels("customer").set(size.customer_rows)
    STATE_ROWS.labels("terminal").set(size.terminal_rows)
    PENDING_LABELS.set(size.pending_labels)
