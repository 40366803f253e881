"""The ingestion domain's definitions: raw, cleaned and quarantined days, and the sensor that
asks for one run per landed file."""

from dagster import Definitions

from fraud_assets.ingestion.assets import ingestion_assets
from fraud_assets.ingestion.sensors import landing_sensor
from fraud_assets.settings import Settings

# The job a landed file starts: its raw, cleaned and feature days (the features domain defines
# it, since its selection reaches the features).
PROCESS_LANDED_FILE = "process_landed_file"


def ingestion_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=ingestion_assets(settings),
        sensors=[landing_sensor(settings, PROCESS_LANDED_FILE)],
    )
