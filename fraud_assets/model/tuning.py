"""Hyperparameter search with hyperopt (TPE) over model families and their parameters.

The objective is the average precision on the validation block at the end of the training
window, after removing customers with frauds known before it; the test block is never seen.
"""

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, tpe
from hyperopt.exceptions import AllTrialsFailed
from pyspark.sql import DataFrame

from fraud_assets.model.metrics import evaluate
from fraud_assets.model.training import FAMILIES, collect_scores, fit

OBJECTIVE = "average_precision"

_SPACES = {
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


def search_space(families: Sequence[str]) -> dict[str, Any]:
    unknown = [family for family in families if family not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"model families {unknown or '(none)'} are not among {FAMILIES}")
    return {
        "model": hp.choice("family", [_SPACES[family] for family in families]),
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
    number: int
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    error: str | None = None


@dataclass
class TuningResult:
    best: Trial
    trials: list[Trial] = field(default_factory=list)


def tune(
    fit_rows: DataFrame,
    validation_rows: DataFrame,
    features: Sequence[str],
    families: Sequence[str],
    max_evals: int,
    timeout_seconds: int,
    seed: int,
    on_trial: Callable[[Trial], None] = lambda trial: None,
) -> TuningResult:
    """Search the families' parameters; each trial fits on `fit_rows` and is scored on
    `validation_rows`. A trial that fails is recorded and skipped; if all fail, this raises."""
    trials: list[Trial] = []

    def objective(point: dict[str, Any]) -> dict[str, Any]:
        params = flatten(point)
        started = time.monotonic()
        trial = Trial(len(trials), params, {}, 0.0)
        try:
            model = fit(fit_rows, params, features, seed)
            table, evaluation = collect_scores(validation_rows, {"score": model})
            trial.metrics = evaluate(table["score"].to_numpy(), evaluation)
        except Exception as error:
            trial.error = f"{type(error).__name__}: {error}"
        trial.seconds = time.monotonic() - started
        trials.append(trial)
        on_trial(trial)
        loss = -trial.metrics.get(OBJECTIVE, np.nan)
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
    succeeded = [trial for trial in trials if not trial.error and trial.metrics]
    if not succeeded:
        errors = "; ".join(sorted({trial.error or "no metrics" for trial in trials}))
        raise RuntimeError(f"every tuning trial failed: {errors}")
    best = max(succeeded, key=lambda trial: trial.metrics[OBJECTIVE])
    return TuningResult(best=best, trials=trials)
