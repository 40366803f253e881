import pandas as pd
import pytest
from dagster import AssetKey, materialize

from fraud_assets.definitions import build_definitions
from fraud_assets.features.assets import FEATURES, feature_assets
from fraud_assets.features.transforms import FEATURE_TABLE_COLUMNS
from fraud_assets.ingestion.assets import ingestion_assets
from fraud_assets_tests.test_features.conftest import (
    all_days,
    pipeline_settings,
    stored_features,
)

pytestmark = pytest.mark.slow


def _range_tags(days: list[str]) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": days[0],
        "dagster/asset_partition_range_end": days[-1],
    }


def test_file_by_file_equals_one_computation_of_everything(
    tmp_path, three_files, file_by_file, file_by_file_features
):
    settings = pipeline_settings(tmp_path, three_files)
    everything = all_days()
    result = materialize(
        [*ingestion_assets(settings), *feature_assets(settings)],
        resources=build_definitions(settings).resources,
        tags=_range_tags(everything),
    )
    assert result.success
    at_once = stored_features(settings, everything)

    assert list(at_once.columns) == list(FEATURE_TABLE_COLUMNS)
    assert len(at_once) > 20_000
    pd.testing.assert_frame_equal(file_by_file_features, at_once, check_exact=True)


def test_each_file_run_reads_its_look_back_and_records_what_it_found(
    file_by_file, file_by_file_features
):
    _, instance, _ = file_by_file
    records = instance.fetch_materializations(AssetKey(FEATURES), limit=1000).records
    by_day = {r.partition_key: r.asset_materialization.metadata for r in records}
    assert sorted(by_day) == all_days()
    first, third = by_day[all_days()[0]], by_day[all_days()[-1]]
    assert first["look_back_days_without_data"].value == 0, "before the first day there is none"
    assert first["look_back_days_read"].value == 0
    assert third["look_back_days_read"].value == 37
    assert third["look_back"].value == "2019-09-14..2019-11-19"
    third_file = file_by_file_features[file_by_file_features.day >= "2019-10-21"]
    assert third["fraud_rate"].value == pytest.approx(third_file.TX_FRAUD.mean(), abs=1e-12)
    assert third["CUSTOMER_ID_NB_TX_1DAY_WINDOW.min"].value == 1
    assert 0 < third["TERMINAL_ID_RISK_30DAY_WINDOW.mean"].value < 1
    assert "| TERMINAL_ID_RISK_30DAY_WINDOW |" in third["summary"].value


def test_checks_pass_on_every_file_and_report_each_day(file_by_file):
    _, _, results = file_by_file
    for result in results.values():
        checks = {
            c.check_name: c
            for c in result.get_asset_check_evaluations()
            if c.asset_key == AssetKey(FEATURES)
        }
        assert sorted(checks) == [
            "extended_features_in_range",
            "flags_are_binary",
            "no_nulls",
            "one_row_per_transaction",
            "risks_within_unit_interval",
            "window_counts_in_range",
        ]
        assert all(check.passed for check in checks.values())
        per_day = checks["one_row_per_transaction"].metadata["per_day"].value
        assert per_day.count("\n| 2019-") == 30
