"""The resources of each environment that FRAUD_ENV names, built from one Settings.

local (default): files on local disk under FRAUD_DATA_DIR, Spark local[*], MLflow in a local
                 store, no services.
services:        the stack `fraud-stack start` runs on this machine: landing files and parquet in
                 its SeaweedFS bucket, Spark on its standalone master, MLflow on its tracking
                 server (PostgreSQL, S3 artifacts); endpoints default to the stack's ports.
prod:            the same resources on systems named by the environment (bucket, endpoint,
                 Spark master, MLflow URI, credentials); nothing is assumed.

Credentials reach resources as Dagster EnvVars, so the UI shows variable names, not values.
The pipeline's definitions, the real-time scorers and the Feast repository all take their
resources from here.
"""

from __future__ import annotations

from typing import Any

from fraud_assets.resources.landing import LocalLandingZone, S3LandingZone
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.records import JsonRecordIOManager
from fraud_assets.resources.rules import IngestionRules, ModelRules, ScoringRules
from fraud_assets.resources.s3 import S3Config
from fraud_assets.resources.spark import SparkResource
from fraud_assets.resources.storage import (
    LocalParquetIOManager,
    LocalStorageRoot,
    S3ParquetIOManager,
    S3StorageRoot,
)
from fraud_assets.settings import Settings


def _rules(settings: Settings) -> dict[str, Any]:
    return {
        "ingestion_rules": IngestionRules.from_settings(settings),
        "model_rules": ModelRules.from_settings(settings),
        "scoring_rules": ScoringRules.from_settings(settings),
    }


def local_resources(settings: Settings) -> dict[str, Any]:
    spark = SparkResource.from_settings(settings)
    root = LocalStorageRoot(base_path=str(settings.storage_dir))
    return {
        "spark": spark,
        "parquet_io_manager": LocalParquetIOManager(
            spark=spark, root=root, grace_hours=settings.version_grace_hours
        ),
        "landing": LocalLandingZone(path=str(settings.landing_dir)),
        "ledger": LandingLedger(root=root),
        "record_io_manager": JsonRecordIOManager(root=root),
        "mlflow_tracking": MlflowResource.from_settings(settings.mlflow),
        **_rules(settings),
    }


def object_store_resources(settings: Settings) -> dict[str, Any]:
    s3 = settings.s3
    spark = SparkResource.from_settings(settings)
    connection = S3Config.from_environment(s3)
    root = S3StorageRoot(s3=connection, bucket=s3.bucket, prefix=s3.storage_prefix)
    return {
        "spark": spark,
        "parquet_io_manager": S3ParquetIOManager(
            spark=spark,
            root=root,
            use_s3a=s3.use_s3a,
            local_dir=str(s3.cache_dir),
            grace_hours=settings.version_grace_hours,
        ),
        "landing": S3LandingZone(
            s3=connection,
            bucket=s3.bucket,
            prefix=s3.landing_prefix,
            use_s3a=s3.use_s3a,
            staging_dir=str(s3.cache_dir / "landing"),
        ),
        "ledger": LandingLedger(root=root),
        "record_io_manager": JsonRecordIOManager(root=root),
        "mlflow_tracking": MlflowResource.from_settings(settings.mlflow, s3.endpoint_url),
        # Top level too, so the UI lists the connection (credentials as variable names).
        "s3": connection,
        **_rules(settings),
    }


RESOURCES_BY_ENVIRONMENT = {
    "local": local_resources,
    "services": object_store_resources,
    "prod": object_store_resources,
}


def resources_for(settings: Settings) -> dict[str, Any]:
    """The resources of the environment the settings name."""
    return RESOURCES_BY_ENVIRONMENT[settings.environment](settings)
