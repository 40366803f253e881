"""Ingestion assets: landed text -> raw rows -> cleaned rows + quarantine, per day partition."""

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import reduce

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    BackfillPolicy,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import check_results
from fraud_assets.ingestion import checks
from fraud_assets.ingestion.cleaning import (
    DUPLICATE,
    classify,
    cleaned_rows,
    compare_repeated,
    quarantined_rows,
    repeated_ids,
    status_counts,
)
from fraud_assets.ingestion.landing import header_lines, parse_landed_file
from fraud_assets.metadata import markdown_table, preview
from fraud_assets.partitions import (
    DAILY_PARTITIONS,
    LANDED_FILE_TAG,
    LANDED_VERSION_TAG,
    FilePeriod,
    file_period,
)
from fraud_assets.resources.landing import LandedFile, LandingZone
from fraud_assets.resources.ledger import LandingLedger, LandingRecord
from fraud_assets.resources.spark import SparkResource
from fraud_assets.settings import Settings

GROUP = "ingestion"
IO_MANAGER = "parquet_io_manager"
PERIOD_DAYS = Settings.from_env().file_period_days
BROADCAST_REPEATED_IDS = 2_000_000


def _files_for_run(context: AssetExecutionContext, landing: LandingZone) -> list[LandedFile]:
    """The file a sensor run names, or every landed file whose period meets the run's days."""
    named = context.run.tags.get(LANDED_FILE_TAG)
    if named:
        landed = landing.get(named)
        expected = context.run.tags.get(LANDED_VERSION_TAG)
        if expected and expected != landed.version:
            context.log.warning(
                f"{named} was replaced since the run was requested (version {expected} -> "
                f"{landed.version}); ingesting the current content"
            )
        return [landed]
    days = set(context.partition_keys)
    return [
        f
        for f in landing.list_files()
        if days & set(file_period(f.key, PERIOD_DAYS).partition_keys)
    ]


@asset(
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    group_name=GROUP,
    io_manager_key=IO_MANAGER,
    kinds={"spark", "parquet"},
    description="Every line of the landed files as text, with its file, line number and day.",
)
def raw_transactions(
    context: AssetExecutionContext,
    spark: SparkResource,
    landing: LandingZone,
    ledger: LandingLedger,
) -> Iterator[Output[DataFrame]]:
    started = time.monotonic()
    keys = context.partition_keys
    files = _files_for_run(context, landing)
    if not files:
        raise FileNotFoundError(
            f"no landed file covers {keys[0]}..{keys[-1]} in {landing.describe()}"
        )
    session = spark.spark_session
    frames, records = [], []
    for landed in files:
        period = file_period(landed.key, PERIOD_DAYS)
        skipped = header_lines(landed.key, landing.head(landed))
        frame, rows = parse_landed_file(
            session, landing.spark_path(landed), landed.key, period, skipped
        )
        outside = sorted(set(period.partition_keys) - set(keys))
        if outside:
            context.log.warning(
                f"{landed.key} covers {len(outside)} days outside this run; their rows are left "
                "for a run over those days"
            )
            # Only then: a filter on `day` makes Spark compute the parsed columns twice.
            frame = frame.where(F.col("day").isin(keys))
        frames.append(frame)
        records.append((landed, period, rows, bool(skipped)))
    raw = reduce(DataFrame.unionByName, frames)
    per_file = [
        {"file": landed.key, "lines": rows, "days": f"{p.first_day}..{p.last_day}"}
        for landed, p, rows, _ in records
    ]
    yield Output(
        raw,
        metadata={
            "rows_in": sum(rows for _, _, rows, _ in records),
            "files": MetadataValue.md(markdown_table(per_file)),
            "seconds": round(time.monotonic() - started, 2),
            "preview": MetadataValue.md(preview(raw)),
        },
    )
    for landed, period, rows, header in records:
        if set(period.partition_keys) <= set(keys):
            ledger.record(_record(landed, period, rows, header, context.run_id))
        landing.release(landed)


def _record(
    landed: LandedFile, period: FilePeriod, rows: int, header: bool, run_id: str
) -> LandingRecord:
    return LandingRecord(
        key=landed.key,
        version=landed.version,
        size=landed.size,
        rows=rows,
        first_day=period.first_day.isoformat(),
        last_day=period.last_day.isoformat(),
        header=header,
        run_id=run_id,
        recorded_at=datetime.now(UTC).isoformat(),
    )


def _files_within(ledger: LandingLedger, keys: list[str]) -> list[LandingRecord]:
    """The ledger's records of the files whose every day is in this run."""
    return [r for r in ledger.records() if keys[0] <= r.first_day and r.last_day <= keys[-1]]


