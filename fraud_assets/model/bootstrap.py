"""Paired bootstrap comparison of two models on the same test rows (DATA.md §4).

Each resample draws the test set again with replacement, by transaction or by customer-day
(a customer's transactions of one day move together, which respects their dependence). Both
models are scored on the same resamples, so the spread of the difference excludes the variation
they share. Resamples are weight matrices handed to `RankedScores.metrics` in chunks: the
work is numpy over arrays, never a Python loop calling a metric per resample.

For each metric: the observed value of each model and their difference on the whole test set,
the bootstrap mean, standard deviation and 95% percentile interval of each, the z-score of the
observed difference over its bootstrap standard deviation and its p-value, and, as a second
opinion, a paired t-test over the per-day values of the test days.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fraud_assets.model.metrics import MAX_FPR, METRICS, EvaluationSet, RankedScores

Unit = Literal["transaction", "customer_day"]
Alternative = Literal["greater", "two-sided"]
UNITS: tuple[Unit, ...] = ("transaction", "customer_day")
ALTERNATIVES: tuple[Alternative, ...] = ("greater", "two-sided")

# Cells of a weight matrix handled at once: bounds memory to a few hundred MB.
_CELLS_PER_CHUNK = 8_000_000


@dataclass(frozen=True)
class Estimate:
    observed: float
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, observed: float, replicates: np.ndarray) -> "Estimate":
        low, high = np.nanpercentile(replicates, [2.5, 97.5])
        return cls(
            float(observed),
            float(np.nanmean(replicates)),
            float(np.nanstd(replicates, ddof=1)),
            float(low),
            float(high),
        )


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    champion: Estimate
    candidate: Estimate
    difference: Estimate
    z_score: float
    p_value: float
    t_statistic: float
    t_p_value: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


@dataclass(frozen=True)
class PairedBootstrap:
    resamples: int
    unit: Unit
    alternative: Alternative
    comparisons: dict[str, MetricComparison]
    differences: dict[str, np.ndarray]


def _counts(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of `size` items is drawn in `count` resamples of `size` draws."""
    # Offsets put each resample's draws in its own bin range, so one bincount counts them all.
    draws = rng.integers(0, size, size=(count, size), dtype=np.int64)
    draws += (np.arange(count) * size)[:, None]
    counts = np.bincount(draws.ravel(), minlength=count * size).reshape(count, size)
    return counts.astype(np.float64)


