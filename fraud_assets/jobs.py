"""Jobs and automation over the asset graph.

`process_landed_file` is what a landed file sets going: its raw, cleaned and feature days in
one run (the sensor and `fraud-pipeline run` request it with the file's day range).
`lookback_automation` re-materialises feature days whose look-back a later run changed.
`train_model` is one model partition: candidate, validation and champion decision.
`score_days` scores days with the champion and queues their alerts; `measure_performance`
measures the served scores of days whose labels are known.
"""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    define_asset_job,
)

from fraud_assets.features.assets import FEATURES
from fraud_assets.ingestion.assets import CLEANED, QUARANTINED, raw_transactions
from fraud_assets.model.assets import CANDIDATE, CHAMPION, VALIDATION
from fraud_assets.partitions import DAILY_PARTITIONS
from fraud_assets.scoring.assets import ALERTS, PERFORMANCE, SCORED
from fraud_assets.settings import Settings

process_landed_file = define_asset_job(
    "process_landed_file",
    selection=[raw_transactions.key.to_user_string(), CLEANED, QUARANTINED, FEATURES],
    partitions_def=DAILY_PARTITIONS,
    description="Raw, cleaned and feature rows for the days of one landed file.",
)

lookback_automation = AutomationConditionSensorDefinition(
    "lookback_automation",
    target=AssetSelection.assets(FEATURES),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=Settings.from_env().sensor_interval_seconds,
    description="Re-materialises feature days whose look-back was updated after them.",
)

train_model = define_asset_job(
    "train_model",
    selection=[CANDIDATE, VALIDATION, CHAMPION],
    partitions_def=DAILY_PARTITIONS,
    description="Tune and register a candidate, validate it against the champion, decide.",
)

score_days = define_asset_job(
    "score_days",
    selection=[SCORED, ALERTS],
    partitions_def=DAILY_PARTITIONS,
    description="Score days with the champion and queue the day's most suspicious cards.",
)

measure_performance = define_asset_job(
    "measure_performance",
    selection=[PERFORMANCE],
    partitions_def=DAILY_PARTITIONS,
    description="Realized performance of the served scores of days whose labels are known.",
)
