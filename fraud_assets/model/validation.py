"""The steps of a validation: the candidate against the champion by a paired bootstrap (or
alone, when there is no champion), and the alert threshold of the candidate, each logging to
the active MLflow run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets.metadata import markdown_table
from fraud_assets.model import plots
from fraud_assets.model.alert_rule import AlertRule
from fraud_assets.model.bootstrap import bootstrap_single, paired_bootstrap
from fraud_assets.model.metrics import EvaluationSet


@dataclass(frozen=True)
class Comparison:
    comparisons: dict[str, Any]
    significant: bool
    summary: str
    table: str


def comparison_rows(comparisons: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "metric": name,
            "champion": f"{c['champion']['observed']:.4f}",
            "candidate": f"{c['candidate']['observed']:.4f}",
            "difference": f"{c['difference']['observed']:+.4f}",
            "95% CI": f"[{c['difference']['ci_low']:+.4f}, {c['difference']['ci_high']:+.4f}]",
            "z": f"{c['z_score']:.2f}",
            "p": f"{c['p_value']:.3g}",
            "t-test p": f"{c['t_p_value']:.3g}",
        }
        for name, c in comparisons.items()
    ]


def against_champion(table: pd.DataFrame, evaluation: EvaluationSet, config: Any) -> Comparison:
    """The paired bootstrap of candidate minus champion on the same resamples."""
    import mlflow

    result = paired_bootstrap(
        table["champion"].to_numpy(),
        table["candidate"].to_numpy(),
        evaluation,
        resamples=config.resamples,
        unit=config.unit,
        alternative="greater",
        seed=config.seed,
    )
    comparisons = {
        name: {
            "champion": vars(c.champion),
            "candidate": vars(c.candidate),
            "difference": vars(c.difference),
            "z_score": c.z_score,
            "p_value": c.p_value,
            "t_statistic": c.t_statistic,
            "t_p_value": c.t_p_value,
        }
        for name, c in result.comparisons.items()
    }
    chosen = result.comparisons[config.metric]
    significant = chosen.significant(config.alpha)
    summary = (
        f"{config.metric} {chosen.champion.observed:.4f} -> "
        f"{chosen.candidate.observed:.4f} ({chosen.difference.observed:+.4f}, 95% CI "
        f"[{chosen.difference.ci_low:+.4f}, {chosen.difference.ci_high:+.4f}]), "
        f"z = {chosen.z_score:.2f}, p = {chosen.p_value:.3g} "
        f"{'<' if significant else '>='} alpha {config.alpha}"
    )
    for name, c in result.comparisons.items():
        mlflow.log_metrics(
            {
                f"{name}.champion": c.champion.observed,
                f"{name}.candidate": c.candidate.observed,
                f"{name}.difference": c.difference.observed,
                f"{name}.difference_std": c.difference.std,
                f"{name}.difference_ci_low": c.difference.ci_low,
                f"{name}.difference_ci_high": c.difference.ci_high,
                f"{name}.z_score": min(c.z_score, 1e6),
                f"{name}.p_value": c.p_value,
                f"{name}.t_test_p_value": c.t_p_value,
            }
        )
    mlflow.log_figure(plots.bootstrap_figure(result), "plots/bootstrap_differences.png")
    return Comparison(
        comparisons, significant, summary, markdown_table(comparison_rows(comparisons))
    )


def alone(table: pd.DataFrame, evaluation: EvaluationSet, config: Any) -> Comparison:
    """The candidate's bootstrap intervals when no champion is there to compare with."""
    import mlflow

    estimates = bootstrap_single(
        table["candidate"].to_numpy(),
        evaluation,
        resamples=config.resamples,
        unit=config.unit,
        seed=config.seed,
    )
    mlflow.log_metrics(
        {f"{name}.candidate": e.observed for name, e in estimates.items()}
        | {f"{name}.candidate_std": e.std for name, e in estimates.items()}
    )
    rows = [
        {
            "metric": name,
            "candidate": f"{e.observed:.4f}",
            "95% CI": f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
        }
        for name, e in estimates.items()
    ]
    return Comparison(
        {name: {"candidate": vars(e)} for name, e in estimates.items()},
        False,
        "no champion to compare with",
        markdown_table(rows),
    )


@dataclass(frozen=True)
class AlertChoice:
    rule: AlertRule
    threshold: float
    alert_rate: float
    lower_bound: float


def alert_choice(
    scores: np.ndarray, evaluation: EvaluationSet, comparison: Comparison, config: Any
) -> AlertChoice:
    """The candidate's alert threshold on the test days and the lower bound of its average
    precision that monitoring compares served weeks with."""
    import mlflow

    rule = AlertRule(config.alert_max_fpr, config.alert_daily_budget)
    threshold = rule.threshold(scores, evaluation)
    alert_rate = float((scores >= threshold).mean())
    lower_bound = comparison.comparisons["average_precision"]["candidate"]["ci_low"]
    mlflow.log_param("alert_rule", rule.describe())
    mlflow.log_metrics({"alert_rate": alert_rate, "average_precision.ci_low": lower_bound})
    if np.isfinite(threshold):
        mlflow.log_metric("alert_threshold", threshold)
    return AlertChoice(rule, threshold, alert_rate, lower_bound)