def resample_weights(
    evaluation: EvaluationSet, unit: Unit, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` resamples as (row weights, customer-day weights), each of shape (count, ·).

    By transaction, a customer-day enters Card Precision once if any of its rows was drawn.
    """
    if unit == "transaction":
        rows = _counts(evaluation.rows, count, rng)
        return rows, evaluation.units_present(rows)
    if unit == "customer_day":
        units = _counts(evaluation.units, count, rng)
        return np.take(units, evaluation.unit_of_row, axis=1), units
    raise ValueError(f"unknown resampling unit {unit!r}; use one of {UNITS}")


def _chunk_replicates(
    models: list[RankedScores],
    evaluation: EvaluationSet,
    unit: Unit,
    count: int,
    rng: np.random.Generator,
    max_fpr: float,
) -> list[dict[str, np.ndarray]]:
    if unit == "customer_day":
        units = _counts(evaluation.units, count, rng)
        return [model.metrics_of_units(units, max_fpr) for model in models]
    rows, units = resample_weights(evaluation, unit, count, rng)
    return [model.metrics(rows, units, max_fpr) for model in models]


def bootstrap_replicates(
    models: list[RankedScores],
    evaluation: EvaluationSet,
    resamples: int,
    unit: Unit,
    seed: int,
    max_fpr: float = MAX_FPR,
) -> list[dict[str, np.ndarray]]:
    """For each model, every metric on the same `resamples` resamples: arrays of shape (B,).

    Chunks of resamples run on a thread per core (numpy releases the GIL in its loops); each
    chunk has its own random stream from `seed`, so the result does not depend on the cores.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown resampling unit {unit!r}; use one of {UNITS}")
    chunk = max(1, _CELLS_PER_CHUNK // max(evaluation.rows, 1))
    sizes = [min(chunk, resamples - start) for start in range(0, resamples, chunk)]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(sizes))]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        chunks = list(
            pool.map(
                lambda size, rng: _chunk_replicates(models, evaluation, unit, size, rng, max_fpr),
                sizes,
                streams,
            )
        )
    return [
        {name: np.concatenate([part[index][name] for part in chunks]) for name in METRICS}
        for index in range(len(models))
    ]


def per_day_metrics(
    model: RankedScores, evaluation: EvaluationSet, max_fpr: float = MAX_FPR
) -> dict[str, np.ndarray]:
    """Every metric on each test day alone: arrays of shape (days,)."""
    days = np.unique(evaluation.unit_day)
    row_days = evaluation.unit_day[evaluation.unit_of_row]
    row_masks = (row_days[None, :] == days[:, None]).astype(np.float64)
    unit_masks = (evaluation.unit_day[None, :] == days[:, None]).astype(np.float64)
    values = model.metrics(row_masks, unit_masks, max_fpr)
    values["card_precision_at_100"] = model.card_precision(np.ones((1, evaluation.units)))[0]
    return values


def _p_value(z: float, alternative: Alternative) -> float:
    from scipy import stats

    if alternative == "greater":
        return float(stats.norm.sf(z))
    return float(2 * stats.norm.sf(abs(z)))


def _z_score(observed: float, spread: float) -> float:
    if spread > 0:
        return observed / spread
    # Every resample gave the same difference: the sign of it is certain, or there is none.
    return 0.0 if observed == 0 else float(np.sign(observed) * np.inf)


def paired_bootstrap(
    champion_scores: np.ndarray,
    candidate_scores: np.ndarray,
    evaluation: EvaluationSet,
    resamples: int = 1000,
    unit: Unit = "customer_day",
    alternative: Alternative = "greater",
    seed: int = 0,
    max_fpr: float = MAX_FPR,
) -> PairedBootstrap:
    """Compare candidate with champion on the same resamples of the evaluation set.

    `alternative="greater"` tests whether the candidate is better (one-sided).
    """
    from scipy import stats

    if alternative not in ALTERNATIVES:
        raise ValueError(f"unknown alternative {alternative!r}; use one of {ALTERNATIVES}")
    if resamples < 2:
        raise ValueError("a bootstrap needs at least 2 resamples")
    champion = RankedScores.build(champion_scores, evaluation)
    candidate = RankedScores.build(candidate_scores, evaluation)
    ones_rows, ones_units = np.ones((1, evaluation.rows)), np.ones((1, evaluation.units))
    observed = [m.metrics(ones_rows, ones_units, max_fpr) for m in (champion, candidate)]
    replicates = bootstrap_replicates(
        [champion, candidate], evaluation, resamples, unit, seed, max_fpr
    )
    daily = [per_day_metrics(m, evaluation, max_fpr) for m in (champion, candidate)]
    comparisons, differences = {}, {}
    for name in METRICS:
        before, after = observed[0][name][0], observed[1][name][0]
        difference = replicates[1][name] - replicates[0][name]
        spread = Estimate.of(after - before, difference)
        z = _z_score(after - before, spread.std)
        if np.allclose(daily[1][name], daily[0][name], equal_nan=True):
            t_statistic, t_p = 0.0, 1.0
        else:
            test = stats.ttest_rel(
                daily[1][name], daily[0][name], alternative=alternative, nan_policy="omit"
            )
            t_statistic, t_p = float(test.statistic), float(test.pvalue)
        comparisons[name] = MetricComparison(
            metric=name,
            champion=Estimate.of(before, replicates[0][name]),
            candidate=Estimate.of(after, replicates[1][name]),
            difference=spread,
            z_score=z,
            p_value=_p_value(z, alternative),
            t_statistic=t_statistic,
            t_p_value=t_p,
        )
        differences[name] = difference
    return PairedBootstrap(resamples, unit, alternative, comparisons, differences)


def bootstrap_single(
    scores: np.ndarray,
    evaluation: EvaluationSet,
    resamples: int = 1000,
    unit: Unit = "customer_day",
    seed: int = 0,
    max_fpr: float = MAX_FPR,
) -> dict[str, Estimate]:
    """Observed value and bootstrap spread of each metric of one model (no champion yet)."""
    model = RankedScores.build(scores, evaluation)
    observed = model.metrics(np.ones((1, evaluation.rows)), np.ones((1, evaluation.units)), max_fpr)
    (replicates,) = bootstrap_replicates([model], evaluation, resamples, unit, seed, max_fpr)
    return {name: Estimate.of(observed[name][0], replicates[name]) for name in METRICS}
