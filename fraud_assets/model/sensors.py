"""What starts a model partition: a file's features being done while there is no champion
yet (or after every file, with FRAUD_TRAIN_ON_EVERY_FILE), or an optional weekly schedule.
Retraining once a champion serves is asked for by monitoring (scoring/sensors.py).

All pick the cut-off whose test block ends on the last feature day there is, and only when
the days it reads (its earliest tuning fold) start after the features' first full look-back
(earlier feature days were computed from a truncated history).
"""

from datetime import date, timedelta

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SkipReason,
    schedule,
)

from fraud_assets.common.decorators import after_success
from fraud_assets.features.assets import FEATURES
from fraud_assets.features.transforms import LOOKBACK_DAYS
from fraud_assets.model import registry
from fraud_assets.partitions import RANGE_END_TAG
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.rules import ModelRules
from fraud_assets.settings import ModelSettings, Settings


def first_complete_day(partitions_start: date) -> date:
    """The first day whose features saw their whole look-back."""
    return partitions_start + timedelta(days=LOOKBACK_DAYS)


def cutoff_for(
    last_feature_day: date, model: ModelSettings | ModelRules, earliest: date
) -> date | None:
    """The cut-off whose test block ends on `last_feature_day`, if its window starts on or
    after `earliest`."""
    cutoff = last_feature_day - timedelta(days=model.delay_days + model.test_days)
    first_day_read = cutoff - timedelta(days=model.days_to_cutoff - 1)
    return cutoff if first_day_read >= earliest else None


def latest_cutoff(last_day: str, rules: ModelRules) -> date | None:
    """The cut-off of the model partition whose test block ends on `last_day`, under the
    configured windows, if its days have a full look-back."""
    earliest = first_complete_day(date.fromisoformat(rules.partitions_start))
    return cutoff_for(date.fromisoformat(last_day), rules, earliest)


def request_for(last_day: str, run_key: str, rules: ModelRules) -> RunRequest | SkipReason:
    cutoff = latest_cutoff(last_day, rules)
    if cutoff is None:
        earliest = first_complete_day(date.fromisoformat(rules.partitions_start))
        return SkipReason(
            f"features end on {last_day}: a model partition ending "
            f"{rules.delay_days + rules.test_days} days earlier would read "
            f"{rules.days_to_cutoff} days (its tuning folds) up to it, starting before "
            f"{earliest}, the first day with a full look-back"
        )
    return RunRequest(run_key=run_key, partition_key=cutoff.isoformat())


def first_model_request(
    context: RunStatusSensorContext, mlflow_tracking: MlflowResource, rules: ModelRules
) -> RunRequest | SkipReason:
    """After a landed file's run: the latest model partition, while no champion serves."""
    tags = context.dagster_run.tags
    last_day = tags.get(RANGE_END_TAG) or tags.get("dagster/partition")
    if not last_day:
        return SkipReason(f"run {context.dagster_run.run_id} names no partition")
    champion = registry.champion_version(mlflow_tracking.client())
    if champion is not None and not rules.train_on_every_file:
        return SkipReason(
            f"version {champion.version} is champion: retraining follows monitoring "
            "(retrain_on_degradation) or the weekly schedule; FRAUD_TRAIN_ON_EVERY_FILE=true "
            "trains after every file"
        )
    return request_for(last_day, f"after-{context.dagster_run.run_id}", rules)


def model_automation(
    settings: Settings, process_landed_file, train_model
) -> tuple[SensorDefinition, ScheduleDefinition]:
    """The sensor that trains after a landed file's run, and the weekly schedule."""

    @after_success(
        settings,
        [process_landed_file],
        train_model,
        "Trains the first model when a file's features are done (every file's, with "
        "FRAUD_TRAIN_ON_EVERY_FILE).",
    )
    def model_on_new_features(
        context: RunStatusSensorContext, mlflow_tracking: MlflowResource, model_rules: ModelRules
    ) -> RunRequest | SkipReason:
        return first_model_request(context, mlflow_tracking, model_rules)

    @schedule(
        job=train_model,
        cron_schedule="0 3 * * 1",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Weekly retraining on the latest features (off by default).",
    )
    def weekly_retraining(
        context: ScheduleEvaluationContext, model_rules: ModelRules
    ) -> RunRequest | SkipReason:
        days = context.instance.get_materialized_partitions(AssetKey(FEATURES))
        if not days:
            return SkipReason(f"{FEATURES} has no materialised day yet")
        latest = max(days)
        return request_for(latest, f"scheduled-{latest}", model_rules)

    return model_on_new_features, weekly_retraining
