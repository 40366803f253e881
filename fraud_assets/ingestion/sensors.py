"""`raw_files_sensor`: one run per new or replaced landed file, over the days it covers."""

import json
import time
from dataclasses import dataclass, field

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets.jobs import process_landed_file
from fraud_assets.partitions import DAILY_PARTITIONS, FilePeriod, file_period, file_run_tags
from fraud_assets.resources.landing import LandedFile, LandingZone
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.settings import Settings

SETTINGS = Settings.from_env()


@dataclass
class LandingCursor:
    """What the sensor has requested: the version of each file, the highest key listed, and
    when it last listed the whole prefix (to notice files replaced in place)."""

    versions: dict[str, str] = field(default_factory=dict)
    high_water: str | None = None
    last_full_scan: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(
            {
                "versions": self.versions,
                "high_water": self.high_water,
                "last_full_scan": self.last_full_scan,
            },
            sort_keys=True,
        )


def run_key(landed: LandedFile) -> str:
    return f"{landed.key}@{landed.version}"


def plan_runs(
    listed: list[LandedFile],
    cursor: LandingCursor,
    ingested: dict[str, str],
    period_days: int,
) -> tuple[list[tuple[LandedFile, FilePeriod]], list[str]]:
    """Files to ingest (new, or replaced with other content) and messages about skipped ones.

    `ingested` maps keys to the version the ledger holds as cleaned, so a cursor that was reset
    does not ingest a file twice, and a file whose run failed is not taken for done.
    """
    wanted, notes = [], []
    first = DAILY_PARTITIONS.start.date()
    for landed in listed:
        if cursor.versions.get(landed.key) == landed.version:
            continue
        cursor.versions[landed.key] = landed.version
        if ingested.get(landed.key) == landed.version:
            continue
        period = file_period(landed.key, period_days)
        if period.first_day < first:
            notes.append(f"{landed.key} starts before the first partition {first}; skipped")
            continue
        wanted.append((landed, period))
    return wanted, notes


@sensor(
    job=process_landed_file,
    minimum_interval_seconds=SETTINGS.sensor_interval_seconds,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists the landing zone; requests one run per new or replaced file.",
)
def raw_files_sensor(
    context: SensorEvaluationContext, landing: LandingZone, ledger: LandingLedger
) -> SensorResult | SkipReason:
    cursor = LandingCursor.parse(context.cursor)
    now = time.time()
    full_scan = now - cursor.last_full_scan >= SETTINGS.sensor_full_scan_minutes * 60
    listed = landing.list_files(start_after=None if full_scan else cursor.high_water)
    if full_scan:
        cursor.last_full_scan = now
    if listed:
        cursor.high_water = max(cursor.high_water or "", listed[-1].key)
    ingested = ledger.cleaned_versions()
    wanted, notes = plan_runs(listed, cursor, ingested, SETTINGS.file_period_days)
    for note in notes:
        context.log.warning(note)
    requests = [
        RunRequest(run_key=run_key(landed), tags=file_run_tags(landed.key, landed.version, period))
        for landed, period in wanted
    ]
    if not requests:
        return SensorResult(
            skip_reason=SkipReason(f"no new file among {len(listed)} listed"),
            cursor=cursor.dump(),
        )
    return SensorResult(run_requests=requests, cursor=cursor.dump())
