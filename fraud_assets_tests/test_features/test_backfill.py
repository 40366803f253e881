"""A partition backfill launched as the UI launches one: stored in the instance, then carried
out by the backfill daemon's iterations, which submit the runs the backfill policies ask for."""

import json
import logging
import time

import pandas as pd
import pytest
from dagster import AssetKey, instance_for_test
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

from fraud_assets.features.assets import FEATURES
from fraud_assets.ingestion.assets import CLEANED, QUARANTINED
from fraud_assets.partitions import file_period
from fraud_assets_tests.conftest import TEST_MAX_QUARANTINE_SHARE, TEST_SPARK_CONFIG
from fraud_assets_tests.test_features.conftest import (
    FILES,
    all_days,
    pipeline_settings,
    process_file,
    stored_features,
)

pytestmark = pytest.mark.slow
LOCATION = "fraud_assets_tests.test_features.backfill_location"
SELECTION = [AssetKey("raw_transactions"), AssetKey(CLEANED), AssetKey(QUARANTINED)]


def _failures(instance) -> list[str]:
    return [
        str(event.dagster_event.step_failure_data.error.cause)
        for run in instance.get_runs()
        for event in instance.all_logs(run.run_id)
        if event.dagster_event and event.dagster_event.is_step_failure
    ]


def test_a_ui_backfill_over_two_files_reuses_the_first_and_equals_an_in_order_run(
    tmp_path, monkeypatch, three_files, file_by_file_features
):
    settings = pipeline_settings(tmp_path, three_files)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FRAUD_SPARK_CONF", json.dumps(TEST_SPARK_CONFIG))
    monkeypatch.setenv("FRAUD_MAX_QUARANTINE_SHARE", str(TEST_MAX_QUARANTINE_SHARE))
    # Runs are submitted straight away and carried out in this process, one after the other.
    overrides = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        },
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
    }
    with (
        instance_for_test(overrides=overrides) as instance,
        create_test_daemon_workspace_context(
            ModuleTarget(LOCATION, attribute="defs", working_directory=None, location_name="x"),
            instance,
        ) as workspace,
    ):
        process_file(settings, instance, FILES[0])
        days = [day for name in FILES[1:] for day in file_period(name, 30).partition_keys]
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="later-files",
            asset_graph=workspace.create_request_context().asset_graph,
            partition_names=days,
            asset_selection=[*SELECTION, AssetKey(FEATURES)],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title="files 2 and 3",
            description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)
        for _ in range(10):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
            status = instance.get_backfill("later-files").status
            if status != BulkActionStatus.REQUESTED:
                break
        assert status == BulkActionStatus.COMPLETED_SUCCESS, _failures(instance)

        runs = instance.get_runs(filters=None)
        backfill_runs = [run for run in runs if run.tags.get("dagster/backfill") == "later-files"]
        selections = sorted(
            sorted(k.to_user_string() for k in run.asset_selection) for run in backfill_runs
        )
        assert selections == [
            sorted(k.to_user_string() for k in SELECTION),
            [FEATURES],
        ], "one run per backfill policy: the ingestion assets, then the features"
        ranges = {
            tuple(sorted(k.to_user_string() for k in run.asset_selection)): (
                run.tags["dagster/asset_partition_range_start"],
                run.tags["dagster/asset_partition_range_end"],
            )
            for run in backfill_runs
        }
        # The features run also takes the 37 days after the range, whose look-back the new
        # days change; with no cleaned data yet they are written empty.
        assert ranges[(FEATURES,)] == (days[0], "2019-12-26")
        assert ranges[tuple(sorted(k.to_user_string() for k in SELECTION))] == (days[0], days[-1])
        records = instance.fetch_materializations(AssetKey(FEATURES), limit=1000).records
        by_day = {r.partition_key: r.asset_materialization.metadata for r in records}
        assert by_day["2019-12-26"]["days_without_cleaned_data"].value == 37
        assert by_day["2019-12-26"]["rows_per_day_min"].value == 0

    pd.testing.assert_frame_equal(
        stored_features(settings, all_days()), file_by_file_features, check_exact=True
    )
