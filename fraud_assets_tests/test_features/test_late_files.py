"""A file that lands after later ones: Dagster marks the later feature days that read its
days as stale, the look-back automation requests exactly those, and re-materialising them
gives the values of an in-order run."""

import shutil

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from fraud_assets.definitions import build_definitions
from fraud_assets.features.assets import FEATURES, feature_assets
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.ingestion.assets import ingestion_assets
from fraud_assets.partitions import file_period
from fraud_assets.settings import Settings
from fraud_assets_tests.test_features.conftest import (
    FILES,
    all_days,
    pipeline_settings,
    process_file,
    stored_features,
)

pytestmark = pytest.mark.slow
FEATURES_KEY = AssetKey(FEATURES)
SETTINGS = Settings.from_env()


def _stale_days(instance: DagsterInstance) -> list[str]:
    resolver = get_stale_status_resolver(
        instance, [*ingestion_assets(SETTINGS), *feature_assets(SETTINGS)]
    )
    return [
        day for day in all_days() if resolver.get_status(FEATURES_KEY, day) == StaleStatus.STALE
    ]


def test_a_late_file_makes_later_days_stale_until_they_are_recomputed(
    tmp_path, three_files, file_by_file_features
):
    first, late, last = FILES
    settings = pipeline_settings(tmp_path, three_files, files=(first, last))
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    automation = evaluate_automation_conditions(defs=defs, instance=instance)
    process_file(settings, instance, first)
    gap = process_file(settings, instance, last)
    metadata = gap.asset_materializations_for_node(FEATURES)[0].metadata
    assert metadata["look_back_days_without_data"].value == 30
    automation = evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=automation.cursor
    )
    assert automation.total_requested == 0, "days made in their file's run are not redone"
    assert _stale_days(instance) == []

    shutil.copy(three_files / late, settings.landing_dir / late)
    process_file(settings, instance, late)
    last_days = file_period(last, 30).partition_keys
    assert _stale_days(instance) == last_days

    automation = evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=automation.cursor
    )
    requested = sorted(automation.get_requested_partitions(FEATURES_KEY))
    assert requested == last_days
    rerun = defs.resolve_job_def(process_landed_file.name).execute_in_process(
        instance=instance,
        asset_selection=[FEATURES_KEY],
        tags={
            "dagster/asset_partition_range_start": requested[0],
            "dagster/asset_partition_range_end": requested[-1],
        },
    )
    assert rerun.success
    assert _stale_days(instance) == []
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=automation.cursor)
    assert after.total_requested == 0, "what was handled is not requested again"
    pd.testing.assert_frame_equal(
        stored_features(settings, all_days()), file_by_file_features, check_exact=True
    )
