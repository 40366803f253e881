from typing import Any

from dagster import DagsterInstance, build_sensor_context

from fraud_assets.ingestion.sensors import raw_files_sensor


def tick(resources: dict[str, Any], instance: DagsterInstance, cursor: str | None):
    """One evaluation of raw_files_sensor: its run requests and its new cursor."""
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"landing": resources["landing"], "ledger": resources["ledger"]},
    ) as context:
        result = raw_files_sensor(context)
    return result.run_requests or [], result.cursor
