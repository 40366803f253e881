"""Prometheus metrics of the real-time scorers (`/metrics` of the REST API, and the streaming
scorer's own port)."""

import threading
from collections.abc import Sequence

import numpy as np
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily

from fraud_assets.serving.scorer import NotScored, Scored
from fraud_assets.serving.state import OnlineFeatures

SCORED = Counter("fraud_scored_transactions_total", "Transactions scored", ["source"])
ALERTS = Counter("fraud_alerts_total", "Transactions at or above the alert threshold", ["source"])
REJECTED = Counter(
    "fraud_rejected_transactions_total",
    "Transactions not scored (invalid lines, repeated ids), by reason",
    ["source", "reason"],
)


class BatchHistogram:
    """A Prometheus histogram fed a whole batch of values at a time: at tens of thousands of
    transactions a second, one `observe` call per value would cost more than scoring them."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(buckets, dtype="float64")
        self._series: dict[str, tuple[np.ndarray, list[float]]] = {}
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def observe_many(self, values: np.ndarray, source: str) -> None:
        if len(values) == 0:
            return
        counts = np.bincount(
            np.searchsorted(self.bounds, values, side="left"), minlength=len(self.bounds) + 1
        )
        with self._lock:
            held, total = self._series.setdefault(
                source, (np.zeros(len(self.bounds) + 1, dtype=np.int64), [0.0])
            )
            held += counts
            total[0] += float(np.sum(values))

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=["source"])
        with self._lock:
            for source, (counts, total) in self._series.items():
                cumulative = np.cumsum(counts).tolist()
                buckets = [
                    (repr(float(b)), c) for b, c in zip(self.bounds, cumulative[:-1], strict=True)
                ]
                family.add_metric([source], [*buckets, ("+Inf", cumulative[-1])], total[0])
        yield family


SCORES = BatchHistogram("fraud_score", "Fraud probabilities served", [i / 20 for i in range(1, 21)])
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
STREAM_LATENCY_SECONDS = BatchHistogram(
    "fraud_stream_end_to_end_seconds",
    "From a transaction's arrival in the input topic to its score's delivery",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "fraud_stream_consumer_lag", "Messages behind the input topic's end", ["partition"]
)


def record_outcomes(outcomes: Sequence[Scored | NotScored], source: str) -> None:
    scores = [outcome.score for outcome in outcomes if isinstance(outcome, Scored)]
    alerts = sum(1 for outcome in outcomes if isinstance(outcome, Scored) and outcome.alert)
    SCORED.labels(source).inc(len(scores))
    ALERTS.labels(source).inc(alerts)
    SCORES.observe_many(np.asarray(scores, dtype="float64"), source)
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
