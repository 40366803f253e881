import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import GeneratorConfig
from fraud_assets.definitions import build_definitions
from fraud_assets.features.assets import FEATURES
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.partitions import file_period, file_run_tags
from fraud_assets.settings import Settings
from fraud_assets_tests.conftest import TEST_MAX_QUARANTINE_SHARE, TEST_SPARK_CONFIG

FILES = ("2019-08-22.txt", "2019-09-21.txt", "2019-10-21.txt")
THREE_FILES = GeneratorConfig(
    customers=200,
    terminals=300,
    files=3,
    days_per_file=30,
    seed=5,
    defects=DefectRates().scaled(300),
)


def pipeline_settings(root: Path, landing: Path, files: tuple[str, ...] = FILES) -> Settings:
    """Settings of a pipeline under `root` whose landing zone holds `files` of `landing`."""
    data = root / "data"
    (data / "landing").mkdir(parents=True)
    for name in files:
        shutil.copy(landing / name, data / "landing" / name)
    return dataclasses.replace(
        Settings.from_env(),
        data_dir=data,
        landing_dir=data / "landing",
        storage_dir=data / "warehouse",
        spark_conf=TEST_SPARK_CONFIG,
        # The shared test files carry every defect at hundreds of times the real rates.
        max_quarantine_share=TEST_MAX_QUARANTINE_SHARE,
    )


def process_file(settings: Settings, instance: DagsterInstance, name: str):
    """The run the sensor requests for one landed file."""
    defs = build_definitions(settings)
    landed = defs.resources["landing"].get(name)
    tags = file_run_tags(landed.key, landed.version, file_period(landed.key, 30))
    result = defs.resolve_job_def(process_landed_file.name).execute_in_process(
        instance=instance, tags=tags
    )
    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    return result


def stored_features(settings: Settings, days: list[str]) -> pd.DataFrame:
    storage = build_definitions(settings).resources["parquet_io_manager"]
    frame = storage.read_partitions([FEATURES], days).toPandas()
    return frame.sort_values("TRANSACTION_ID", ignore_index=True)


def all_days(files: tuple[str, ...] = FILES) -> list[str]:
    return [day for name in files for day in file_period(name, 30).partition_keys]


@pytest.fixture(scope="session")
def file_by_file_features(file_by_file) -> pd.DataFrame:
    settings, _, _ = file_by_file
    return stored_features(settings, all_days())
