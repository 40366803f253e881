import dataclasses
import os

# Steps that fail on a transient error are retried after 1 s in tests, not after 10.
os.environ.setdefault("FRAUD_STEP_RETRY_DELAY_SECONDS", "1")
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import GeneratorConfig, generate
from fraud_assets.resources.spark import SparkResource, default_spark_config
from fraud_assets.settings import MlflowSettings, Settings
from fraud_assets_tests.seaweedfs import seaweedfs_server  # noqa: F401  (a fixture)

TEST_MAX_QUARANTINE_SHARE = 0.1
# The test files are a few thousand rows: two splits per file and four shuffle partitions keep
# two cores busy without a wave of near-empty tasks per Spark job.
TEST_SPARK_CONFIG = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.files.minPartitionNum": "2",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_resource() -> SparkResource:
    config = {**default_spark_config(Settings.from_env()), **TEST_SPARK_CONFIG}
    return SparkResource(spark_config=config)


@pytest.fixture(scope="session")
def spark(spark_resource: SparkResource) -> SparkSession:
    """One SparkSession for the whole test session; every SparkResource reuses it."""
    return spark_resource.spark_session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    return dataclasses.replace(
        Settings.from_env(),
        data_dir=data,
        landing_dir=data / "landing",
        storage_dir=data / "warehouse",
        spark_conf=TEST_SPARK_CONFIG,
        # The shared test files carry every defect at hundreds of times the real rates.
        max_quarantine_share=TEST_MAX_QUARANTINE_SHARE,
    )


def local_mlflow(folder: Path, experiment: str) -> MlflowSettings:
    """A fresh MLflow store (runs, registry, artifacts) under `folder`."""
    store = f"sqlite:///{folder}/mlflow.db"
    return MlflowSettings(
        tracking_uri=store,
        registry_uri=store,
        experiment=experiment,
        artifact_location=str(folder / "artifacts"),
        ui_url="http://127.0.0.1:5000",
    )


def write_landing_files(folder: Path, config: GeneratorConfig) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for summary, chunks in generate(config):
        path = folder / summary.name
        with open(path, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        written.append(path)
    return written


SMALL = GeneratorConfig(
    customers=150,
    terminals=60,
    files=2,
    days_per_file=30,
    seed=7,
    defects=DefectRates().scaled(2_000),
)


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 30-day files with every row defect, shared read-only by the tests."""
    folder = tmp_path_factory.mktemp("landing")
    write_landing_files(folder, SMALL)
    return folder


@pytest.fixture(scope="session")
def three_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three consecutive 30-day files (with defects), shared read-only by the tests."""
    from fraud_assets_tests.test_features.conftest import THREE_FILES

    folder = tmp_path_factory.mktemp("three_files")
    write_landing_files(folder, THREE_FILES)
    return folder


@pytest.fixture(scope="session")
def file_by_file(tmp_path_factory, three_files):
    """The three files processed in order, one run each, as the sensor runs them: the
    settings, the instance and each file's run result (features and models tests share it)."""
    from dagster import DagsterInstance

    from fraud_assets_tests.test_features.conftest import FILES, pipeline_settings, process_file

    settings = pipeline_settings(tmp_path_factory.mktemp("file_by_file"), three_files)
    instance = DagsterInstance.ephemeral()
    results = {name: process_file(settings, instance, name) for name in FILES}
    return settings, instance, results
