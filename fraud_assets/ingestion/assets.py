"""Ingestion assets: landed text -> raw rows -> cleaned rows + quarantine, per day partition.

Each step stages its outputs, runs its blocking checks on the staged data and publishes only
when they pass: a wrong feed (another time origin, a wave of bad rows) fails the run and leaves
readers the data they had.
"""

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import reduce

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    MetadataValue,
    Output,
    ResourceParam,
)
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome, gate
from fraud_assets.common.decorators import DayAssets, blocking_checks
from fraud_assets.errors import DataError
from fraud_assets.ingestion import checks
from fraud_assets.ingestion.cleaning import (
    CLEAN,
    DUPLICATE,
    classify,
    cleaned_rows,
    compare_repeated,
    quarantined_rows,
    repeated_ids,
    status_counts,
    time_origin_offsets,
    with_typed_fields,
)
from fraud_assets.ingestion.landing import header_lines, parse_landed_file
from fraud_assets.metadata import markdown_table, preview
from fraud_assets.partitions import (
    DAYS_POOL,
    LANDED_FILE_TAG,
    LANDED_VERSION_TAG,
    FilePeriod,
    file_period,
    overlap_message,
    overlapping_periods,
)
from fraud_assets.resources.landing import LandedFile, LandingZone
from fraud_assets.resources.ledger import LandingLedger, LandingRecord
from fraud_assets.resources.rules import IngestionRules
from fraud_assets.resources.spark import SparkResource
from fraud_assets.resources.storage import PartitionedParquetIOManager
from fraud_assets.settings import Settings

GROUP = "ingestion"
RAW = "raw_transactions"
CLEANED = "cleaned_transactions"
QUARANTINED = "quarantined_transactions"
BROADCAST_REPEATED_IDS = 2_000_000


class LandingError(DataError, RuntimeError):
    """The landed files cannot give the days a run asks for."""


def _files_for_run(
    context: AssetExecutionContext,
    landing: LandingZone,
    ledger: LandingLedger,
    rules: IngestionRules,
) -> list[LandedFile]:
    """The file a sensor run names, or every landed file whose period meets the run's days.

    Fails when the landed files' periods overlap, or when a day of the run that the ledger
    knows holds data has lost its landed file.
    """
    listed = landing.list_files()
    overlaps = overlapping_periods([f.key for f in listed], rules.file_period_days)
    named = context.run.tags.get(LANDED_FILE_TAG)
    if named:
        landed = landing.get(named)
        expected = context.run.tags.get(LANDED_VERSION_TAG)
        if expected and expected != landed.version:
            context.log.warning(
                f"{named} was replaced since the run was requested (version {expected} -> "
                f"{landed.version}); ingesting the current content"
            )
        files = [landed]
    else:
        days = set(context.partition_keys)
        files = [
            f
            for f in listed
            if days & set(file_period(f.key, rules.file_period_days).partition_keys)
        ]
    mine = {f.key for f in files}
    relevant = [pair for pair in overlaps if mine & {pair[0], pair[1]}]
    if relevant:
        raise LandingError(overlap_message(relevant, rules.file_period_days))
    covered = {
        day for f in files for day in file_period(f.key, rules.file_period_days).partition_keys
    }
    keys = context.partition_keys
    known = ledger.days_with_data(date.fromisoformat(keys[0]), date.fromisoformat(keys[-1]))
    lost = sorted({name for day, name in known.items() if day not in covered})
    if lost:
        raise LandingError(
            f"the days {keys[0]}..{keys[-1]} hold data ingested from {', '.join(lost)}, which "
            f"{'is' if len(lost) == 1 else 'are'} no longer in {landing.describe()}; put the "
            "file back (or run only the days of the files that are there)"
        )
    if not files:
        raise LandingError(f"no landed file covers {keys[0]}..{keys[-1]} in {landing.describe()}")
    return files


