"""The model domain's definitions: the model assets of a cut-off day, the job of one model
partition, and what starts it."""

from dagster import Definitions, define_asset_job

from fraud_assets.features.definitions import process_landed_file
from fraud_assets.model.assets import CANDIDATE, CHAMPION, VALIDATION, model_assets
from fraud_assets.model.sensors import model_automation
from fraud_assets.settings import Settings

train_model = define_asset_job(
    "train_model",
    selection=[CANDIDATE, VALIDATION, CHAMPION],
    description="Tune and register a candidate, validate it against the champion, decide.",
)


def model_definitions(settings: Settings) -> Definitions:
    sensor, schedule = model_automation(settings, process_landed_file, train_model)
    return Definitions(
        assets=model_assets(settings), jobs=[train_model], sensors=[sensor], schedules=[schedule]
    )
