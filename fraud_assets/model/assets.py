"""`fraud_model` -> `model_validation` -> `champion_model`, partitioned by cut-off day.

A partition's key is the last day of its training window; the delay and test days follow it
(`TimeSplit`). The feature days a partition reads are its input's partition mapping, so the
UI draws them and a changed feature day marks the model stale. The windows come from the
settings the definitions were built with: the mapping at definition time, and the split from
the `model_rules` resource made from the same settings.
"""

import time
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetObservation,
    AssetsDefinition,
    Config,
    DataVersion,
    MetadataValue,
    ObserveResult,
    OpExecutionContext,
    Output,
    ResourceParam,
    TimeWindowPartitionMapping,
    observable_source_asset,
)
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome, gate
from fraud_assets.common.decorators import RECORD_IO_MANAGER, DayAssets, blocking_checks
from fraud_assets.errors import IncompleteInputError
from fraud_assets.features.assets import FEATURES
from fraud_assets.features.transforms import MODEL_FEATURES
from fraud_assets.metadata import markdown_table
from fraud_assets.model import checks, plots, registry
from fraud_assets.model.candidate import (
    log_and_register,
    log_reference_profile,
    log_test_results,
    train_and_test,
    tune_on_folds,
)
from fraud_assets.model.metrics import METRICS, curves
from fraud_assets.model.training import LABEL, TimeSplit, collect_scores, unseen_customer_rows
from fraud_assets.model.tuning import OBJECTIVE
from fraud_assets.model.validation import against_champion, alert_choice, alone
from fraud_assets.partitions import MODELS_POOL
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.mlflow import REGISTERED_MODEL, MlflowResource
from fraud_assets.resources.rules import ModelRules
from fraud_assets.resources.storage import PartitionedParquetIOManager
from fraud_assets.settings import ModelSettings, Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

GROUP = "model"
CANDIDATE = "fraud_model"
VALIDATION = "model_validation"
CHAMPION = "champion_model"
ALIAS = "champion_alias"
# The tag of an observation that carries the observed asset's data version.
DATA_VERSION_TAG = "dagster/data_version"
_SAMPLE_ROWS = 1000
_FROM_RULES = "unset: the model_rules resource's value"


class TrainingConfig(Config):
    """Run config of a candidate; what is left unset comes from the `model_rules` resource."""

    families: list[str] | None = Field(default=None, description=f"model families ({_FROM_RULES})")
    features: list[str] = Field(
        default=list(MODEL_FEATURES),
        description="model inputs: stored features and derived ones (REFERENCE_FEATURES for "
        "the handbook's 15)",
    )
    max_evals: int | None = Field(default=None, description=f"hyperopt trials ({_FROM_RULES})")
    timeout_seconds: int | None = Field(default=None, description=_FROM_RULES)
    seed: int | None = Field(default=None, description=_FROM_RULES)
    floor_roc_auc: float | None = Field(default=None, description=f"quality floor ({_FROM_RULES})")
    floor_average_precision: float | None = Field(default=None, description=_FROM_RULES)


class ChampionConfig(Config):
    allow_older_cutoff: bool = Field(
        default=False,
        description="let a candidate trained on an earlier cut-off than the champion's take "
        "the alias (a late or replaced old file); off, such a candidate never does",
    )


class ValidationConfig(Config):
    """Run config of a validation; what is left unset comes from the `model_rules` resource."""

    resamples: int | None = Field(default=None, description=f"bootstrap size B ({_FROM_RULES})")
    unit: str | None = Field(default=None, description="transaction or customer_day")
    metric: str | None = Field(default=None, description="promotion metric")
    alpha: float | None = Field(default=None, description="one-sided level")
    seed: int | None = Field(default=None, description=_FROM_RULES)
    alert_max_fpr: float | None = Field(
        default=None,
        description="alert threshold: the false positive rate it keeps under on the test days",
    )
    alert_daily_budget: int | None = Field(
        default=None,
        description="alert threshold: at most this many alerts a day instead (0: use the FPR)",
    )


Configured = TypeVar("Configured", bound=Config)


def settled(config: Configured, rules: ModelRules) -> Configured:
    """The run config with every unset field taken from the rules."""
    unset = {name: getattr(rules, name) for name, value in config if value is None}
    return config.model_copy(update=unset)


def split_of(partition_key: str, model: ModelSettings | ModelRules) -> TimeSplit:
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
    rows = storage.require_published([FEATURES], days, f"partition {split.cutoff}")
    holding = ledger.days_with_data(split.first_day, split.last_day)
    empty = sorted(day for day in days if rows[day] == 0 and day in holding)
    if empty:
        raise IncompleteInputError(
            f"partition {split.cutoff}: the features of {len(empty)} days are empty although "
            f"{', '.join(sorted({holding[d] for d in empty}))} holds data for them "
            f"({empty[0]}..{empty[-1]}); materialise {FEATURES} for these days first."
        )
    return features.where(F.col("day").between(*wanted))


