"""MLflow tracking and model registry, configured by environment.

The default is a local store under the data folder (SQLite for runs and the registry, a folder
for artifacts), with no server. A tracking server (PostgreSQL backend, S3 artifacts) is used by
setting FRAUD_MLFLOW_TRACKING_URI to its address; MLFLOW_S3_ENDPOINT_URL and the AWS variables
reach the artifact store as MLflow expects them.
"""

import os
from pathlib import Path
from urllib.parse import quote

import mlflow
from dagster import ConfigurableResource, InitResourceContext
from mlflow import MlflowClient

from fraud_assets.settings import MlflowSettings

REGISTERED_MODEL = "fraud_detector"


class MlflowResource(ConfigurableResource):
    tracking_uri: str
    registry_uri: str
    experiment: str = "fraud_detection"
    artifact_location: str = ""
    ui_url: str = "http://127.0.0.1:5000"
    s3_endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: MlflowSettings, s3_endpoint_url: str | None = None):
        return cls(
            tracking_uri=settings.tracking_uri,
            registry_uri=settings.registry_uri,
            experiment=settings.experiment,
            artifact_location=settings.artifact_location,
            ui_url=settings.ui_url,
            s3_endpoint_url=s3_endpoint_url,
        )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.activate()

    def activate(self) -> None:
        """Point the process-wide mlflow module at this store (its fluent API has no other)."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        if self.s3_endpoint_url:
            os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", self.s3_endpoint_url)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        return client.create_experiment(
            self.experiment, artifact_location=self.artifact_location or None
        )

    def run_url(self, run_id: str) -> str:
        experiment = self.client().get_run(run_id).info.experiment_id
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"

    def model_version_url(self, version: str | int, name: str = REGISTERED_MODEL) -> str:
        return f"{self.ui_url.rstrip('/')}/#/models/{quote(name)}/versions/{version}"
