"""The scoring domain's definitions: scores, alerts and realized performance per day, the jobs
that make them, and the sensors that keep the champion at work."""

from dagster import Definitions, define_asset_job

from fraud_assets.features.definitions import process_landed_file
from fraud_assets.model.definitions import train_model
from fraud_assets.scoring.assets import ALERTS, PERFORMANCE, SCORED, scoring_assets
from fraud_assets.scoring.sensors import scoring_automation
from fraud_assets.settings import Settings

score_days = define_asset_job(
    "score_days",
    selection=[SCORED, ALERTS],
    description="Score days with the champion and queue the day's most suspicious cards.",
)

measure_performance = define_asset_job(
    "measure_performance",
    selection=[PERFORMANCE],
    description="Realized performance of the served scores of days whose labels are known.",
)


def scoring_definitions(settings: Settings) -> Definitions:
    sensors = scoring_automation(
        settings, process_landed_file, train_model, score_days, measure_performance
    )
    return Definitions(
        assets=scoring_assets(settings), jobs=[score_days, measure_performance], sensors=sensors
    )
