"""Reference profiles of model inputs and scores, and drift against them, as pure numpy / scipy.

A profile summarises one column of a model's training window: quantile bin edges and the
share of rows in each bin (for the population stability index), mean and standard deviation
(for the reasons of an alert) and a random sample (for the two-sample Kolmogorov-Smirnov test).
Training writes the profile of each model version; scoring measures drift against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

PROFILE_BINS = 10
PROFILE_SAMPLE = 2_000
# A bin that the reference or the day leaves empty weighs this share, so PSI stays finite.
_MIN_SHARE = 1e-4


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
        from scipy import stats

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
