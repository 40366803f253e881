"""The features domain's definitions: the feature days, the job a landed file starts (its raw,
cleaned and feature days in one run) and the automation that recomputes feature days whose
look-back changed."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
)

from fraud_assets.features.assets import FEATURES, feature_assets
from fraud_assets.ingestion.assets import CLEANED, QUARANTINED, RAW
from fraud_assets.ingestion.definitions import PROCESS_LANDED_FILE
from fraud_assets.settings import Settings

process_landed_file = define_asset_job(
    PROCESS_LANDED_FILE,
    selection=[RAW, CLEANED, QUARANTINED, FEATURES],
    description="Raw, cleaned and feature rows for the days of one landed file.",
)


def feature_definitions(settings: Settings) -> Definitions:
    lookback_automation = AutomationConditionSensorDefinition(
        "lookback_automation",
        target=AssetSelection.assets(FEATURES),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        description="Re-materialises feature days whose look-back was updated after them.",
    )
    return Definitions(
        assets=feature_assets(settings),
        jobs=[process_landed_file],
        sensors=[lookback_automation],
    )