def _window(
    context: AssetExecutionContext,
    rules: ModelRules,
    storage: PartitionedParquetIOManager,
    ledger: LandingLedger,
    features: DataFrame,
) -> tuple[TimeSplit, DataFrame]:
    split = split_of(context.partition_key, rules)
    days = list(context.asset_partition_keys_for_input("features"))
    return split, window_rows(days, storage, ledger, features, split)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 4) for name, value in values.items()}


def _run_tags(context: AssetExecutionContext, asset_name: str) -> dict[str, str]:
    return {
        "dagster.run_id": context.run.run_id,
        "dagster.asset": asset_name,
        "dagster.partition": context.partition_key,
    }


def fraud_model(
    context: AssetExecutionContext,
    config: TrainingConfig,
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    model_rules: ModelRules,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[dict[str, Any]] | AssetCheckResult]:
    import mlflow

    started = time.monotonic()
    config = settled(config, model_rules)
    split, rows = _window(context, model_rules, parquet_io_manager, ledger, features)
    rows = rows.persist()
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
        tuning = tune_on_folds(rows, split, config, context.log.info)
        tested = train_and_test(rows, split, tuning.best.params, config)
        log_test_results(tested, tuning.best, config)
        log_reference_profile(rows, split, tested, config)
        floors = {
            "roc_auc": config.floor_roc_auc,
            "average_precision": config.floor_average_precision,
        }
        floor = checks.quality_floor(tested.metrics, floors)
        tags = _run_tags(context, CANDIDATE)
        version = log_and_register(tested, config, floor, tags, context.log.warning)
    rows.unpersist()
    yield from gate(CANDIDATE, {"quality_floor": floor}, discard=lambda: None)
    best, seconds = tuning.best, round(time.monotonic() - started, 1)
    record = {
        "cutoff": context.partition_key,
        "run_id": run.info.run_id,
        "version": version,
        "model_uri": f"models:/{REGISTERED_MODEL}/{version}",
        "params": best.params,
        "features": list(config.features),
        "validation_metrics": best.metrics,
        "test_metrics": tested.metrics,
        "quality_floor": {"passed": floor.passed, "floors": floors},
        "days": split.describe(),
        "trials": len(tuning.trials),
        "trial_seconds": [round(t.seconds, 1) for t in tuning.trials],
        "train_rows": tested.training_rows,
        "test_rows": len(tested.table),
        "seconds": seconds,
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
            **{f"test_{name}": value for name, value in _rounded(tested.metrics).items()},
            "test_rows": len(tested.table),
            "trials": MetadataValue.md(markdown_table(trials)),
            "best_params": MetadataValue.json(best.params),
            **{f"window_{name}": value for name, value in split.describe().items()},
            "seconds": seconds,
        },
    )