def raw_transactions(
    context: AssetExecutionContext,
    spark: SparkResource,
    landing: LandingZone,
    ledger: LandingLedger,
    ingestion_rules: IngestionRules,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output | AssetCheckResult]:
    started = time.monotonic()
    keys = context.partition_keys
    rules = ingestion_rules
    files = _files_for_run(context, landing, ledger, rules)
    session = spark.spark_session
    frames, records = [], []
    try:
        for landed in files:
            frame, record = _parse(context, session, landing, landed, rules.file_period_days)
            frames.append(frame)
            records.append(record)
        # Typed in the same pass that splits the text: cleaning reads the types, not the text.
        raw = with_typed_fields(reduce(DataFrame.unionByName, frames))
        staged = parquet_io_manager.stage([RAW], raw, keys, context.run_id)
    finally:
        for landed in files:
            landing.release(landed)
    checking = time.monotonic()
    stored = parquet_io_manager.read_staged(staged)
    offsets = time_origin_offsets(stored, rules.origin)
    outcome = checks.time_origin([row.asDict() for row in offsets.collect()], rules.origin)
    seconds_to_check = round(time.monotonic() - checking, 2)
    yield from gate(RAW, {"time_origin": outcome}, lambda: parquet_io_manager.discard(staged))
    whole = [
        (landed, p, rows, h) for landed, p, rows, h in records if set(p.partition_keys) <= set(keys)
    ]
    per_file = [
        {"file": landed.key, "lines": rows, "days": f"{p.first_day}..{p.last_day}"}
        for landed, p, rows, _ in records
    ]
    yield Output(
        staged.allowing_empty({key for _, p, _, _ in whole for key in p.partition_keys}),
        metadata={
            "rows_in": sum(rows for _, _, rows, _ in records),
            "files": MetadataValue.md(markdown_table(per_file)),
            "seconds": round(time.monotonic() - started, 2),
            "seconds_to_check": seconds_to_check,
            "preview": MetadataValue.md(preview(stored)),
        },
    )
    for landed, period, rows, header in whole:
        ledger.record(_record(landed, period, rows, header, context.run_id))


def _parse(
    context: AssetExecutionContext,
    session: SparkSession,
    landing: LandingZone,
    landed: LandedFile,
    period_days: int,
) -> tuple[DataFrame, tuple[LandedFile, FilePeriod, int, bool]]:
    """The raw rows of one landed file within the run's days, and what the ledger records."""
    keys = context.partition_keys
    period = file_period(landed.key, period_days)
    skipped = header_lines(landed.key, landing.head(landed))
    frame, rows = parse_landed_file(
        session, landing.spark_path(landed), landed.key, period, skipped
    )
    context.log.info(
        f"{landed.key}: {rows:,} data lines, days {period.first_day}..{period.last_day}"
    )
    outside = sorted(set(period.partition_keys) - set(keys))
    if outside:
        context.log.warning(
            f"{landed.key} covers {len(outside)} days outside this run; their rows are left "
            "for a run over those days"
        )
        # Only then: a filter on `day` makes Spark compute the parsed columns twice.
        frame = frame.where(F.col("day").isin(keys))
    return frame, (landed, period, rows, bool(skipped))


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


def _known_ids(
    storage: PartitionedParquetIOManager, raw: DataFrame, keys: list[str], lookback_days: int
) -> DataFrame | None:
    """Ids that other files already published as cleaned, on the run's days and the
    `lookback_days` before them, within the range of the run's own ids (ids grow from file to
    file: the range lets parquet skip whole row groups of the others' ids)."""
    first = date.fromisoformat(keys[0]) - timedelta(days=lookback_days)
    days = FilePeriod(first, date.fromisoformat(keys[-1])).partition_keys
    present = [day for day, rows in storage.published_rows([CLEANED], days).items() if rows]
    if not present:
        return None
    ids = F.col("_transaction_id")
    summary = (
        with_typed_fields(raw)
        .agg(
            F.collect_set("source_file").alias("files"),
            F.min(ids).alias("low"),
            F.max(ids).alias("high"),
        )
        .first()
    )
    if summary["low"] is None:
        return None
    stored = storage.read_partitions([CLEANED], present)
    return stored.where(
        F.col("transaction_id").between(summary["low"], summary["high"])
        & ~F.col("source_file").isin(summary["files"])
    ).select("transaction_id")


