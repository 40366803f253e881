"""What keeps the champion at work: scoring new days, measuring them once their labels are
known, watching the alias, and retraining when monitoring says the champion has slipped.

Retraining is asked for at most once per cut-off (a run tagged with it, or a candidate already
trained for it, means no second one) and never without labelled days the champion has not
trained on (the latest cut-off must lie after the champion's).
"""

from __future__ import annotations

from datetime import date, timedelta

from dagster import (
    AssetKey,
    DagsterEventType,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets.common.decorators import after_success
from fraud_assets.features.assets import FEATURES
from fraud_assets.model import registry
from fraud_assets.model.assets import ALIAS, CANDIDATE, DATA_VERSION_TAG, alias_observation
from fraud_assets.model.sensors import latest_cutoff
from fraud_assets.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.rules import ModelRules
from fraud_assets.scoring.assets import MONITORING_CHECKS, PERFORMANCE, SCORED
from fraud_assets.settings import Settings

RETRAIN_TAG = "fraud_assets/retrain_cutoff"
RETRAIN_REASON_TAG = "fraud_assets/retrain_reason"


def _materialized(context: RunStatusSensorContext | SensorEvaluationContext, name: str) -> set:
    return set(context.instance.get_materialized_partitions(AssetKey(name)))


def days_to_score(feature_days: set[str], scored_days: set[str], after: str | None) -> list[str]:
    """Feature days after the champion's cut-off that hold no scores yet."""
    return sorted(day for day in feature_days - scored_days if after is None or day > after)


def days_to_measure(
    scored_days: set[str], measured_days: set[str], feature_days: set[str], delay_days: int
) -> list[str]:
    """Scored days not measured yet whose labels are known: the features of the day `delay_days`
    later exist."""
    if not feature_days:
        return []
    known_until = (date.fromisoformat(max(feature_days)) - timedelta(days=delay_days)).isoformat()
    return sorted(day for day in scored_days - measured_days if day <= known_until)


def _range_request(days: list[str], run_key: str) -> RunRequest:
    return RunRequest(run_key=run_key, tags=range_tags(days[0], days[-1]))


def days_to_score_request(
    context: RunStatusSensorContext, mlflow_tracking: MlflowResource
) -> RunRequest | SkipReason:
    """After a landed file's or a model partition's run: the feature days left to score."""
    champion = registry.champion_version(mlflow_tracking.client())
    if champion is None:
        return SkipReason("no champion yet: nothing scores until a model partition promotes one")
    after = registry.cutoff_of(champion)
    scored = _materialized(context, SCORED)
    tags = context.dagster_run.tags
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first and last:
        # A landed file's days are scored again: their features were just (re)written.
        scored = {day for day in scored if not first <= day <= last}
    days = days_to_score(_materialized(context, FEATURES), scored, after)
    if not days:
        return SkipReason(f"every feature day after cut-off {after} is scored")
    return _range_request(days, f"score-after-{context.dagster_run.run_id}")


def days_to_measure_request(
    context: RunStatusSensorContext, rules: ModelRules
) -> RunRequest | SkipReason:
    """After a scoring run: the scored days whose labels became known."""
    days = days_to_measure(
        _materialized(context, SCORED),
        _materialized(context, PERFORMANCE),
        _materialized(context, FEATURES),
        rules.delay_days,
    )
    if not days:
        return SkipReason("no scored day has newly known labels")
    return _range_request(days, f"measure-after-{context.dagster_run.run_id}")


def failed_monitoring_checks(context: RunStatusSensorContext) -> list[str]:
    records = context.instance.get_records_for_run(
        context.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [
        f"{e.check_name}: {e.description}"
        for e in evaluations
        if e.check_name in MONITORING_CHECKS and not e.passed
    ]


def retraining_request(
    context: RunStatusSensorContext, mlflow_tracking: MlflowResource, rules: ModelRules
) -> RunRequest | SkipReason:
    """After a scoring or measuring run whose monitoring checks failed: the latest cut-off."""
    failed = failed_monitoring_checks(context)
    if not failed:
        return SkipReason(f"monitoring checks of run {context.dagster_run.run_id} passed")
    features = _materialized(context, FEATURES)
    if not features:
        return SkipReason(f"{FEATURES} has no materialised day")
    latest = max(features)
    found = latest_cutoff(latest, rules)
    if found is None:
        return SkipReason(f"features end on {latest}: no model partition has its days yet")
    cutoff = found.isoformat()
    champion_cutoff = registry.cutoff_of(registry.champion_version(mlflow_tracking.client()))
    if champion_cutoff and cutoff <= champion_cutoff:
        return SkipReason(
            f"monitoring failed ({failed[0]}), but the latest cut-off {cutoff} adds no labelled "
            f"day to the champion's {champion_cutoff}: retraining waits for new labels"
        )
    if cutoff in _materialized(context, CANDIDATE) or context.instance.get_runs(
        RunsFilter(tags={RETRAIN_TAG: cutoff}), limit=1
    ):
        return SkipReason(f"cut-off {cutoff} was already trained or requested")
    return RunRequest(
        run_key=f"retrain-{cutoff}",
        partition_key=cutoff,
        tags={RETRAIN_TAG: cutoff, RETRAIN_REASON_TAG: "; ".join(failed)[:1000]},
    )


@sensor(
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=f"Observes {ALIAS} when the alias moved outside a run (a rollback), so the "
    "days it scored show as stale.",
)
def champion_alias_watch(
    context: SensorEvaluationContext, mlflow_tracking: MlflowResource
) -> SensorResult | SkipReason:
    observation = alias_observation(mlflow_tracking.client())
    current = observation.tags[DATA_VERSION_TAG]
    last = context.instance.get_latest_data_version_record(AssetKey(ALIAS), is_source=True)
    seen = last.asset_observation.tags.get(DATA_VERSION_TAG) if last else None
    if seen == current:
        return SkipReason(f"the champion is still version {current}")
    return SensorResult(asset_events=[observation])


def scoring_automation(
    settings: Settings, process_landed_file, train_model, score_days, measure_performance
) -> list[SensorDefinition]:
    """The sensors that score new days, measure them, retrain on degradation and watch the
    alias, each on the jobs it follows and requests."""

    @after_success(
        settings,
        [process_landed_file, train_model],
        score_days,
        "Scores new feature days (a landed file's, or those after a new champion's cut-off) "
        "with the champion, and queues their alerts.",
    )
    def score_new_days(
        context: RunStatusSensorContext, mlflow_tracking: MlflowResource
    ) -> RunRequest | SkipReason:
        return days_to_score_request(context, mlflow_tracking)

    @after_success(
        settings,
        [score_days],
        measure_performance,
        "Measures the served scores of the days whose labels became known.",
    )
    def measure_labelled_days(
        context: RunStatusSensorContext, model_rules: ModelRules
    ) -> RunRequest | SkipReason:
        return days_to_measure_request(context, model_rules)

    @after_success(
        settings,
        [score_days, measure_performance],
        train_model,
        "Trains the latest model partition when the drift or the performance check failed: at "
        "most once per cut-off, and only with labelled days the champion has not seen.",
    )
    def retrain_on_degradation(
        context: RunStatusSensorContext, mlflow_tracking: MlflowResource, model_rules: ModelRules
    ) -> RunRequest | SkipReason:
        return retraining_request(context, mlflow_tracking, model_rules)

    return [score_new_days, measure_labelled_days, retrain_on_degradation, champion_alias_watch]
