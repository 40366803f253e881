"""Data checks on ingestion outputs, as pure PySpark functions returning a CheckOutcome.

The asset checks in Dagster wrap these; tests call them directly on corrupted data.
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome
from fraud_assets.ingestion.schema import REQUIRED_CLEANED_COLUMNS
from fraud_assets.metadata import markdown_table
from fraud_assets.partitions import file_period

_SHOWN = 10
_TERMS = ("raw", "cleaned", "quarantined", "duplicates", "missing")


def _counts(frame: DataFrame, name: str) -> DataFrame:
    return frame.groupBy("source_file", "day").agg(F.count(F.lit(1)).alias(name))


def row_conservation(
    raw: DataFrame,
    cleaned: DataFrame,
    quarantined: DataFrame,
    duplicates: DataFrame,
    file_lines: dict[str, int] | None = None,
) -> CheckOutcome:
    """Per file and day: raw rows = cleaned + quarantined + duplicates dropped; and per file,
    raw rows = the data lines the landing ledger counted in the file, when it has them.

    `duplicates` holds one row per dropped duplicate with its source_file and day.
    """
    joined = (
        _counts(raw, "raw")
        .join(_counts(cleaned, "cleaned"), ["source_file", "day"], "full")
        .join(_counts(quarantined, "quarantined"), ["source_file", "day"], "full")
        .join(_counts(duplicates, "duplicates"), ["source_file", "day"], "full")
        .fillna(0)
        .withColumn("missing", F.col("raw") - F.col("cleaned") - F.col("quarantined"))
        .withColumn("missing", F.col("missing") - F.col("duplicates"))
    )
    rows = [row.asDict() for row in joined.orderBy("source_file", "day").collect()]
    broken = [row for row in rows if row["missing"] != 0]
    files: dict[str, dict[str, int]] = {}
    for row in rows:
        totals = files.setdefault(row["source_file"], dict.fromkeys(_TERMS, 0))
        for column in _TERMS:
            totals[column] += row[column]
    lines = file_lines or {}
    per_file = [
        {"source_file": name, "file_lines": lines.get(name, "?"), **totals}
        for name, totals in sorted(files.items())
    ]
    short = [
        row for row in per_file if row["source_file"] in lines and row["file_lines"] != row["raw"]
    ]
    problems = []
    if broken:
        problems.append(f"{len(broken)} of {len(rows)} (file, day) groups do not add up")
    if short:
        problems.append(f"{len(short)} files have other raw rows than lines")
    return CheckOutcome(
        passed=not problems,
        description="; ".join(problems)
        or f"raw = cleaned + quarantined + duplicates in all {len(rows)} (file, day) groups",
        metadata={
            "groups_checked": len(rows),
            "groups_broken": len(broken),
            "per_file": markdown_table(per_file),
            "broken_groups": markdown_table(broken[:_SHOWN]),
        },
    )


def unique_transaction_ids(cleaned: DataFrame) -> CheckOutcome:
    repeated = cleaned.groupBy("transaction_id").count().where(F.col("count") > 1)
    examples = [row.asDict() for row in repeated.limit(_SHOWN).collect()]
    total = repeated.count() if examples else 0
    return CheckOutcome(
        passed=total == 0,
        description=f"{total} transaction ids occur more than once"
        if total
        else "every transaction_id occurs once",
        metadata={"repeated_ids": total, "examples": markdown_table(examples)},
    )


def no_nulls(
    cleaned: DataFrame, columns: tuple[str, ...] = REQUIRED_CLEANED_COLUMNS
) -> CheckOutcome:
    counts = cleaned.select(*[F.count_if(F.col(c).isNull()).alias(c) for c in columns]).first()
    nulls = {c: counts[c] for c in columns if counts[c]}
    return CheckOutcome(
        passed=not nulls,
        description=f"nulls in {sorted(nulls)}" if nulls else "no nulls in required columns",
        metadata={"nulls_per_column": markdown_table([nulls]) if nulls else "none"},
    )


def datetimes_within_file_period(cleaned: DataFrame, period_days: int) -> CheckOutcome:
    """Each file's cleaned transactions lie in [first day 00:00, first day + period)."""
    ranges = cleaned.groupBy("source_file").agg(
        F.min("tx_datetime").alias("earliest"), F.max("tx_datetime").alias("latest")
    )
    rows, outside = [], []
    for row in ranges.orderBy("source_file").collect():
        period = file_period(row["source_file"], period_days)
        start = period.first_day
        end = period.last_day + timedelta(days=1)
        entry = {
            "source_file": row["source_file"],
            "period": f"[{start}, {end})",
            "earliest": str(row["earliest"]),
            "latest": str(row["latest"]),
        }
        rows.append(entry)
        if row["earliest"].date() < start or row["latest"].date() >= end:
            outside.append(entry)
    return CheckOutcome(
        passed=not outside,
        description=f"{len(outside)} files have transactions outside their period"
        if outside
        else "every transaction lies within its file's period",
        metadata={"files": markdown_table(rows)},
    )
