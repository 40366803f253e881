"""Every asset, check, job and sensor, with the resources of the environment FRAUD_ENV names.

local (default): files on local disk under FRAUD_DATA_DIR, Spark local[*], MLflow in a local
                 store, no services.
services:        the stack `fraud-stack start` runs on this machine: landing files and parquet in
                 its SeaweedFS bucket, Spark on its standalone master, MLflow on its tracking
                 server (PostgreSQL, S3 artifacts); endpoints default to the stack's ports.
prod:            the same resources on systems named by the environment (bucket, endpoint,
                 Spark master, MLflow URI, credentials); nothing is assumed.

Credentials reach resources as Dagster EnvVars, so the UI shows variable names, not values.
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, in_process_executor

from fraud_assets.features.assets import transaction_features
from fraud_assets.ingestion.assets import clean_transactions, raw_transactions
from fraud_assets.ingestion.sensors import raw_files_sensor
from fraud_assets.jobs import (
    lookback_automation,
    measure_performance,
    process_landed_file,
    score_days,
    train_model,
)
from fraud_assets.model.assets import champion_alias, champion_model, fraud_model, model_validation
from fraud_assets.model.sensors import model_on_new_features, weekly_retraining
from fraud_assets.resources.ingestion import IngestionRules
from fraud_assets.resources.landing import LocalLandingZone, S3LandingZone
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.records import JsonRecordIOManager
from fraud_assets.resources.s3 import S3Config
from fraud_assets.resources.spark import SparkResource
from fraud_assets.resources.storage import (
    LocalParquetIOManager,
    LocalStorageRoot,
    S3ParquetIOManager,
    S3StorageRoot,
)
from fraud_assets.scoring.assets import daily_alerts, model_performance, scored_transactions
from fraud_assets.scoring.sensors import (
    champion_alias_watch,
    measure_labelled_days,
    retrain_on_degradation,
    score_new_days,
)
from fraud_assets.settings import Settings


def local_resources(settings: Settings) -> dict[str, Any]:
    spark = SparkResource.from_settings(settings)
    root = LocalStorageRoot(base_path=str(settings.storage_dir))
    return {
        "spark": spark,
        "parquet_io_manager": LocalParquetIOManager(
            spark=spark, root=root, grace_hours=settings.version_grace_hours
        ),
        "ingestion_rules": IngestionRules.from_settings(settings),
        "landing": LocalLandingZone(path=str(settings.landing_dir)),
        "ledger": LandingLedger(root=root),
        "record_io_manager": JsonRecordIOManager(root=root),
        "mlflow_tracking": MlflowResource.from_settings(settings.mlflow),
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
        "ingestion_rules": IngestionRules.from_settings(settings),
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
    }


RESOURCES_BY_ENVIRONMENT = {
    "local": local_resources,
    "services": object_store_resources,
    "prod": object_store_resources,
}


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[
            raw_transactions,
            clean_transactions,
            transaction_features,
            fraud_model,
            model_validation,
            champion_model,
            champion_alias,
            scored_transactions,
            daily_alerts,
            model_performance,
        ],
        jobs=[process_landed_file, train_model, score_days, measure_performance],
        sensors=[
            raw_files_sensor,
            lookback_automation,
            model_on_new_features,
            score_new_days,
            measure_labelled_days,
            retrain_on_degradation,
            champion_alias_watch,
        ],
        schedules=[weekly_retraining],
        # One process and one Spark application a run: a process per step would start a new
        # driver (and, on a cluster, new executors) for every asset.
        executor=in_process_executor,
        resources=RESOURCES_BY_ENVIRONMENT[settings.environment](settings),
    )


defs = build_definitions(Settings.from_env())
