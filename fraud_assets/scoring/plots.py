"""The realized performance series as a figure logged to MLflow (built without pyplot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def performance_figure(
    series: pd.DataFrame, lower_bound: float | None, trailing_days: int
) -> Figure:
    """Daily and trailing average precision, daily ROC AUC and Card Precision@k per day, with
    the champion's validation lower bound of average precision."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.5))
    axis = figure.subplots()
    days = pd.to_datetime(series["day"])
    axis.plot(days, series["average_precision"], marker=".", linewidth=1, label="AP, day")
    axis.plot(
        days,
        series["rolling_average_precision"],
        linewidth=2,
        label=f"AP, last {trailing_days} days",
    )
    axis.plot(days, series["roc_auc"], linewidth=1, linestyle="--", label="ROC AUC, day")
    axis.plot(days, series["card_precision_at_k"], linewidth=1, label="CP@k, day")
    if lower_bound is not None:
        axis.axhline(lower_bound, color="red", linestyle=":", label="validation AP, lower bound")
    axis.set(ylim=(0, 1.02), ylabel="metric", title="Realized performance of the served scores")
    axis.legend(loc="lower left", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure
