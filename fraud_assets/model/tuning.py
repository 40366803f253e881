"""Hyperparameter search with hyperopt (TPE) over model families and their parameters.

The objective is prequential, as in the handbook: the mean average precision over several
folds before the cut-off, each fitting on its own training days and scored on its own
validation days (customers with frauds known by then removed). The test block is never seen.
"""

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame

from fraud_assets.model.metrics import evaluate
from fraud_assets.model.training import FAMILIES, collect_scores, fit

OBJECTIVE = "average_precision"


def search_space(families: Sequence[str]) -> dict[str, Any]:
    unknown = [family for family in families if family not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"model families {unknown or '(none)'} are not among {FAMILIES}")
    from hyperopt import hp

    spaces = {
        "logistic_regression": {
            "family": "logistic_regression",
            "reg_param": hp.loguniform("lr_reg_param", np.log(1e-4), np.log(1.0)),
            "elastic_net": hp.uniform("lr_elastic_net", 0.0, 1.0),
        },
        "random_forest": {
            "family": "random_forest",
            "num_trees": hp.quniform("rf_num_trees", 20, 120, 10),
            "max_depth": hp.quniform("rf_max_depth", 4, 12, 1),
            "min_instances": hp.quniform("rf_min_instances", 1, 50, 1),
        },
        "gbt": {
            "family": "gbt",
            "max_iter": hp.quniform("gbt_max_iter", 10, 60, 5),
            "max_depth": hp.quniform("gbt_max_depth", 2, 6, 1),
            "step_size": hp.loguniform("gbt_step_size", np.log(0.03), np.log(0.3)),
        },
        "xgboost": {
            "family": "xgboost",
            "n_estimators": hp.quniform("xgb_n_estimators", 50, 300, 25),
            "max_depth": hp.quniform("xgb_max_depth", 3, 8, 1),
            "learning_rate": hp.loguniform("xgb_learning_rate", np.log(0.02), np.log(0.3)),
            "subsample": hp.uniform("xgb_subsample", 0.6, 1.0),
            "colsample_bytree": hp.uniform("xgb_colsample_bytree", 0.6, 1.0),
        },
    }
    return {
        "model": hp.choice("family", [spaces[family] for family in families]),
        # 0: no reweighting; 1: frauds weigh as much in total as genuine transactions.
        "balance": hp.uniform("balance", 0.0, 1.0),
    }


def flatten(point: dict[str, Any]) -> dict[str, Any]:
    """A point of the space as one flat parameter dict, integers where they are counts."""
    params = {**point["model"], "balance": float(point["balance"])}
    return {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in params.items()
    }


@dataclass
class Trial:
    """One point of the space: its metrics on each fold and their mean over the folds."""

    number: int
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    fold_metrics: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def objective(self) -> float:
        return self.metrics.get(OBJECTIVE, np.nan)


def best_of(trials: Sequence[Trial]) -> Trial | None:
    """The trial with the highest objective among those that ran without error."""
    scored = [t for t in trials if not t.error and np.isfinite(t.objective)]
    return max(scored, key=lambda t: t.objective, default=None)


def mean_over_folds(fold_metrics: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the folds where it is defined (a fold without frauds has no
    average precision); NaN where no fold defines it."""
    names = fold_metrics[0].keys()
    values = {name: np.array([m[name] for m in fold_metrics], dtype=float) for name in names}
    return {
        name: float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else np.nan
        for name, v in values.items()
    }


@dataclass
class TuningResult:
    best: Trial
    trials: list[Trial] = field(default_factory=list)


def tune(
    folds: Sequence[tuple[DataFrame, DataFrame]],
    features: Sequence[str],
    families: Sequence[str],
    max_evals: int,
    timeout_seconds: int,
    seed: int,
    on_trial: Callable[[Trial], None] = lambda trial: None,
) -> TuningResult:
    """Search the families' parameters; each trial fits on every fold's training rows and is
    scored on its validation rows. A trial that fails is recorded and skipped; if all fail,
    this raises."""
    if not folds:
        raise ValueError("tuning needs at least one fold")
    from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, tpe
    from hyperopt.exceptions import AllTrialsFailed

    trials: list[Trial] = []

    def objective(point: dict[str, Any]) -> dict[str, Any]:
        params = flatten(point)
        started = time.monotonic()
        trial = Trial(len(trials), params, {}, 0.0)
        try:
            for index, (fit_rows, validation_rows) in enumerate(folds):
                try:
                    model = fit(fit_rows, params, features, seed)
                    table, evaluation = collect_scores(validation_rows, {"score": model})
                except ValueError as error:
                    raise ValueError(f"fold {index}: {error}") from error
                trial.fold_metrics.append(evaluate(table["score"].to_numpy(), evaluation))
            trial.metrics = mean_over_folds(trial.fold_metrics)
        except Exception as error:
            trial.error = f"{type(error).__name__}: {error}"
        trial.seconds = time.monotonic() - started
        trials.append(trial)
        on_trial(trial)
        loss = -trial.objective
        if trial.error or not np.isfinite(loss):
            return {"status": STATUS_FAIL}
        return {"status": STATUS_OK, "loss": loss}

    space = search_space(families)
    # When every trial fails hyperopt raises; the trials' own errors are reported below.
    with contextlib.suppress(AllTrialsFailed):
        fmin(
            objective,
            space,
            algo=tpe.suggest,
            max_evals=max_evals,
            timeout=timeout_seconds,
            trials=Trials(),
            rstate=np.random.default_rng(seed),
            show_progressbar=False,
        )
    best = best_of(trials)
    if best is None:
        errors = "; ".join(sorted({trial.error or "no metrics" for trial in trials}))
        raise RuntimeError(f"every tuning trial failed: {errors}")
    return TuningResult(best=best, trials=trials)