def model_validation(
    context: AssetExecutionContext,
    config: ValidationConfig,
    candidate: dict[str, Any],
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    model_rules: ModelRules,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Output[dict[str, Any]]:
    import mlflow.spark

    started = time.monotonic()
    config = settled(config, model_rules)
    if config.metric not in METRICS:
        raise ValueError(f"promotion metric {config.metric!r} is not one of {METRICS}")
    split, rows = _window(context, model_rules, parquet_io_manager, ledger, features)
    test_rows = unseen_customer_rows(rows, split.train[0], split.test, split.delay_days)
    current = registry.champion_version(mlflow_tracking.client())
    compared_with = (
        None if current is None or current.version == candidate["version"] else str(current.version)
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
        compare = against_champion if compared_with else alone
        comparison = compare(table, evaluation, config)
        mlflow.log_dict(comparison.comparisons, "bootstrap.json")
        mlflow.set_tag("significant", str(comparison.significant))
        alerts = alert_choice(table["candidate"].to_numpy(), evaluation, comparison, config)
    registry.record_serving(
        mlflow_tracking.client(),
        candidate["version"],
        alerts.threshold,
        alerts.rule.describe(),
        alerts.lower_bound,
    )
    summary = {
        "candidate_version": candidate["version"],
        "significant": comparison.significant,
        "summary": comparison.summary,
        "test_rows": len(table),
        "test_frauds": int(labels.sum()),
        "alert_threshold": alerts.threshold,
        "alert_rule": alerts.rule.describe(),
    }
    record = {
        **summary,
        "cutoff": context.partition_key,
        "compared_with": compared_with,
        "metric": config.metric,
        "alpha": config.alpha,
        "resamples": config.resamples,
        "unit": config.unit,
        "evidence": run.info.run_id,
        "comparisons": comparison.comparisons,
        "quality_floor_passed": bool(candidate.get("quality_floor", {}).get("passed")),
        "average_precision_ci_low": alerts.lower_bound,
    }
    return Output(
        record,
        metadata={
            **summary,
            "mlflow_run": MetadataValue.url(mlflow_tracking.run_url(run.info.run_id)),
            "compared_with": compared_with or "none",
            "comparison": MetadataValue.md(comparison.table),
            "test_alert_rate": round(alerts.alert_rate, 5),
            "seconds": round(time.monotonic() - started, 1),
        },
    )


def champion_model(
    context: AssetExecutionContext,
    config: ChampionConfig,
    validation: dict[str, Any],
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    model_rules: ModelRules,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[dict[str, Any]] | AssetCheckResult]:
    client = mlflow_tracking.client()
    candidate, evidence = validation["candidate_version"], validation["evidence"]
    current = registry.champion_version(client)
    previous = str(current.version) if current else None
    decision = registry.decide(
        candidate=candidate,
        champion=previous,
        compared_with=validation["compared_with"],
        significant=validation["significant"],
        evidence_already_used=registry.evidence_used(client, candidate, evidence),
        summary=validation["summary"],
        floor_passed=bool(validation.get("quality_floor_passed")),
        candidate_cutoff=validation["cutoff"],
        champion_cutoff=registry.cutoff_of(current),
        allow_older_cutoff=config.allow_older_cutoff,
    )
    split, rows = _window(context, model_rules, parquet_io_manager, ledger, features)
    sample = rows.where(F.col("day").isin(split.test)).limit(_SAMPLE_ROWS)
    # The version to serve is loaded from the registry and scores current features before
    # the alias can move to it; a candidate that cannot serve never becomes champion.
    serving = candidate if decision.promote else previous
    outcome = checks.champion_scores(_scores_of(serving, sample), sample.count(), serving)
    if decision.promote and outcome.passed:
        registry.promote(client, candidate, evidence, decision.reason)
        context.log.info(f"champion is now version {candidate}: {decision.reason}")
    else:
        context.log.info(f"champion unchanged: {decision.reason}")
    after = registry.champion_version(client)
    champion = str(after.version) if after else None
    if outcome.passed and champion != serving:
        outcome = CheckOutcome(
            False, f"the alias points at version {champion}, expected {serving}", outcome.metadata
        )
    context.log_event(alias_observation(client))
    yield from gate(CHAMPION, {"champion_serves": outcome}, discard=lambda: None)
    summary = {"promoted": decision.promote, "reason": decision.reason}
    record = {
        **summary,
        "cutoff": context.partition_key,
        "champion_version": champion,
        "previous_champion": previous,
        "candidate_version": candidate,
        "evidence": evidence,
    }
    metadata: dict[str, Any] = {
        **summary,
        "champion_version": champion or "none",
        "candidate_version": candidate,
    }
    if champion:
        metadata["champion_model"] = MetadataValue.url(mlflow_tracking.model_version_url(champion))
    yield Output(record, metadata=metadata)


def _scores_of(version: str | None, sample: DataFrame) -> np.ndarray:
    """The scores that a registered version gives the sample (none without a version)."""
    if not version:
        return np.array([])
    import mlflow.spark

    model = mlflow.spark.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    table, _ = collect_scores(sample, {"score": model})
    return table["score"].to_numpy()


def alias_observation(client: "MlflowClient") -> AssetObservation:
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


def feature_window(model: ModelSettings) -> TimeWindowPartitionMapping:
    """The feature days of a partition: its tuning folds, training window, delay and test."""
    return TimeWindowPartitionMapping(
        start_offset=-(model.days_to_cutoff - 1),
        end_offset=model.delay_days + model.test_days,
        allow_nonexistent_upstream_partitions=True,
    )


def model_assets(settings: Settings) -> list[AssetsDefinition]:
    """The three model assets of a cut-off day and the observed champion alias."""
    days = DayAssets.of(settings, GROUP, MODELS_POOL)
    features_in = AssetIn(FEATURES, partition_mapping=feature_window(settings.model))

    def model_asset(name: str, kinds: tuple[str, ...], **spec: Any):
        return days.asset(
            name, kinds=kinds, io_manager_key=RECORD_IO_MANAGER, single_run=False, **spec
        )

    candidate = model_asset(
        CANDIDATE,
        ("spark", "mlflow"),
        ins={"features": features_in},
        check_specs=blocking_checks(
            CANDIDATE,
            {
                "quality_floor": "Test-block ROC AUC and average precision reach the "
                "configured floor."
            },
        ),
        description=(
            "A candidate model tuned with hyperopt over the model families by prequential "
            "validation (folds before the cut-off), trained on the window ending at the "
            "partition's day, logged to MLflow and registered in fraud_detector."
        ),
    )(fraud_model)
    validation = model_asset(
        VALIDATION,
        ("spark", "mlflow"),
        ins={"candidate": AssetIn(CANDIDATE), "features": features_in},
        description=(
            "The candidate against the current champion on the same held-out test block (cards "
            "known as compromised removed), by a paired bootstrap."
        ),
    )(model_validation)
    champion = model_asset(
        CHAMPION,
        ("mlflow",),
        ins={"validation": AssetIn(VALIDATION), "features": features_in},
        check_specs=blocking_checks(
            CHAMPION,
            {
                "champion_serves": "The champion alias exists; its model loads and scores "
                "current features."
            },
        ),
        description=(
            "The decision: the alias `champion` of fraud_detector moves to the candidate only "
            "on a significant gain (the first candidate above the floor becomes champion)."
        ),
    )(champion_model)
    return [candidate, validation, champion, champion_alias]
