"""Process one landed file through raw, cleaned and features under this process's time zone
and print a digest of everything stored and every check, as one JSON line.

    TZ=Europe/Paris python -m fraud_assets_tests.tz_digest LANDING_DIR WORK_DIR
"""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from dagster import DagsterInstance
from pyspark.sql import functions as F

from fraud_assets.definitions import build_definitions
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.partitions import file_period, file_run_tags
from fraud_assets.settings import Settings
from fraud_assets_tests.conftest import TEST_MAX_QUARANTINE_SHARE, TEST_SPARK_CONFIG

ASSETS = {
    "raw_transactions": ("source_file", "line_number"),
    "cleaned_transactions": ("transaction_id",),
    "quarantined_transactions": ("source_file", "line_number"),
    "transaction_features": ("TRANSACTION_ID",),
}


def digest(landing: Path, work: Path) -> dict:
    settings = dataclasses.replace(
        Settings.from_env(),
        data_dir=work,
        landing_dir=landing,
        storage_dir=work / "warehouse",
        spark_conf=TEST_SPARK_CONFIG,
        max_quarantine_share=TEST_MAX_QUARANTINE_SHARE,
    )
    defs = build_definitions(settings)
    (landed,) = defs.resources["landing"].list_files()
    period = file_period(landed.key, settings.file_period_days)
    result = defs.resolve_job_def(process_landed_file.name).execute_in_process(
        instance=DagsterInstance.ephemeral(),
        tags=file_run_tags(landed.key, landed.version, period),
        raise_on_error=False,
    )
    storage = defs.resources["parquet_io_manager"]
    stored = {}
    for asset, keys in ASSETS.items():
        frame = storage.read_partitions([asset], period.partition_keys)
        # Rows as JSON text made by Spark (timestamps in the session zone): nothing passes
        # through Python datetimes, which would take the process's zone.
        lines = frame.orderBy(*keys).select(F.to_json(F.struct("*")).alias("row")).collect()
        stored[asset] = hashlib.sha256("\n".join(r["row"] for r in lines).encode()).hexdigest()
    checks = sorted(
        (c.check_name, c.passed, c.description or "") for c in result.get_asset_check_evaluations()
    )
    return {"success": result.success, "stored": stored, "checks": checks}


if __name__ == "__main__":
    print(json.dumps(digest(Path(sys.argv[1]), Path(sys.argv[2]))))
