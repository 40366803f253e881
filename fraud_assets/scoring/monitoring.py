"""The champion at work, as pure numpy: the performance its served scores turned out to have
once labels are known, and a one-line chart of a series of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fraud_assets.model.metrics import EvaluationSet, RankedScores, evaluate


@dataclass(frozen=True)
class Performance:
    """What the served scores achieved on labelled transactions."""

    transactions: int
    frauds: int
    alerts: int
    roc_auc: float
    average_precision: float
    card_precision_at_k: float
    precision_at_threshold: float
    recall_at_threshold: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def realized_performance(
    scores: np.ndarray,
    labels: np.ndarray,
    customers: np.ndarray,
    day_index: np.ndarray,
    alerts: np.ndarray,
    top_k: int,
) -> Performance:
    """Ranking metrics of the scores (NaN when the rows hold only one class), Card Precision@k
    over the days, and precision / recall of the alerts that were raised."""
    labels = np.asarray(labels, dtype=np.float64)
    alerts = np.asarray(alerts, dtype=bool)
    evaluation = EvaluationSet.build(labels, customers, day_index)
    metrics = evaluate(np.asarray(scores, dtype=np.float64), evaluation)
    ranked = RankedScores.build(np.asarray(scores, dtype=np.float64), evaluation)
    card_precision = ranked.card_precision(np.ones((1, evaluation.units)), top_k).mean()
    frauds, raised = int(labels.sum()), int(alerts.sum())
    caught = int(labels[alerts].sum())
    return Performance(
        transactions=len(labels),
        frauds=frauds,
        alerts=raised,
        roc_auc=metrics["roc_auc"],
        average_precision=metrics["average_precision"],
        card_precision_at_k=float(card_precision),
        precision_at_threshold=caught / raised if raised else float("nan"),
        recall_at_threshold=caught / frauds if frauds else float("nan"),
    )


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """A one-line bar chart of the finite values (a gap for NaN), scaled to their range."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(
        _BARS[int((v - low) / span * (len(_BARS) - 1))] if np.isfinite(v) else " " for v in values
    )
