"""The champion at work on generated files, end to end: scores, the alert queue, realized
performance and drift, then a drifted feed that asks for exactly one retraining."""

import dataclasses
import shutil
from datetime import date

import pytest
from dagster import (
    AssetKey,
    AssetObservation,
    DagsterInstance,
    RunRequest,
    SkipReason,
)
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest
from mlflow import MlflowClient

from fraud_assets.datagen.simulator import Drift
from fraud_assets.definitions import build_definitions
from fraud_assets.model.assets import ALIAS, CANDIDATE, VALIDATION
from fraud_assets.model.definitions import train_model
from fraud_assets.model.registry import THRESHOLD_TAG, champion_version
from fraud_assets.partitions import range_tags
from fraud_assets.scoring.assets import ALERTS, DRIFT_CHECK, PERFORMANCE, PERFORMANCE_CHECK, SCORED
from fraud_assets.scoring.definitions import measure_performance, score_days
from fraud_assets.scoring.sensors import RETRAIN_TAG
from fraud_assets_tests.conftest import local_mlflow, write_landing_files
from fraud_assets_tests.test_features.conftest import (
    FILES,
    THREE_FILES,
    pipeline_settings,
    process_file,
)
from fraud_assets_tests.test_model.test_sensors import after_run

pytestmark = pytest.mark.slow

DRIFTED_FILE = "2019-11-20.txt"
# Days of ~2,000 transactions, so that a healthy day's PSI stays clear of sampling noise;
# the fourth file's world: amounts three times larger (labels as before) and card testing.
FOUR_FILES = dataclasses.replace(
    THREE_FILES,
    customers=1_000,
    terminals=1_000,
    files=4,
    drift=Drift(date(2019, 11, 20), amount_factor=3.0, card_testing_per_day=4),
)
TRAINING = {
    "ops": {
        CANDIDATE: {"config": {"families": ["logistic_regression"], "max_evals": 1}},
        VALIDATION: {"config": {"resamples": 200}},
    }
}


@pytest.fixture(scope="module")
def scoring_pipeline(tmp_path_factory):
    """Three healthy files ingested, a first champion trained on cut-off 2019-11-05; the
    drifted fourth file waits outside the landing zone."""
    generated = tmp_path_factory.mktemp("four_files")
    write_landing_files(generated, FOUR_FILES)
    root = tmp_path_factory.mktemp("scoring")
    settings = pipeline_settings(root, generated)
    settings = dataclasses.replace(
        settings, mlflow=local_mlflow(root / "mlflow", "fraud_scoring_tests")
    )
    instance = DagsterInstance.ephemeral()
    for name in FILES:
        process_file(settings, instance, name)
    defs = build_definitions(settings)
    trained = defs.resolve_job_def(train_model.name).execute_in_process(
        instance=instance, partition_key="2019-11-05", run_config=TRAINING
    )
    assert trained.success
    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.registry_uri)
    return settings, defs, instance, client, generated, trained


def _tracking(defs) -> dict:
    return {name: defs.resources[name] for name in ("mlflow_tracking", "model_rules")}


def _run(defs, instance, job, request: RunRequest, must_succeed: bool = True):
    result = defs.resolve_job_def(job.name).execute_in_process(
        instance=instance,
        tags=request.tags,
        partition_key=request.partition_key,
        run_config=TRAINING if job is train_model else None,
        raise_on_error=False,
    )
    assert result.success or not must_succeed
    return result


