"""`raw_files_sensor`: one run per new or replaced landed file, over the days it covers.

Each tick lists the whole landing prefix (one cheap listing: a feed adds a file per period), so
a late file whose name sorts before the others is seen at the next tick. A local file is taken
once it holds still (the same size and modification time on two ticks in a row); an S3 object
is complete when it appears. A file that cannot be ingested (a name that is no date, a period
that starts before the partitions or overlaps another file's) is reported once per version, in
the tick's log and as an observation on raw_transactions, and never stops the other files.

A file whose run failed for a reason a retry may mend (the store was down, the run's process
died) is asked for again at the next tick, up to FRAUD_FILE_MAX_ATTEMPTS runs of a version. A
run that failed on its data (a DataError: a failed blocking check, a bad header) is not: the
same file would fail the same way, so it waits for a new version or a manual re-run.
"""

import json
from dataclasses import dataclass, field
from datetime import date

from dagster import (
    AssetObservation,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from fraud_assets.ingestion.assets import RAW
from fraud_assets.partitions import (
    LANDED_FILE_TAG,
    LANDED_VERSION_TAG,
    FilePeriod,
    file_period,
    file_run_tags,
    overlap_message,
    overlapping_periods,
)
from fraud_assets.resources.landing import LandedFile, LandingZone
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.rules import IngestionRules
from fraud_assets.settings import Settings


@dataclass
class LandingCursor:
    """What the sensor has requested (the version of each file), the versions it saw last
    tick of files not yet requested (to tell when a file holds still), and the versions it
    reported as rejected."""

    versions: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        document = json.loads(text)
        return cls(
            versions=document.get("versions", {}),
            pending=document.get("pending", {}),
            rejected=document.get("rejected", {}),
        )

    def dump(self) -> str:
        return json.dumps(
            {"versions": self.versions, "pending": self.pending, "rejected": self.rejected},
            sort_keys=True,
        )


@dataclass(frozen=True)
class Plan:
    wanted: list[tuple[LandedFile, FilePeriod]]
    rejected: list[tuple[LandedFile, str]]
    waiting: list[LandedFile]


def run_key(landed: LandedFile) -> str:
    return f"{landed.key}@{landed.version}"


def retry_request(
    instance: DagsterInstance, landed: LandedFile, period_days: int, max_attempts: int
) -> RunRequest | None:
    """Another run for a requested file whose last run failed on something a retry may mend."""
    runs = instance.get_runs(
        RunsFilter(tags={LANDED_FILE_TAG: landed.key, LANDED_VERSION_TAG: landed.version})
    )
    if not runs or len(runs) >= max_attempts:
        return None
    last = runs[0]
    if last.status != DagsterRunStatus.FAILURE:
        return None
    failures = instance.all_logs(last.run_id, of_type=DagsterEventType.STEP_FAILURE)
    # A DataError is a Dagster Failure: its step failure carries user failure data.
    if any(event.dagster_event.step_failure_data.user_failure_data for event in failures):
        return None
    return RunRequest(
        run_key=f"{run_key(landed)}#attempt-{len(runs) + 1}",
        tags=file_run_tags(landed.key, landed.version, file_period(landed.key, period_days)),
    )


def plan_runs(
    listed: list[LandedFile],
    cursor: LandingCursor,
    ingested: dict[str, str],
    period_days: int,
    first_day: date,
    arrives_whole: bool = True,
) -> Plan:
    """Files to ingest (new, or replaced with other content), files rejected (each reported
    once per version), and files still waiting to hold still. Updates the cursor.

    `ingested` maps keys to the version the ledger holds as cleaned, so a cursor that was reset
    does not ingest a file twice, and a file whose run failed is not taken for done.
    """
    named = [entry for entry in listed if entry.problem is None]
    overlapping: dict[str, str] = {}
    for pair in overlapping_periods([entry.key for entry in named], period_days):
        for key in pair[:2]:
            overlapping.setdefault(key, overlap_message([pair], period_days))
    wanted, rejected, waiting = [], [], []
    for landed in listed:
        if cursor.versions.get(landed.key) == landed.version:
            continue
        if ingested.get(landed.key) == landed.version:
            cursor.versions[landed.key] = landed.version
            continue
        problem = landed.problem or overlapping.get(landed.key)
        if problem is None and file_period(landed.key, period_days).first_day < first_day:
            problem = f"{landed.key} starts before the first partition {first_day}"
        if problem is not None:
            if cursor.rejected.get(landed.key) != landed.version:
                cursor.rejected[landed.key] = landed.version
                rejected.append((landed, problem))
            continue
        if not arrives_whole and cursor.pending.get(landed.key) != landed.version:
            cursor.pending[landed.key] = landed.version
            waiting.append(landed)
            continue
        cursor.pending.pop(landed.key, None)
        cursor.rejected.pop(landed.key, None)
        cursor.versions[landed.key] = landed.version
        wanted.append((landed, file_period(landed.key, period_days)))
    present = {entry.key for entry in listed}
    for stale in [key for key in cursor.pending if key not in present]:
        del cursor.pending[stale]
    return Plan(wanted, rejected, waiting)


def tick(
    context: SensorEvaluationContext,
    landing: LandingZone,
    ledger: LandingLedger,
    rules: IngestionRules,
    first_day: date,
) -> SensorResult:
    """One evaluation of the landing sensor."""
    cursor = LandingCursor.parse(context.cursor)
    listed = landing.list_entries()
    already_requested = dict(cursor.versions)
    ingested = ledger.cleaned_versions()
    plan = plan_runs(
        listed,
        cursor,
        ingested,
        rules.file_period_days,
        first_day,
        arrives_whole=landing.arrives_whole,
    )
    observations = []
    for landed, problem in plan.rejected:
        context.log.warning(f"skipped {landed.key}: {problem}")
        observations.append(
            AssetObservation(
                asset_key=RAW,
                metadata={"rejected_file": landed.key, "version": landed.version, "why": problem},
            )
        )
    for landed in plan.waiting:
        context.log.info(f"{landed.key} is new or changed; taken once it holds still")
    requests = [
        RunRequest(run_key=run_key(landed), tags=file_run_tags(landed.key, landed.version, period))
        for landed, period in plan.wanted
    ]
    for landed in listed:
        requested = already_requested.get(landed.key) == landed.version
        if requested and ingested.get(landed.key) != landed.version:
            again = retry_request(
                context.instance,
                landed,
                rules.file_period_days,
                rules.file_max_attempts,
            )
            if again is not None:
                context.log.info(f"{landed.key}: its last run failed; asking for it again")
                requests.append(again)
    skip = None
    if not requests:
        notes = [f"no new complete file among {len(listed)} listed"]
        notes += [f"waiting for {f.key} to hold still" for f in plan.waiting]
        notes += [f"skipped {f.key}: {problem}" for f, problem in plan.rejected]
        skip = "; ".join(notes)
    return SensorResult(
        run_requests=requests, skip_reason=skip, cursor=cursor.dump(), asset_events=observations
    )


def landing_sensor(settings: Settings, job_name: str) -> SensorDefinition:
    """`raw_files_sensor`, requesting the job named `job_name` for each file."""

    @sensor(
        name="raw_files_sensor",
        job_name=job_name,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Lists the landing zone; requests one run per new or replaced file.",
    )
    def raw_files_sensor(
        context: SensorEvaluationContext,
        landing: LandingZone,
        ledger: LandingLedger,
        ingestion_rules: IngestionRules,
    ) -> SensorResult:
        return tick(context, landing, ledger, ingestion_rules, settings.partitions_start)

    return raw_files_sensor
