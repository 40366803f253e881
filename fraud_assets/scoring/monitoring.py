"""The champion at work, as pure numpy / scipy: the alert threshold of a model version, the
reference profile of its inputs, drift against it (PSI and KS), why a card was alerted, and the
performance its served scores turned out to have once labels are known.

A profile summarises one column of the champion's training window: quantile bin edges and the
share of rows in each bin (for the population stability index), mean and standard deviation
(for the reasons of an alert) and a random sample (for the two-sample Kolmogorov-Smirnov test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fraud_assets.model.metrics import EvaluationSet, RankedScores, evaluate

PROFILE_BINS = 10
PROFILE_SAMPLE = 2_000
# A bin that the reference or the day leaves empty weighs this share, so PSI stays finite.
_MIN_SHARE = 1e-4


@dataclass(frozen=True)
class AlertRule:
    """Alert on score >= the threshold that keeps the false positive rate under `max_fpr` on
    the validation days, or, with a `daily_budget` > 0, that raises at most that many
    transaction alerts a day on average there."""

    max_fpr: float = 0.05
    daily_budget: int = 0

    def describe(self) -> str:
        if self.daily_budget:
            return f"at most {self.daily_budget} alerts a day on the validation days"
        return f"false positive rate under {self.max_fpr:.1%} on the validation days"

    def threshold(self, scores: np.ndarray, evaluation: EvaluationSet) -> float:
        if self.daily_budget:
            days = evaluation.unit_day[evaluation.unit_of_row]
            return threshold_for_budget(scores, len(np.unique(days)), self.daily_budget)
        return RankedScores.build(scores, evaluation).threshold_at_fpr(self.max_fpr)


def threshold_for_budget(scores: np.ndarray, days: int, daily_budget: int) -> float:
    """The lowest threshold (alert at score >= it) raising at most `daily_budget` alerts a day
    on average over `days` days; a tie at the limit is left out whole."""
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    allowed = daily_budget * days
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.inf))


@dataclass(frozen=True)
class ColumnProfile:
    edges: list[float]
    shares: list[float]
    mean: float
    std: float
    sample: list[float]

    @classmethod
    def of(
        cls,
        values: np.ndarray,
        rng: np.random.Generator,
        bins: int = PROFILE_BINS,
        sample_size: int = PROFILE_SAMPLE,
    ) -> ColumnProfile:
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            raise ValueError("a profile needs at least one value")
        quantiles = np.quantile(values, np.arange(1, bins) / bins)
        edges = np.unique(quantiles)
        counts = _bin_counts(edges, values)
        sample = rng.choice(values, size=min(sample_size, len(values)), replace=False)
        return cls(
            edges=edges.tolist(),
            shares=(counts / counts.sum()).tolist(),
            mean=float(values.mean()),
            std=float(values.std()),
            sample=np.sort(sample).tolist(),
        )

    def psi(self, values: np.ndarray) -> float:
        """Population stability index of `values` against this reference."""
        counts = _bin_counts(np.asarray(self.edges), np.asarray(values, dtype=np.float64))
        actual = np.maximum(counts / max(counts.sum(), 1), _MIN_SHARE)
        expected = np.maximum(np.asarray(self.shares), _MIN_SHARE)
        return float(((actual - expected) * np.log(actual / expected)).sum())

    def ks(self, values: np.ndarray) -> tuple[float, float]:
        """Two-sample Kolmogorov-Smirnov statistic and p-value against the reference sample."""
        result = stats.ks_2samp(self.sample, np.asarray(values, dtype=np.float64))
        return float(result.statistic), float(result.pvalue)


def _bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    # Bin i holds edges[i - 1] <= value < edges[i]; the first and last bins are open.
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def build_profile(
    columns: Mapping[str, np.ndarray], seed: int, sample_size: int = PROFILE_SAMPLE
) -> dict[str, ColumnProfile]:
    rng = np.random.default_rng(seed)
    return {
        name: ColumnProfile.of(values, rng, sample_size=sample_size)
        for name, values in columns.items()
    }


def profile_to_json(profile: Mapping[str, ColumnProfile]) -> dict[str, Any]:
    return {name: asdict(column) for name, column in profile.items()}


def profile_from_json(document: Mapping[str, Any]) -> dict[str, ColumnProfile]:
    return {name: ColumnProfile(**column) for name, column in document.items()}


@dataclass(frozen=True)
class Drift:
    column: str
    psi: float
    ks_statistic: float
    ks_p_value: float

    def exceeds(self, psi_threshold: float, ks_threshold: float) -> bool:
        return self.psi > psi_threshold or self.ks_statistic > ks_threshold


def drift(profile: Mapping[str, ColumnProfile], columns: Mapping[str, np.ndarray]) -> list[Drift]:
    """Drift of every profiled column present in `columns`, the largest PSI first."""
    found = []
    for name, reference in profile.items():
        if name not in columns or not len(columns[name]):
            continue
        statistic, p_value = reference.ks(columns[name])
        found.append(Drift(name, reference.psi(columns[name]), statistic, p_value))
    return largest_first(found)


def largest_first(drifts: list[Drift]) -> list[Drift]:
    return sorted(drifts, key=lambda d: (-d.psi, -d.ks_statistic))


def reasons(
    profile: Mapping[str, ColumnProfile], rows: pd.DataFrame, count: int
) -> list[list[str]]:
    """For each row, the `count` profiled inputs furthest from the training mean in standard
    deviations, as `NAME = value (+z sd)`, furthest first."""
    names = [n for n, p in profile.items() if n in rows.columns and p.std > 0]
    if not names or rows.empty:
        return [[] for _ in range(len(rows))]
    values = rows[names].to_numpy(dtype=np.float64)
    means = np.array([profile[n].mean for n in names])
    stds = np.array([profile[n].std for n in names])
    z = (values - means) / stds
    order = np.argsort(-np.abs(z), axis=1, kind="stable")[:, :count]
    return [
        [f"{names[j]} = {values[i, j]:.6g} ({z[i, j]:+.1f} sd)" for j in order[i]]
        for i in range(len(rows))
    ]


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