_RAW_CHECKS = {
    "time_origin": "Each file's tx_time_seconds / tx_time_days count from FRAUD_TIME_ORIGIN.",
}
_CHECKS = {
    "row_conservation": "Per file and day: raw rows = cleaned + quarantined + duplicates.",
    "quarantine_share": "Per file and day: the quarantined share stays under "
    "FRAUD_MAX_QUARANTINE_SHARE, and no day with raw rows is left without cleaned rows.",
    "unique_transaction_id": "transaction_id occurs once among the run's cleaned rows.",
    "no_nulls": "No nulls in the cleaned table's columns.",
    "tx_datetime_within_file_period": "Each cleaned transaction lies in its file's period.",
}


def _classified(
    raw: DataFrame, known: DataFrame | None, rules: IngestionRules
) -> tuple[DataFrame, DataFrame, DataFrame, int]:
    """Every raw row with its status and reason (a plan), the rows that are not clean (on
    disk), the repeated ids (on disk) and how many there are.

    The clean rows are written straight from the plan: caching every classified row to read
    it twice cost more than one more read of the staged raw parquet, whose fields are typed.
    The rest of a healthy feed is a few rows, and on disk a wave of bad rows stays bounded.
    """
    ids = repeated_ids(raw, known).persist(StorageLevel.DISK_ONLY)
    repeated_count = ids.count()
    # A feed repeats few ids: ship them to every task instead of shuffling all rows by id.
    # A file sent twice repeats every id, and then the ordinary shuffle join is the safe one.
    few = repeated_count <= BROADCAST_REPEATED_IDS
    repeated = compare_repeated(raw, F.broadcast(ids) if few else ids)
    lookup = F.broadcast(repeated) if few else repeated
    classified = classify(raw, rules.file_period_days, rules.origin, lookup)
    # On disk only: a cached block is then streamed out, never first unrolled in the heap,
    # so memory stays bounded whatever the share of bad rows.
    not_clean = classified.where(F.col("status") != CLEAN).persist(StorageLevel.DISK_ONLY)
    return classified, not_clean, ids, repeated_count


def _clean_counts(cleaned: DataFrame) -> list[dict]:
    """Rows of `status_counts`' shape for the cleaned rows: a clean row always has its day."""
    grouped = cleaned.groupBy("source_file", "day").count()
    return [
        {**row.asDict(), "status": CLEAN, "reason": None, "dated": True}
        for row in grouped.collect()
    ]


def _tally(counts: list[dict]) -> tuple[Counter, Counter]:
    """Rows by status and quarantined rows by reason."""
    by_status, by_reason = Counter(), Counter()
    for row in counts:
        by_status[row["status"]] += row["count"]
        if row["reason"]:
            by_reason[row["reason"]] += row["count"]
    return by_status, by_reason


def _cleaning_outcomes(
    raw: DataFrame,
    cleaned: DataFrame,
    quarantined: DataFrame,
    duplicates: DataFrame,
    counts: list[dict],
    whole_files: list[LandingRecord],
    rules: IngestionRules,
) -> dict[str, CheckOutcome]:
    """The blocking checks of the cleaned rows, on what was staged."""
    return {
        "row_conservation": checks.row_conservation(
            raw, cleaned, quarantined, duplicates, {r.key: r.rows for r in whole_files}
        ),
        "quarantine_share": checks.quarantine_share(
            counts, rules.max_quarantine_share, checks.quarantine_examples(quarantined)
        ),
        "unique_transaction_id": checks.unique_transaction_ids(cleaned),
        "no_nulls": checks.no_nulls(cleaned),
        "tx_datetime_within_file_period": checks.datetimes_within_file_period(
            cleaned, rules.file_period_days
        ),
    }


