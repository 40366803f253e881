"""MLflow tracking and model registry, configured by environment.

The default is a local store under the data folder (SQLite for runs and the registry, a folder
for artifacts), with no server. A tracking server (PostgreSQL backend, S3 artifacts) is used by
setting FRAUD_MLFLOW_TRACKING_URI to its address; MLFLOW_S3_ENDPOINT_URL and the AWS variables
reach the artifact store as MLflow expects them. A tracking URI with a password in it (a
database URI) reaches the resource as an `EnvVar`, and links carry no credentials.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from dagster import ConfigurableResource, EnvVar, InitResourceContext

from fraud_assets.metadata import without_credentials
from fraud_assets.resources.s3 import resolved
from fraud_assets.settings import MlflowSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient

_URI_VARIABLES = {
    "tracking_uri": "FRAUD_MLFLOW_TRACKING_URI",
    "registry_uri": "FRAUD_MLFLOW_REGISTRY_URI",
}

REGISTERED_MODEL = "fraud_detector"


class MlflowResource(ConfigurableResource):
    tracking_uri: str
    registry_uri: str
    experiment: str = "fraud_detection"
    artifact_location: str = ""
    ui_url: str = "http://127.0.0.1:5000"
    s3_endpoint_url: str | None = None

    @classmethod
    def from_settings(
        cls, settings: MlflowSettings, s3_endpoint_url: str | None = None
    ) -> "MlflowResource":
        uris = {"tracking_uri": settings.tracking_uri, "registry_uri": settings.registry_uri}
        for field, value in dict(uris).items():
            if value == without_credentials(value):
                continue
            # The registry defaults to the tracking URI, and then to its variable.
            named = [v for v in _URI_VARIABLES.values() if os.environ.get(v, "").strip() == value]
            if not named:
                raise ValueError(
                    f"MLflow's {field} holds credentials but comes from no variable; set it "
                    f"with {_URI_VARIABLES[field]}"
                )
            uris[field] = EnvVar(named[0])
        return cls(
            **uris,
            experiment=settings.experiment,
            artifact_location=settings.artifact_location,
            ui_url=without_credentials(settings.ui_url),
            s3_endpoint_url=s3_endpoint_url,
        )

    @property
    def tracking(self) -> str:
        return resolved(self.tracking_uri)

    @property
    def registry(self) -> str:
        return resolved(self.registry_uri)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.activate()

    def activate(self) -> None:
        """Point the process-wide mlflow module at this store (its fluent API has no other)."""
        import mlflow

        if self.tracking.startswith("sqlite:///"):
            Path(self.tracking.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self.s3_endpoint_url:
            os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", self.s3_endpoint_url)
        mlflow.set_tracking_uri(self.tracking)
        mlflow.set_registry_uri(self.registry)

    def client(self) -> "MlflowClient":
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking, registry_uri=self.registry)

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