CLEANED = "cleaned_transactions"
QUARANTINED = "quarantined_transactions"
_CHECKS = {
    "row_conservation": "Per file and day: raw rows = cleaned + quarantined + duplicates.",
    "unique_transaction_id": "transaction_id occurs once among the run's cleaned rows.",
    "no_nulls": "No nulls in the cleaned table's columns.",
    "tx_datetime_within_file_period": "Each cleaned transaction lies in its file's period.",
}


@multi_asset(
    outs={
        CLEANED: AssetOut(
            group_name=GROUP,
            io_manager_key=IO_MANAGER,
            kinds={"spark", "parquet"},
            description="Typed, repaired transactions; exact duplicates dropped.",
        ),
        QUARANTINED: AssetOut(
            group_name=GROUP,
            io_manager_key=IO_MANAGER,
            kinds={"spark", "parquet"},
            description="Rows that broke a cleaning rule, with the reason and the text.",
        ),
    },
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(name, asset=CLEANED, description=text, blocking=True)
        for name, text in _CHECKS.items()
    ],
)
def clean_transactions(
    context: AssetExecutionContext, raw_transactions: DataFrame, ledger: LandingLedger
) -> Iterator[Output[DataFrame] | AssetCheckResult]:
    started = time.monotonic()
    keys = context.partition_keys
    ids = repeated_ids(raw_transactions).persist(StorageLevel.DISK_ONLY)
    repeated_count = ids.count()
    # A feed repeats few ids: ship them to every task instead of shuffling all rows by id.
    # A file sent twice repeats every id, and then the ordinary shuffle join is the safe one.
    few = repeated_count <= BROADCAST_REPEATED_IDS
    repeated = compare_repeated(raw_transactions, F.broadcast(ids) if few else ids)
    lookup = F.broadcast(repeated) if few else repeated
    # On disk only: a cached block is then streamed out, never first unrolled in the heap,
    # so memory stays bounded whatever the size of a file.
    classified = classify(raw_transactions, PERIOD_DAYS, lookup).persist(StorageLevel.DISK_ONLY)
    try:
        counts = [row.asDict() for row in status_counts(classified).collect()]
        by_status = Counter()
        by_reason = Counter()
        for row in counts:
            by_status[row["status"]] += row["count"]
            if row["reason"]:
                by_reason[row["reason"]] += row["count"]
        cleaned = cleaned_rows(classified)
        quarantined = quarantined_rows(classified)
        rows_in = sum(by_status.values())
        reasons = MetadataValue.md(
            markdown_table([{"reason": r, "rows": n} for r, n in by_reason.most_common()])
        )
        seconds = round(time.monotonic() - started, 2)
        yield Output(
            cleaned,
            output_name=CLEANED,
            metadata={
                "rows_in": rows_in,
                "rows_out": by_status["clean"],
                "rows_quarantined": by_status["quarantined"],
                "duplicates_dropped": by_status[DUPLICATE],
                "quarantine_reasons": reasons,
                **{f"quarantined_{reason}": n for reason, n in by_reason.items()},
                "repeated_transaction_ids": repeated_count,
                "seconds_to_classify": seconds,
                "preview": MetadataValue.md(preview(cleaned)),
            },
        )
        yield Output(
            quarantined,
            output_name=QUARANTINED,
            metadata={
                "rows": by_status["quarantined"],
                "reasons": reasons,
                "preview": MetadataValue.md(preview(quarantined)),
            },
        )
        # The checks read what was stored, not the plan that produced it.
        storage = context.resources.parquet_io_manager
        stored_cleaned = storage.read_partitions([CLEANED], keys)
        stored_quarantined = storage.read_partitions([QUARANTINED], keys)
        duplicates = classified.where(F.col("status") == DUPLICATE)
        whole_files = _files_within(ledger, keys)
        outcomes = {
            "row_conservation": checks.row_conservation(
                raw_transactions,
                stored_cleaned,
                stored_quarantined,
                duplicates,
                {record.key: record.rows for record in whole_files},
            ),
            "unique_transaction_id": checks.unique_transaction_ids(stored_cleaned),
            "no_nulls": checks.no_nulls(stored_cleaned),
            "tx_datetime_within_file_period": checks.datetimes_within_file_period(
                stored_cleaned, PERIOD_DAYS
            ),
        }
        yield from check_results(CLEANED, outcomes)
        if all(outcome.passed for outcome in outcomes.values()):
            for record in whole_files:
                ledger.mark_cleaned(record.key)
    finally:
        classified.unpersist()
        ids.unpersist()
