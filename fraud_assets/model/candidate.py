"""The steps of a candidate model partition: tune, train, test, profile and register, each
logging to the active MLflow run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome
from fraud_assets.common.profiles import build_profile, profile_to_json
from fraud_assets.common.scores import SCORE, sample_of, sampled_columns
from fraud_assets.features.transforms import stored_inputs
from fraud_assets.model import plots, registry
from fraud_assets.model.metrics import curves, evaluate
from fraud_assets.model.portable import NotPortableError, log_portable
from fraud_assets.model.training import (
    LABEL,
    TimeSplit,
    collect_scores,
    feature_importances,
    fit,
    model_requirements,
    unseen_customer_rows,
    with_scores,
)
from fraud_assets.model.tuning import OBJECTIVE, Trial, TuningResult, best_of, tune
from fraud_assets.resources.mlflow import REGISTERED_MODEL

# Training rows sampled for the reference profile that drift is measured against.
PROFILE_ROWS = 100_000


def log_trial(trial: Trial) -> None:
    """A trial as a nested MLflow run of the candidate's run."""
    import mlflow

    # A nested run lands in the active experiment unless told: keep it beside its parent.
    parent = mlflow.active_run().info
    with mlflow.start_run(
        run_name=f"trial {trial.number}", nested=True, experiment_id=parent.experiment_id
    ):
        mlflow.log_params(trial.params)
        mlflow.log_metric("seconds", trial.seconds)
        for index, metrics in enumerate(trial.fold_metrics):
            mlflow.log_metrics({f"fold_{index}_val_{name}": v for name, v in metrics.items()})
        if trial.error:
            mlflow.set_tag("error", trial.error[:5000])
        else:
            mlflow.log_metrics({f"val_{name}": value for name, value in trial.metrics.items()})


def trial_progress(trial: Trial, planned: int, best: Trial | None) -> str:
    """One line per trial for the run's log: how far, which family, how good, how long."""
    head = f"trial {trial.number + 1}/{planned} {trial.params['family']}"
    if trial.error:
        return f"{head} failed after {trial.seconds:.1f} s: {trial.error[:300]}"
    folds = " / ".join(f"{m[OBJECTIVE]:.4f}" for m in trial.fold_metrics)
    best_text = f"{best.objective:.4f} (trial {best.number + 1})" if best else "none yet"
    return (
        f"{head}: mean validation {OBJECTIVE} {trial.objective:.4f} over "
        f"{len(trial.fold_metrics)} folds [{folds}], best so far {best_text}, "
        f"{trial.seconds:.1f} s"
    )


def tune_on_folds(
    rows: DataFrame, split: TimeSplit, config: Any, log: Callable[[str], None]
) -> TuningResult:
    """Hyperopt over the prequential folds before the cut-off, each trial logged and told."""
    folds = [
        (
            rows.where(F.col("day").isin(fold.train)),
            unseen_customer_rows(rows, fold.train[0], fold.validation, split.delay_days),
        )
        for fold in split.folds
    ]
    finished: list[Trial] = []

    def on_trial(trial: Trial) -> None:
        log_trial(trial)
        finished.append(trial)
        log(trial_progress(trial, config.max_evals, best_of(finished)))

    return tune(
        folds,
        config.features,
        config.families,
        config.max_evals,
        config.timeout_seconds,
        config.seed,
        on_trial=on_trial,
    )


@dataclass(frozen=True)
class TestedModel:
    """The best parameters fitted on the training window and scored on the test block."""

    model: PipelineModel
    train_rows: DataFrame
    test_rows: DataFrame
    training_rows: int
    table: pd.DataFrame
    scores: np.ndarray
    metrics: dict[str, float]


def train_and_test(
    rows: DataFrame, split: TimeSplit, params: dict[str, Any], config: Any
) -> TestedModel:
    train_rows = rows.where(F.col("day").isin(split.train))
    test_rows = unseen_customer_rows(rows, split.train[0], split.test, split.delay_days)
    model = fit(train_rows, params, config.features, config.seed)
    table, evaluation = collect_scores(test_rows, {"score": model})
    scores = table["score"].to_numpy()
    return TestedModel(
        model,
        train_rows,
        test_rows,
        train_rows.count(),
        table,
        scores,
        evaluate(scores, evaluation),
    )


def log_test_results(tested: TestedModel, best: Trial, config: Any) -> None:
    """Parameters, validation and test metrics, ROC / PR curves and importances."""
    import mlflow

    importances = feature_importances(tested.model, config.features)
    mlflow.log_params({f"best_{name}": value for name, value in best.params.items()})
    mlflow.log_metrics({f"val_{name}": value for name, value in best.metrics.items()})
    mlflow.log_metrics({f"test_{name}": value for name, value in tested.metrics.items()})
    mlflow.log_metrics(
        {
            "train_rows": tested.training_rows,
            "test_rows": len(tested.table),
            "test_frauds": int(tested.table[LABEL].sum()),
        }
    )
    test_curves = {"candidate": curves(tested.scores, tested.table[LABEL].to_numpy())}
    mlflow.log_figure(plots.roc_figure(test_curves), "plots/roc_test.png")
    mlflow.log_figure(plots.precision_recall_figure(test_curves), "plots/pr_test.png")
    mlflow.log_figure(plots.importance_figure(importances), "plots/importances.png")
    mlflow.log_dict(importances, "feature_importances.json")


def log_reference_profile(
    rows: DataFrame, split: TimeSplit, tested: TestedModel, config: Any
) -> None:
    """The profile drift is measured against: inputs as trained on; the score as it came out
    on every row of days the model never saw (the test block, known compromised cards
    included, as scoring meets them)."""
    import mlflow

    inputs = stored_inputs(config.features)
    reference = sampled_columns(
        tested.train_rows, inputs, tested.training_rows, PROFILE_ROWS, config.seed
    )
    test_block = rows.where(F.col("day").isin(split.test))
    test_sample = sample_of(test_block, test_block.count(), PROFILE_ROWS, config.seed)
    reference[SCORE] = (
        with_scores(test_sample, {SCORE: tested.model}).select(SCORE).toPandas()[SCORE].to_numpy()
    )
    mlflow.log_dict(
        profile_to_json(build_profile(reference, config.seed)), registry.PROFILE_ARTIFACT
    )


def log_and_register(
    tested: TestedModel,
    config: Any,
    floor: CheckOutcome,
    tags: dict[str, str],
    warn: Callable[[str], None],
) -> str | None:
    """The Spark model and its real-time form in the run; the registered version when the
    candidate reached the quality floor."""
    import mlflow.spark
    from mlflow.models import infer_signature

    inputs = stored_inputs(config.features)
    # Doubles, as the pipeline reads them: integer columns would refuse missing values.
    example = (
        tested.test_rows.select(*[F.col(n).cast("double") for n in inputs]).limit(5).toPandas()
    )
    mlflow.set_tag("quality_floor", "passed" if floor.passed else "failed")
    logged = mlflow.spark.log_model(
        tested.model,
        artifact_path="model",
        signature=infer_signature(example, tested.scores[: len(example)]),
        input_example=example,
        pip_requirements=model_requirements(tested.model),
    )
    try:
        log_portable(tested.model, inputs)
    except NotPortableError as error:
        warn(f"the model has no real-time form: {error}")
    # Only a candidate above the floor enters the registry, so no version below it can
    # ever be validated or promoted; the model of one below stays in its run to inspect.
    if not floor.passed:
        return None
    return str(mlflow.register_model(logged.model_uri, REGISTERED_MODEL, tags=tags).version)
