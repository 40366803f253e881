"""`fraud_model` -> `model_validation` -> `champion_model`, partitioned by cut-off day.

A partition's key is the last day of its training window; the delay and test days follow it
(`TimeSplit`). The feature days a partition reads are its input's partition mapping, so the
UI draws them and a changed feature day marks the model stale.
"""

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import mlflow
import mlflow.spark
import numpy as np
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetObservation,
    Config,
    DataVersion,
    MetadataValue,
    ObserveResult,
    OpExecutionContext,
    Output,
    ResourceParam,
    TimeWindowPartitionMapping,
    asset,
    observable_source_asset,
)
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import gate
from fraud_assets.errors import TRANSIENT_RETRY
from fraud_assets.features.assets import FEATURES, IncompleteInputError
from fraud_assets.features.transforms import MODEL_FEATURES, stored_inputs
from fraud_assets.metadata import markdown_table
from fraud_assets.model import checks, plots, registry
from fraud_assets.model.bootstrap import bootstrap_single, paired_bootstrap
from fraud_assets.model.metrics import METRICS, curves, evaluate
from fraud_assets.model.training import (
    LABEL,
    TimeSplit,
    collect_scores,
    feature_importances,
    fit,
    unseen_customer_rows,
    with_scores,
)
from fraud_assets.model.tuning import OBJECTIVE, Trial, best_of, tune
from fraud_assets.partitions import DAILY_PARTITIONS, MODELS_POOL
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.mlflow import REGISTERED_MODEL, MlflowResource
from fraud_assets.resources.storage import PartitionedParquetIOManager
from fraud_assets.scoring.monitoring import AlertRule, build_profile, profile_to_json
from fraud_assets.scoring.scores import SCORE, sample_of, sampled_columns
from fraud_assets.serving.portable import NotPortableError, log_portable
from fraud_assets.settings import ModelSettings, Settings

GROUP = "model"
CANDIDATE = "fraud_model"
VALIDATION = "model_validation"
CHAMPION = "champion_model"
ALIAS = "champion_alias"
# The tag of an observation that carries the observed asset's data version.
DATA_VERSION_TAG = "dagster/data_version"
RECORDS = "record_io_manager"
_SETTINGS = Settings.from_env()
MODEL = _SETTINGS.model
SCORING = _SETTINGS.scoring
# Training rows sampled for the reference profile that drift is measured against.
PROFILE_ROWS = 100_000

# The feature days of a partition: its tuning folds, training window, delay and test block.
WINDOW = TimeWindowPartitionMapping(
    start_offset=-(MODEL.days_to_cutoff - 1),
    end_offset=MODEL.delay_days + MODEL.test_days,
    allow_nonexistent_upstream_partitions=True,
)
FEATURES_IN = AssetIn(FEATURES, partition_mapping=WINDOW)


class TrainingConfig(Config):
    families: list[str] = Field(default=list(MODEL.families), description="model families")
    features: list[str] = Field(
        default=list(MODEL_FEATURES),
        description="model inputs: stored features and derived ones (REFERENCE_FEATURES for "
        "the handbook's 15)",
    )
    max_evals: int = Field(default=MODEL.max_evals, description="hyperopt trials")
    timeout_seconds: int = Field(default=MODEL.tuning_timeout_seconds)
    seed: int = MODEL.seed
    floor_roc_auc: float = Field(default=MODEL.floor_roc_auc, description="quality floor")
    floor_average_precision: float = Field(default=MODEL.floor_average_precision)


class ChampionConfig(Config):
    allow_older_cutoff: bool = Field(
        default=False,
        description="let a candidate trained on an earlier cut-off than the champion's take "
        "the alias (a late or replaced old file); off, such a candidate never does",
    )


class ValidationConfig(Config):
    resamples: int = Field(default=MODEL.bootstrap_resamples, description="bootstrap size B")
    unit: str = Field(default=MODEL.bootstrap_unit, description="transaction or customer_day")
    metric: str = Field(default=MODEL.promotion_metric, description="promotion metric")
    alpha: float = Field(default=MODEL.promotion_alpha, description="one-sided level")
    seed: int = MODEL.seed
    alert_max_fpr: float = Field(
        default=SCORING.alert_max_fpr,
        description="alert threshold: the false positive rate it keeps under on the test days",
    )
    alert_daily_budget: int = Field(
        default=SCORING.alert_daily_budget,
        description="alert threshold: at most this many alerts a day instead (0: use the FPR)",
    )


def split_of(partition_key: str, model: ModelSettings = MODEL) -> TimeSplit:
    return TimeSplit(
        date.fromisoformat(partition_key),
        model.train_days,
        model.delay_days,
        model.test_days,
        model.validation_days,
        model.tuning_folds,
    )