def _checks(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def _range(request: RunRequest) -> tuple[str, str]:
    return (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    )


def test_healthy_days_are_scored_queued_and_measured_without_retraining(scoring_pipeline):
    settings, defs, instance, client, _, trained = scoring_pipeline
    champion = champion_version(client)
    assert str(champion.version) == "1" and float(champion.tags[THRESHOLD_TAG]) > 0

    # The new champion scores the feature days after its cut-off.
    request = after_run(
        defs.resolve_sensor_def("score_new_days"), instance, trained.run_id, _tracking(defs)
    )
    assert isinstance(request, RunRequest) and _range(request) == ("2019-11-06", "2019-11-19")
    scored_run = _run(defs, instance, score_days, request)
    checks = _checks(scored_run)
    assert checks["every_row_scored"].passed and checks["queue_well_formed"].passed
    assert checks[DRIFT_CHECK].passed, checks[DRIFT_CHECK].description

    storage = defs.resources["parquet_io_manager"]
    days = [f"2019-11-{d:02d}" for d in range(6, 20)]
    scored = storage.read_partitions([SCORED], days).toPandas()
    features = storage.read_partitions(["transaction_features"], days).toPandas()
    assert sorted(scored["TRANSACTION_ID"]) == sorted(features["TRANSACTION_ID"])
    threshold = float(champion.tags[THRESHOLD_TAG])
    assert (scored["alert"] == (scored["score"] >= threshold)).all()
    assert set(scored["model_version"]) == {"1"} and scored["score"].between(0, 1).all()

    queue = storage.read_partitions([ALERTS], days).toPandas()
    assert set(queue["day"]) == set(days)
    for day, cards in queue.groupby("day"):
        assert list(cards.sort_values("rank")["rank"]) == list(range(1, len(cards) + 1))
        assert len(cards) <= settings.scoring.alert_top_cards
        assert not cards["CUSTOMER_ID"].duplicated().any()
        day_scores = scored[scored["day"] == day].groupby("CUSTOMER_ID")["score"].max()
        top = day_scores.sort_values(ascending=False).head(len(cards))
        assert cards["max_score"].max() == pytest.approx(top.iloc[0])
    assert queue["reason_1"].str.contains(r" sd\)$").all()
    preview = scored_run.asset_materializations_for_node(ALERTS)[0].metadata["preview"]
    assert "reason_1" in preview.value

    # Labels of 11-06..11-12 are known by 11-19: those days are measured.
    measure = after_run(
        defs.resolve_sensor_def("measure_labelled_days"),
        instance,
        scored_run.run_id,
        _tracking(defs),
    )
    assert isinstance(measure, RunRequest) and _range(measure) == ("2019-11-06", "2019-11-12")
    measured = _run(defs, instance, measure_performance, measure)
    assert _checks(measured)[PERFORMANCE_CHECK].passed, _checks(measured)[PERFORMANCE_CHECK]
    performance = storage.read_partitions([PERFORMANCE], days[:7]).toPandas().sort_values("day")
    assert len(performance) == 7 and performance["roc_auc"].between(0.5, 1).all()
    assert list(performance["rolling_days"]) == [1, 2, 3, 4, 5, 6, 7]
    history = client.get_metric_history(champion.run_id, "realized_average_precision")
    assert len(history) == 7
    metadata = measured.asset_materializations_for_node(PERFORMANCE)[0].metadata
    assert "AP 7 d" in metadata["series"].value

    # Healthy monitoring asks for no retraining.
    for run in (scored_run, measured):
        skipped = after_run(
            defs.resolve_sensor_def("retrain_on_degradation"), instance, run.run_id, _tracking(defs)
        )
        assert isinstance(skipped, SkipReason) and "passed" in skipped.skip_message


def test_a_new_champion_marks_scored_days_stale(scoring_pipeline):
    _, defs, instance, _, _, _ = scoring_pipeline
    graph = defs.resolve_asset_graph()

    def status() -> StaleStatus:
        resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
        return resolver.get_status(AssetKey(SCORED), "2019-11-06")

    assert status() == StaleStatus.FRESH
    moved = AssetObservation(asset_key=ALIAS, tags={"dagster/data_version": "2"})
    instance.report_runless_asset_event(moved)
    assert status() == StaleStatus.STALE
    back = AssetObservation(asset_key=ALIAS, tags={"dagster/data_version": "1"})
    instance.report_runless_asset_event(back)
    assert status() == StaleStatus.FRESH


def test_scoring_days_without_features_fails_saying_what_to_ingest(scoring_pipeline):
    _, defs, instance, _, _, _ = scoring_pipeline
    storage = defs.resources["parquet_io_manager"]
    before = storage.published_rows([SCORED], ["2019-11-19", "2019-11-20"])
    assert list(before) == ["2019-11-19"]
    # 2019-11-19 has features; no ingested file holds the two days after it yet.
    early = defs.resolve_job_def(score_days.name).execute_in_process(
        instance=instance, tags=range_tags("2019-11-19", "2019-11-21"), raise_on_error=False
    )
    assert not early.success
    (failure,) = [e for e in early.all_events if e.is_step_failure]
    # A DataError fails the step at once: its message is the step failure's own.
    message = failure.step_failure_data.error.message
    assert "2 days that are not materialised (2019-11-20..2019-11-21)" in message
    assert "ingest" in message
    # Nothing was published: the day that has features keeps the scores it had.
    assert storage.published_rows([SCORED], ["2019-11-19", "2019-11-20"]) == before


def test_performance_waits_for_the_labels_delay(scoring_pipeline):
    _, defs, instance, _, _, _ = scoring_pipeline
    # The labels of 11-19 are known from 11-26, which no ingested file holds yet.
    early = defs.resolve_job_def(measure_performance.name).execute_in_process(
        instance=instance, partition_key="2019-11-19", raise_on_error=False
    )
    assert not early.success
    (failure,) = [e for e in early.all_events if e.is_step_failure]
    # A DataError fails the step at once: its message is the step failure's own.
    message = failure.step_failure_data.error.message
    assert "known from 2019-11-26" in message and "ingested" in message


def test_a_drifted_feed_triggers_exactly_one_retraining(scoring_pipeline):
    settings, defs, instance, _, generated, _ = scoring_pipeline
    shutil.copy(generated / DRIFTED_FILE, settings.landing_dir / DRIFTED_FILE)
    landed = process_file(settings, instance, DRIFTED_FILE)

    request = after_run(
        defs.resolve_sensor_def("score_new_days"), instance, landed.run_id, _tracking(defs)
    )
    assert isinstance(request, RunRequest) and _range(request) == ("2019-11-20", "2019-12-19")
    scored_run = _run(defs, instance, score_days, request)
    drift = _checks(scored_run)[DRIFT_CHECK]
    assert not drift.passed and "TX_AMOUNT" in drift.description
    assert drift.metadata["days_drifting"].value == 30

    retrain = after_run(
        defs.resolve_sensor_def("retrain_on_degradation"),
        instance,
        scored_run.run_id,
        _tracking(defs),
    )
    assert isinstance(retrain, RunRequest)
    assert retrain.partition_key == "2019-12-05" and retrain.tags[RETRAIN_TAG] == "2019-12-05"
    # Whether the new candidate passes its floor or not, the cut-off had its one retraining.
    _run(defs, instance, train_model, retrain, must_succeed=False)

    # The labels of the drifted days arrive: performance falls, but the cut-off is trained.
    measure = after_run(
        defs.resolve_sensor_def("measure_labelled_days"),
        instance,
        scored_run.run_id,
        _tracking(defs),
    )
    assert isinstance(measure, RunRequest)
    measured = _run(defs, instance, measure_performance, measure)
    again = after_run(
        defs.resolve_sensor_def("retrain_on_degradation"),
        instance,
        measured.run_id,
        _tracking(defs),
    )
    assert isinstance(again, SkipReason)
    assert sum(1 for run in instance.get_runs() if run.tags.get(RETRAIN_TAG)) == 1
