"""The definitions load, resolve every job and sensor, and are decided by the Settings given
to `build_definitions`: two Settings in one process give two sets of windows."""

import dataclasses
from datetime import date

from dagster import AssetKey

from fraud_assets.definitions import build_definitions
from fraud_assets.features.assets import FEATURES
from fraud_assets.ingestion.assets import RAW
from fraud_assets.model.assets import CANDIDATE
from fraud_assets.scoring.assets import PERFORMANCE
from fraud_assets.settings import ModelSettings, ScoringSettings

JOBS = {"process_landed_file", "train_model", "score_days", "measure_performance"}
SENSORS = {
    "raw_files_sensor",
    "lookback_automation",
    "model_on_new_features",
    "score_new_days",
    "measure_labelled_days",
    "retrain_on_degradation",
    "champion_alias_watch",
}


def test_the_definitions_load_and_resolve_every_job_and_sensor(settings):
    defs = build_definitions(settings)
    for name in JOBS:
        job = defs.resolve_job_def(name)
        assert job.partitions_def is not None, name
    assert {sensor.name for sensor in defs.sensors} == SENSORS
    for name in SENSORS:
        defs.resolve_sensor_def(name)
    defs.resolve_schedule_def("weekly_retraining")
    assert defs.resolve_sensor_def("raw_files_sensor").job_name == "process_landed_file"
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {RAW, FEATURES, CANDIDATE, PERFORMANCE} <= keys
    assert set(defs.resources) >= {"ingestion_rules", "model_rules", "scoring_rules"}


def test_two_settings_in_one_process_give_two_sets_of_windows(settings):
    short = dataclasses.replace(
        settings,
        partitions_start=date(2020, 1, 1),
        model=ModelSettings(train_days=5, delay_days=3, test_days=5, tuning_folds=1),
        scoring=ScoringSettings(alert_top_cards=20, drift_psi_threshold=0.4),
        sensor_interval_seconds=5,
    )
    usual, changed = build_definitions(settings), build_definitions(short)

    def window(defs, asset: str, upstream: str, day: str) -> tuple[str, str]:
        graph = defs.resolve_asset_graph()
        node = graph.get(AssetKey(asset))
        mapping = node.partition_mappings[AssetKey(upstream)]
        partitions = node.partitions_def
        upstream_keys = mapping.get_upstream_mapped_partitions_result_for_partitions(
            partitions.subset_with_partition_keys([day]), partitions, partitions
        ).partitions_subset.get_partition_keys()
        return min(upstream_keys), max(upstream_keys)

    # Default windows: 7 train + 7 delay + 3 x 7 validation before the cut-off, 14 days after.
    assert window(usual, CANDIDATE, FEATURES, "2019-11-05") == ("2019-10-02", "2019-11-19")
    # 5 + 3 + 1 x 7 days before, 3 + 5 after.
    assert window(changed, CANDIDATE, FEATURES, "2020-03-05") == ("2020-02-20", "2020-03-13")
    # Trailing performance reads as many scored days as the test block.
    assert window(usual, PERFORMANCE, "scored_transactions", "2019-11-20")[0] == "2019-11-14"
    assert window(changed, PERFORMANCE, "scored_transactions", "2020-03-20")[0] == "2020-03-16"

    assert usual.resolve_job_def("train_model").partitions_def.start.date() == date(2019, 8, 22)
    assert changed.resolve_job_def("train_model").partitions_def.start.date() == date(2020, 1, 1)
    rules = usual.resources["model_rules"], changed.resources["model_rules"]
    assert [(r.train_days, r.tuning_folds, r.partitions_start) for r in rules] == [
        (7, 3, "2019-08-22"),
        (5, 1, "2020-01-01"),
    ]
    scoring = usual.resources["scoring_rules"], changed.resources["scoring_rules"]
    assert [(s.alert_top_cards, s.drift_psi_threshold) for s in scoring] == [(100, 0.25), (20, 0.4)]
    intervals = [
        defs.resolve_sensor_def("raw_files_sensor").minimum_interval_seconds
        for defs in (usual, changed)
    ]
    assert intervals == [settings.sensor_interval_seconds, 5]
