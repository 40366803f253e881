from typing import Any

from dagster import DagsterInstance, build_sensor_context

from fraud_assets.ingestion.definitions import PROCESS_LANDED_FILE
from fraud_assets.ingestion.sensors import landing_sensor
from fraud_assets.settings import Settings

SENSOR_RESOURCES = ("landing", "ledger", "ingestion_rules")
raw_files_sensor = landing_sensor(Settings.from_env(), PROCESS_LANDED_FILE)


def evaluate(resources: dict[str, Any], instance: DagsterInstance, cursor: str | None):
    """One evaluation of raw_files_sensor: its SensorResult."""
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={name: resources[name] for name in SENSOR_RESOURCES},
    ) as context:
        return raw_files_sensor(context)


def tick(resources: dict[str, Any], instance: DagsterInstance, cursor: str | None):
    """One evaluation of raw_files_sensor: its run requests and its new cursor."""
    result = evaluate(resources, instance, cursor)
    return result.run_requests or [], result.cursor


def ticks_until_requested(resources, instance, cursor, most: int = 3):
    """Ticks until a run is requested (a local file must hold still for a tick first)."""
    for _ in range(most):
        requests, cursor = tick(resources, instance, cursor)
        if requests:
            return requests, cursor
    return [], cursor