def window_rows(
    days: list[str],
    storage: PartitionedParquetIOManager,
    ledger: LandingLedger,
    features: DataFrame,
    split: TimeSplit,
) -> DataFrame:
    """The window's feature rows; every day it reads must be published, and hold rows when a
    landed file holds data for it: a model never trains or tests on an incomplete window."""
    wanted = [split.first_day.isoformat(), split.last_day.isoformat()]
    rows = storage.published_rows([FEATURES], days)
    missing = sorted(set(days) - set(rows))
    if missing:
        raise IncompleteInputError(
            f"partition {split.cutoff} needs the features of {wanted[0]}..{wanted[1]}; "
            f"{len(missing)} days are not materialised ({missing[0]}..{missing[-1]}). "
            "Ingest the files that cover them first."
        )
    holding = ledger.days_with_data(split.first_day, split.last_day)
    empty = sorted(day for day in days if rows[day] == 0 and day in holding)
    if empty:
        raise IncompleteInputError(
            f"partition {split.cutoff}: the features of {len(empty)} days are empty although "
            f"{', '.join(sorted({holding[d] for d in empty}))} holds data for them "
            f"({empty[0]}..{empty[-1]}); materialise {FEATURES} for these days first."
        )
    return features.where(F.col("day").between(*wanted))


def _feature_days(context: AssetExecutionContext) -> list[str]:
    return list(context.asset_partition_keys_for_input("features"))


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 4) for name, value in values.items()}


def _log_trial(trial: Trial) -> None:
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


def _run_tags(context: AssetExecutionContext, asset_name: str) -> dict[str, str]:
    return {
        "dagster.run_id": context.run.run_id,
        "dagster.asset": asset_name,
        "dagster.partition": context.partition_key,
    }


