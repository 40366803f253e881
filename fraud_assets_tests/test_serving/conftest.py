"""A world for the real-time scorers: the history of the first two shared files, a registry
with two servable versions (champion: the first), and a Kafka-compatible broker."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from fraud_assets.definitions import build_definitions
from fraud_assets.features.transforms import MODEL_FEATURES, stored_inputs
from fraud_assets.ingestion.assets import CLEANED
from fraud_assets.model.portable import log_portable
from fraud_assets.model.registry import CHAMPION, THRESHOLD_TAG
from fraud_assets.model.training import fit
from fraud_assets.partitions import file_period
from fraud_assets.resources.mlflow import REGISTERED_MODEL, MlflowResource
from fraud_assets.serving.champion import ChampionWatch
from fraud_assets.serving.history import warmed_state
from fraud_assets.serving.lines import in_time_order
from fraud_assets.serving.local_broker import free_port, start_tansu
from fraud_assets.serving.scorer import Scorer
from fraud_assets.settings import MlflowSettings, Settings
from fraud_assets_tests.conftest import local_mlflow
from fraud_assets_tests.test_features.conftest import FILES, stored_features

REPLAYED = FILES[2]


@dataclass(frozen=True)
class World:
    settings: Settings
    mlflow: MlflowSettings
    versions: tuple[str, str]
    lines: list[bytes]

    def client(self) -> MlflowClient:
        return MlflowClient(self.mlflow.tracking_uri, self.mlflow.registry_uri)

    def activate(self) -> None:
        mlflow.set_tracking_uri(self.mlflow.tracking_uri)
        mlflow.set_registry_uri(self.mlflow.registry_uri)

    def scorer(self, check_seconds: float = 3600.0) -> Scorer:
        self.activate()
        store = build_definitions(self.settings).resources["parquet_io_manager"].store()
        return Scorer(warmed_state(store, 3_600), ChampionWatch(self.client(), check_seconds))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "FRAUD_DATA_DIR": str(self.settings.data_dir),
            "FRAUD_MLFLOW_TRACKING_URI": self.mlflow.tracking_uri,
            "FRAUD_MLFLOW_REGISTRY_URI": self.mlflow.registry_uri,
            "FRAUD_MLFLOW_ARTIFACTS": self.mlflow.artifact_location,
            **extra,
        }


def _history_before(settings: Settings, root: Path) -> Settings:
    """A copy of the warehouse's cleaned days before the replayed file."""
    import dataclasses

    source = settings.storage_dir / CLEANED
    target = root / "data" / "warehouse" / CLEANED
    shutil.copytree(source, target)
    for day in file_period(REPLAYED, 30).partition_keys:
        (target / "partitions" / f"{day}.json").unlink()
    data = root / "data"
    return dataclasses.replace(
        settings, data_dir=data, landing_dir=data / "landing", storage_dir=data / "warehouse"
    )


@pytest.fixture(scope="session")
def world(file_by_file, spark, tmp_path_factory) -> World:
    settings, _, _ = file_by_file
    root = tmp_path_factory.mktemp("serving_world")
    served = _history_before(settings, root)
    tracking = local_mlflow(root / "mlflow", "serving")
    resource = MlflowResource.from_settings(tracking)
    resource.activate()
    experiment = resource.experiment_id()
    client = resource.client()
    client.create_registered_model(REGISTERED_MODEL)
    train = spark.createDataFrame(
        stored_features(settings, file_period(FILES[1], 30).partition_keys)
    )
    versions = []
    for reg_param, threshold in ((0.01, 0.5), (0.5, 0.2)):
        params = {
            "family": "logistic_regression",
            "balance": 0.5,
            "reg_param": reg_param,
            "elastic_net": 0.0,
        }
        model = fit(train, params, MODEL_FEATURES, seed=3)
        with mlflow.start_run(experiment_id=experiment) as run:
            log_portable(model, stored_inputs(MODEL_FEATURES))
        version = client.create_model_version(
            REGISTERED_MODEL, f"runs:/{run.info.run_id}/serving", run.info.run_id
        )
        client.set_model_version_tag(
            REGISTERED_MODEL, version.version, THRESHOLD_TAG, repr(threshold)
        )
        versions.append(str(version.version))
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, versions[0])
    lines = in_time_order((settings.landing_dir / REPLAYED).read_bytes().splitlines()[1:])
    return World(served, tracking, (versions[0], versions[1]), lines)


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> str:
    """A tansu broker (memory storage) on a free loopback port; its bootstrap address."""
    port = free_port()
    process = start_tansu(port, tmp_path_factory.mktemp("broker") / "tansu.log")
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
