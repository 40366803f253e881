import pytest
from dagster import (
    AssetMaterialization,
    DagsterEventType,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    instance_for_test,
)

from fraud_assets.features.assets import FEATURES
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.model.definitions import train_model
from fraud_assets.model.sensors import model_automation
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.rules import ModelRules
from fraud_assets.settings import Settings
from fraud_assets_tests.test_features.conftest import FILES

pytestmark = pytest.mark.slow
SETTINGS = Settings.from_env()
RULES = {"model_rules": ModelRules.from_settings(SETTINGS)}
model_on_new_features, weekly_retraining = model_automation(
    SETTINGS, process_landed_file, train_model
)


def after_run(sensor, instance, run_id: str, resources: dict | None = None):
    """The run status sensor's answer to the successful run `run_id`."""
    run = instance.get_run_by_id(run_id)
    (record,) = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_SUCCESS).records
    context = build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources=resources,
    )
    return sensor(context)


def test_a_files_features_request_its_model_partition(file_by_file, tmp_path):
    _, instance, results = file_by_file
    # No champion in an empty MLflow store: the first model is trained.
    store = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = {"mlflow_tracking": MlflowResource(tracking_uri=store, registry_uri=store), **RULES}

    def _after(instance, run_id):
        return after_run(model_on_new_features, instance, run_id, tracking)

    # The first file's days only warm up the 37-day look-back: no model yet. The second
    # file's partition (cut-off 10-06) would tune on folds from 09-02, inside the warm-up.
    for file in FILES[:2]:
        skipped = _after(instance, results[file].run_id)
        assert isinstance(skipped, SkipReason) and "full look-back" in skipped.skip_message
    # The third file ends on 2019-11-19: test 11-13..11-19, delay, training up to 11-05,
    # the earliest tuning fold from 10-02.
    third = _after(instance, results[FILES[2]].run_id)
    assert isinstance(third, RunRequest) and third.partition_key == "2019-11-05"
    assert third.run_key == f"after-{results[FILES[2]].run_id}"


def test_the_weekly_schedule_trains_on_the_latest_features():
    with instance_for_test() as instance:
        nothing = weekly_retraining(build_schedule_context(instance=instance, resources=RULES))
        assert isinstance(nothing, SkipReason)
        for day in ("2019-11-18", "2019-11-19"):
            instance.report_runless_asset_event(
                AssetMaterialization(asset_key=FEATURES, partition=day)
            )
        request = weekly_retraining(build_schedule_context(instance=instance, resources=RULES))
    assert isinstance(request, RunRequest) and request.partition_key == "2019-11-05"