@asset(
    retry_policy=TRANSIENT_RETRY,
    name=CANDIDATE,
    partitions_def=DAILY_PARTITIONS,
    ins={"features": FEATURES_IN},
    group_name=GROUP,
    io_manager_key=RECORDS,
    pool=MODELS_POOL,
    kinds={"spark", "mlflow"},
    check_specs=[
        AssetCheckSpec(
            "quality_floor",
            asset=CANDIDATE,
            blocking=True,
            description="Test-block ROC AUC and average precision reach the configured floor.",
        )
    ],
    description=(
        "A candidate model tuned with hyperopt over the model families by prequential "
        "validation (folds before the cut-off), trained on the window ending at the "
        "partition's day, logged to MLflow and registered in fraud_detector."
    ),
)
def fraud_model(
    context: AssetExecutionContext,
    config: TrainingConfig,
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[dict[str, Any]] | AssetCheckResult]:
    started = time.monotonic()
    split = split_of(context.partition_key)
    rows = window_rows(
        _feature_days(context), parquet_io_manager, ledger, features, split
    ).persist()
    folds = [
        (
            rows.where(F.col("day").isin(fold.train)),
            unseen_customer_rows(rows, fold.train[0], fold.validation, split.delay_days),
        )
        for fold in split.folds
    ]
    train_rows = rows.where(F.col("day").isin(split.train))
    test_rows = unseen_customer_rows(rows, split.train[0], split.test, split.delay_days)
    with mlflow.start_run(
        experiment_id=mlflow_tracking.experiment_id(),
        run_name=f"candidate {context.partition_key}",
        tags=_run_tags(context, CANDIDATE),
    ) as run:
        mlflow.log_params(
            {
                **{f"days_{name}": value for name, value in split.describe().items()},
                "cutoff": context.partition_key,
                "families": ",".join(config.families),
                "max_evals": config.max_evals,
                "tuning_folds": len(split.folds),
                "seed": config.seed,
                "features": ",".join(config.features),
            }
        )
        finished: list[Trial] = []

        def on_trial(trial: Trial) -> None:
            _log_trial(trial)
            finished.append(trial)
            context.log.info(trial_progress(trial, config.max_evals, best_of(finished)))

        tuning = tune(
            folds,
            config.features,
            config.families,
            config.max_evals,
            config.timeout_seconds,
            config.seed,
            on_trial=on_trial,
        )
        best = tuning.best
        model = fit(train_rows, best.params, config.features, config.seed)
        training_rows = train_rows.count()
        table, evaluation = collect_scores(test_rows, {"score": model})
        scores = table["score"].to_numpy()
        test_metrics = evaluate(scores, evaluation)
        importances = feature_importances(model, config.features)
        mlflow.log_params({f"best_{name}": value for name, value in best.params.items()})
        mlflow.log_metrics({f"val_{name}": value for name, value in best.metrics.items()})
        mlflow.log_metrics({f"test_{name}": value for name, value in test_metrics.items()})
        mlflow.log_metrics(
            {
                "train_rows": training_rows,
                "test_rows": len(table),
                "test_frauds": int(table[LABEL].sum()),
            }
        )
        test_curves = {"candidate": curves(scores, table[LABEL].to_numpy())}
        mlflow.log_figure(plots.roc_figure(test_curves), "plots/roc_test.png")
        mlflow.log_figure(plots.precision_recall_figure(test_curves), "plots/pr_test.png")
        mlflow.log_figure(plots.importance_figure(importances), "plots/importances.png")
        mlflow.log_dict(importances, "feature_importances.json")
        # Inputs as trained on; the score as it came out on every row of days the model never
        # saw (the test block, known compromised cards included, as scoring meets them).
        reference = sampled_columns(
            train_rows, stored_inputs(config.features), training_rows, PROFILE_ROWS, config.seed
        )
        test_block = rows.where(F.col("day").isin(split.test))
        test_sample = sample_of(test_block, test_block.count(), PROFILE_ROWS, config.seed)
        reference[SCORE] = (
            with_scores(test_sample, {SCORE: model}).select(SCORE).toPandas()[SCORE].to_numpy()
        )
        mlflow.log_dict(
            profile_to_json(build_profile(reference, config.seed)), registry.PROFILE_ARTIFACT
        )
        # Doubles, as the pipeline reads them: integer columns would refuse missing values.
        example = (
            test_rows.select(*[F.col(n).cast("double") for n in stored_inputs(config.features)])
            .limit(5)
            .toPandas()
        )
        floors = {
            "roc_auc": config.floor_roc_auc,
            "average_precision": config.floor_average_precision,
        }
        floor = checks.quality_floor(test_metrics, floors)
        mlflow.set_tag("quality_floor", "passed" if floor.passed else "failed")
        logged = mlflow.spark.log_model(
            model,
            artifact_path="model",
            signature=infer_signature(example, scores[: len(example)]),
            input_example=example,
        )
        try:
            log_portable(model, stored_inputs(config.features))
        except NotPortableError as error:
            context.log.warning(f"the model has no real-time form: {error}")
        # Only a candidate above the floor enters the registry, so no version below it can
        # ever be validated or promoted; the model of one below stays in its run to inspect.
        if floor.passed:
            registered = mlflow.register_model(
                logged.model_uri, REGISTERED_MODEL, tags=_run_tags(context, CANDIDATE)
            )
            version = str(registered.version)
    rows.unpersist()
    yield from gate(CANDIDATE, {"quality_floor": floor}, discard=lambda: None)
    record = {
        "cutoff": context.partition_key,
        "run_id": run.info.run_id,
        "version": version,
        "model_uri": f"models:/{REGISTERED_MODEL}/{version}",
        "params": best.params,
        "features": list(config.features),
        "validation_metrics": best.metrics,
        "test_metrics": test_metrics,
        "quality_floor": {"passed": floor.passed, "floors": floors},
        "days": split.describe(),
        "trials": len(tuning.trials),
        "trial_seconds": [round(t.seconds, 1) for t in tuning.trials],
        "train_rows": training_rows,
        "test_rows": len(table),
        "seconds": round(time.monotonic() - started, 1),
    }
    trials = [
        {"trial": t.number, "family": t.params["family"], OBJECTIVE: t.metrics.get(OBJECTIVE)}
        for t in tuning.trials
    ]
    yield Output(
        record,
        metadata={
            "mlflow_run": MetadataValue.url(mlflow_tracking.run_url(run.info.run_id)),
            "model_version": MetadataValue.url(mlflow_tracking.model_version_url(version)),
            "version": version,
            "family": best.params["family"],
            **{f"test_{name}": value for name, value in _rounded(test_metrics).items()},
            "test_rows": len(table),
            "trials": MetadataValue.md(markdown_table(trials)),
            "best_params": MetadataValue.json(best.params),
            **{f"window_{name}": value for name, value in split.describe().items()},
            "seconds": round(time.monotonic() - started, 1),
        },
    )


def _comparison_rows(comparisons: dict[str, Any]) -> list[dict[str, Any]]:
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


