"""Figures logged to MLflow: ROC and precision-recall curves, importances, bootstrap spread.

Figures are built without pyplot, so no GUI backend or global figure state is involved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fraud_assets.model.bootstrap import PairedBootstrap
from fraud_assets.model.metrics import MAX_FPR, Curves

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def roc_figure(curves_by_model: dict[str, Curves]) -> Figure:
    figure = _figure(5, 5)
    axis = figure.subplots()
    for name, curve in curves_by_model.items():
        axis.plot(curve.false_positive_rate, curve.true_positive_rate, label=name)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.axvline(MAX_FPR, color="red", linestyle="--", linewidth=1, label=f"FPR {MAX_FPR:.0%}")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def precision_recall_figure(curves_by_model: dict[str, Curves]) -> Figure:
    figure = _figure(5, 5)
    axis = figure.subplots()
    for name, curve in curves_by_model.items():
        axis.step(curve.recall, curve.precision, where="post", label=name)
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    axis.legend(loc="upper right")
    figure.tight_layout()
    return figure


def importance_figure(importances: dict[str, float]) -> Figure:
    ranked = sorted(importances.items(), key=lambda item: item[1])
    figure = _figure(7, 0.3 * len(ranked) + 1)
    axis = figure.subplots()
    axis.barh([name for name, _ in ranked], [value for _, value in ranked])
    axis.set(xlabel="relative importance", title="Feature importances")
    figure.tight_layout()
    return figure


def bootstrap_figure(result: PairedBootstrap) -> Figure:
    """One histogram per metric of candidate minus champion over the resamples."""
    names = list(result.differences)
    columns = 3
    rows = int(np.ceil(len(names) / columns))
    figure = _figure(4 * columns, 3 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, name in zip(axes.ravel(), names, strict=False):
        comparison = result.comparisons[name]
        axis.hist(result.differences[name], bins=40, color="steelblue")
        axis.axvline(0, color="black", linewidth=1)
        axis.axvline(comparison.difference.ci_low, color="red", linestyle="--", linewidth=1)
        axis.axvline(comparison.difference.ci_high, color="red", linestyle="--", linewidth=1)
        axis.set_title(f"{name}\np = {comparison.p_value:.3g}", fontsize=9)
    for axis in axes.ravel()[len(names) :]:
        axis.axis("off")
    figure.suptitle(
        f"Candidate minus champion, {result.resamples} resamples by {result.unit} (95% CI red)"
    )
    figure.tight_layout()
    return figure