def _cleaned_metadata(
    by_status: Counter, by_reason: Counter, repeated_count: int, seconds: dict[str, float]
) -> dict:
    return {
        "rows_in": sum(by_status.values()),
        "rows_out": by_status["clean"],
        "rows_quarantined": by_status["quarantined"],
        "duplicates_dropped": by_status[DUPLICATE],
        "quarantine_reasons": _reasons_table(by_reason),
        **{f"quarantined_{reason}": n for reason, n in by_reason.items()},
        "repeated_transaction_ids": repeated_count,
        **seconds,
    }


def _reasons_table(by_reason: Counter) -> MetadataValue:
    return MetadataValue.md(
        markdown_table([{"reason": r, "rows": n} for r, n in by_reason.most_common()])
    )


def clean_transactions(
    context: AssetExecutionContext,
    raw_transactions: DataFrame,
    ledger: LandingLedger,
    ingestion_rules: IngestionRules,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[DataFrame] | AssetCheckResult]:
    started = time.monotonic()
    keys = context.partition_keys
    rules, storage, raw = ingestion_rules, parquet_io_manager, raw_transactions
    known = _known_ids(storage, raw, keys, rules.duplicate_lookback_days)
    classified, not_clean, ids, repeated_count = _classified(raw, known, rules)
    try:
        staged_cleaned = storage.stage([CLEANED], cleaned_rows(classified), keys, context.run_id)
        staged_quarantined = storage.stage(
            [QUARANTINED], quarantined_rows(not_clean), keys, context.run_id
        )
        # The checks, and the counts of clean rows, read what was staged, not the plan that
        # produced it.
        checking = time.monotonic()
        stored_cleaned = storage.read_staged(staged_cleaned)
        stored_quarantined = storage.read_staged(staged_quarantined)
        counts = _clean_counts(stored_cleaned) + [
            row.asDict() for row in status_counts(not_clean).collect()
        ]
        by_status, by_reason = _tally(counts)
        whole_files = _files_within(ledger, keys)
        duplicates = not_clean.where(F.col("status") == DUPLICATE)
        outcomes = _cleaning_outcomes(
            raw, stored_cleaned, stored_quarantined, duplicates, counts, whole_files, rules
        )
        seconds = {
            "seconds_to_classify_and_stage": round(checking - started, 2),
            "seconds_to_check": round(time.monotonic() - checking, 2),
        }

        def discard() -> None:
            storage.discard(staged_cleaned)
            storage.discard(staged_quarantined)

        yield from gate(CLEANED, outcomes, discard)
        re_ingested = {
            key
            for record in whole_files
            for key in file_period(record.key, rules.file_period_days).partition_keys
        }
        yield Output(
            staged_cleaned.allowing_empty(re_ingested),
            output_name=CLEANED,
            metadata=_cleaned_metadata(by_status, by_reason, repeated_count, seconds)
            | {"preview": MetadataValue.md(preview(stored_cleaned))},
        )
        yield Output(
            staged_quarantined.allowing_empty(set(keys)),
            output_name=QUARANTINED,
            metadata={
                "rows": by_status["quarantined"],
                "reasons": _reasons_table(by_reason),
                "preview": MetadataValue.md(preview(stored_quarantined)),
            },
        )
        for record in whole_files:
            ledger.mark_cleaned(record.key, record.version, record.run_id)
    finally:
        not_clean.unpersist()
        ids.unpersist()


def ingestion_assets(settings: Settings) -> list[AssetsDefinition]:
    """raw_transactions and cleaned + quarantined transactions, partitioned from the
    settings' first day."""
    days = DayAssets.of(settings, GROUP, DAYS_POOL)
    raw = days.asset(
        RAW,
        kinds=("spark", "parquet"),
        check_specs=blocking_checks(RAW, _RAW_CHECKS),
        description="Every line of the landed files as text, with its file, line number and "
        "day, and its fields typed by the cleaning rules.",
    )(raw_transactions)
    cleaned = days.multi_asset(
        {
            CLEANED: "Typed, repaired transactions; exact duplicates dropped.",
            QUARANTINED: "Rows that broke a cleaning rule, with the reason and the text.",
        },
        kinds=("spark", "parquet"),
        check_specs=blocking_checks(CLEANED, _CHECKS),
    )(clean_transactions)
    return [raw, cleaned]