@asset(
    retry_policy=TRANSIENT_RETRY,
    name=VALIDATION,
    partitions_def=DAILY_PARTITIONS,
    ins={"candidate": AssetIn(CANDIDATE), "features": FEATURES_IN},
    group_name=GROUP,
    io_manager_key=RECORDS,
    pool=MODELS_POOL,
    kinds={"spark", "mlflow"},
    description=(
        "The candidate against the current champion on the same held-out test block (cards "
        "known as compromised removed), by a paired bootstrap."
    ),
)
def model_validation(
    context: AssetExecutionContext,
    config: ValidationConfig,
    candidate: dict[str, Any],
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Output[dict[str, Any]]:
    started = time.monotonic()
    if config.metric not in METRICS:
        raise ValueError(f"promotion metric {config.metric!r} is not one of {METRICS}")
    split = split_of(context.partition_key)
    rows = window_rows(_feature_days(context), parquet_io_manager, ledger, features, split)
    test_rows = unseen_customer_rows(rows, split.train[0], split.test, split.delay_days)
    current = registry.champion_version(mlflow_tracking.client())
    compared_with = (
        None
        if current is None or current.version == candidate["version"]
        else (str(current.version))
    )
    models = {"candidate": mlflow.spark.load_model(candidate["model_uri"])}
    if compared_with:
        models["champion"] = mlflow.spark.load_model(f"models:/{REGISTERED_MODEL}/{compared_with}")
    table, evaluation = collect_scores(test_rows, models)
    labels = table[LABEL].to_numpy()
    with mlflow.start_run(
        experiment_id=mlflow_tracking.experiment_id(),
        run_name=f"validation {context.partition_key}",
        tags={**_run_tags(context, VALIDATION), "mlflow.parentRunId": candidate["run_id"]},
    ) as run:
        mlflow.log_params({**vars(config), "compared_with": compared_with or "none"})
        mlflow.log_param("candidate_version", candidate["version"])
        test_curves = {name: curves(table[name].to_numpy(), labels) for name in models}
        mlflow.log_figure(plots.roc_figure(test_curves), "plots/roc.png")
        mlflow.log_figure(plots.precision_recall_figure(test_curves), "plots/pr.png")
        if compared_with:
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
            table_md = markdown_table(_comparison_rows(comparisons))
        else:
            estimates = bootstrap_single(
                table["candidate"].to_numpy(),
                evaluation,
                resamples=config.resamples,
                unit=config.unit,
                seed=config.seed,
            )
            comparisons = {name: {"candidate": vars(e)} for name, e in estimates.items()}
            significant = False
            summary = "no champion to compare with"
            mlflow.log_metrics(
                {f"{name}.candidate": e.observed for name, e in estimates.items()}
                | {f"{name}.candidate_std": e.std for name, e in estimates.items()}
            )
            table_md = markdown_table(
                [
                    {
                        "metric": name,
                        "candidate": f"{e.observed:.4f}",
                        "95% CI": f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
                    }
                    for name, e in estimates.items()
                ]
            )
        mlflow.log_dict(comparisons, "bootstrap.json")
        mlflow.set_tag("significant", str(significant))
        rule = AlertRule(config.alert_max_fpr, config.alert_daily_budget)
        candidate_scores = table["candidate"].to_numpy()
        threshold = rule.threshold(candidate_scores, evaluation)
        alert_rate = float((candidate_scores >= threshold).mean())
        lower_bound = comparisons["average_precision"]["candidate"]["ci_low"]
        mlflow.log_param("alert_rule", rule.describe())
        mlflow.log_metrics({"alert_rate": alert_rate, "average_precision.ci_low": lower_bound})
        if np.isfinite(threshold):
            mlflow.log_metric("alert_threshold", threshold)
    registry.record_serving(
        mlflow_tracking.client(), candidate["version"], threshold, rule.describe(), lower_bound
    )
    record = {
        "cutoff": context.partition_key,
        "candidate_version": candidate["version"],
        "compared_with": compared_with,
        "metric": config.metric,
        "alpha": config.alpha,
        "resamples": config.resamples,
        "unit": config.unit,
        "significant": significant,
        "summary": summary,
        "evidence": run.info.run_id,
        "comparisons": comparisons,
        "test_rows": len(table),
        "test_frauds": int(labels.sum()),
        "quality_floor_passed": bool(candidate.get("quality_floor", {}).get("passed")),
        "alert_threshold": threshold,
        "alert_rule": rule.describe(),
        "average_precision_ci_low": lower_bound,
    }
    return Output(
        record,
        metadata={
            "mlflow_run": MetadataValue.url(mlflow_tracking.run_url(run.info.run_id)),
            "candidate_version": candidate["version"],
            "compared_with": compared_with or "none",
            "significant": significant,
            "summary": summary,
            "comparison": MetadataValue.md(table_md),
            "test_rows": len(table),
            "test_frauds": int(labels.sum()),
            "alert_threshold": threshold,
            "alert_rule": rule.describe(),
            "test_alert_rate": round(alert_rate, 5),
            "seconds": round(time.monotonic() - started, 1),
        },
    )


_SAMPLE_ROWS = 1000


@asset(
    retry_policy=TRANSIENT_RETRY,
    name=CHAMPION,
    partitions_def=DAILY_PARTITIONS,
    ins={"validation": AssetIn(VALIDATION), "features": FEATURES_IN},
    group_name=GROUP,
    io_manager_key=RECORDS,
    pool=MODELS_POOL,
    kinds={"mlflow"},
    check_specs=[
        AssetCheckSpec(
            "champion_serves",
            asset=CHAMPION,
            blocking=True,
            description="The champion alias exists; its model loads and scores current features.",
        )
    ],
    description=(
        "The decision: the alias `champion` of fraud_detector moves to the candidate only on a "
        "significant gain (the first candidate above the floor becomes champion)."
    ),
)
def champion_model(
    context: AssetExecutionContext,
    config: ChampionConfig,
    validation: dict[str, Any],
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[dict[str, Any]] | AssetCheckResult]:
    client = mlflow_tracking.client()
    candidate, evidence = validation["candidate_version"], validation["evidence"]
    current = registry.champion_version(client)
    decision = registry.decide(
        candidate=candidate,
        champion=str(current.version) if current else None,
        compared_with=validation["compared_with"],
        significant=validation["significant"],
        evidence_already_used=registry.evidence_used(client, candidate, evidence),
        summary=validation["summary"],
        floor_passed=bool(validation.get("quality_floor_passed")),
        candidate_cutoff=validation["cutoff"],
        champion_cutoff=registry.cutoff_of(current),
        allow_older_cutoff=config.allow_older_cutoff,
    )
    split = split_of(context.partition_key)
    sample = (
        window_rows(_feature_days(context), parquet_io_manager, ledger, features, split)
        .where(F.col("day").isin(split.test))
        .limit(_SAMPLE_ROWS)
    )
    sampled = sample.count()
    # The version to serve is loaded from the registry and scores current features before
    # the alias can move to it; a candidate that cannot serve never becomes champion.
    serving = candidate if decision.promote else (str(current.version) if current else None)
    scores = np.array([])
    if serving:
        model = mlflow.spark.load_model(f"models:/{REGISTERED_MODEL}/{serving}")
        table, _ = collect_scores(sample, {"score": model})
        scores = table["score"].to_numpy()
    outcome = checks.champion_scores(scores, sampled, serving)
    if decision.promote and outcome.passed:
        registry.promote(client, candidate, evidence, decision.reason)
        context.log.info(f"champion is now version {candidate}: {decision.reason}")
    else:
        context.log.info(f"champion unchanged: {decision.reason}")
    after = registry.champion_version(client)
    champion = str(after.version) if after else None
    if outcome.passed and champion != serving:
        outcome = checks.CheckOutcome(
            False, f"the alias points at version {champion}, expected {serving}", outcome.metadata
        )
    context.log_event(alias_observation(client))
    yield from gate(CHAMPION, {"champion_serves": outcome}, discard=lambda: None)
    record = {
        "cutoff": context.partition_key,
        "champion_version": champion,
        "previous_champion": str(current.version) if current else None,
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate_version": candidate,
        "evidence": evidence,
    }
    metadata: dict[str, Any] = {
        "champion_version": champion or "none",
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate_version": candidate,
    }
    if champion:
        metadata["champion_model"] = MetadataValue.url(mlflow_tracking.model_version_url(champion))
    yield Output(record, metadata=metadata)


def alias_observation(client: MlflowClient) -> AssetObservation:
    """The alias as an observation of `champion_alias`: its data version is the champion."""
    current = registry.champion_version(client)
    version = str(current.version) if current else "none"
    return AssetObservation(
        asset_key=ALIAS,
        tags={DATA_VERSION_TAG: version},
        metadata={"champion_version": version, "cutoff": registry.cutoff_of(current) or "none"},
    )


@observable_source_asset(
    name=ALIAS,
    group_name=GROUP,
    required_resource_keys={"mlflow_tracking"},
    description=f"The `champion` alias of {REGISTERED_MODEL}: its data version is the model "
    "version that scores, so a move marks the days scored before it as stale.",
)
def champion_alias(context: OpExecutionContext) -> ObserveResult:
    observation = alias_observation(context.resources.mlflow_tracking.client())
    return ObserveResult(
        data_version=DataVersion(observation.tags[DATA_VERSION_TAG]),
        metadata=observation.metadata,
    )
