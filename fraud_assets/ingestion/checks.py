"""Data checks on ingestion outputs, as pure PySpark functions returning a CheckOutcome.

The asset checks in Dagster wrap these; tests call them directly on corrupted data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome
from fraud_assets.ingestion.schema import FIELDS, REQUIRED_CLEANED_COLUMNS
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
    """Each file's cleaned transactions lie in [first day 00:00, first day + period).

    Dates are compared inside Spark and collected as text: collected timestamps become
    datetimes in the process's local zone, which would move the edges outside UTC.
    """
    ranges = cleaned.groupBy("source_file").agg(
        F.date_format(F.min("tx_datetime"), "yyyy-MM-dd HH:mm:ss").alias("earliest"),
        F.date_format(F.max("tx_datetime"), "yyyy-MM-dd HH:mm:ss").alias("latest"),
    )
    rows, outside = [], []
    for row in ranges.orderBy("source_file").collect():
        period = file_period(row["source_file"], period_days)
        start = period.first_day.isoformat()
        end = (period.last_day + timedelta(days=1)).isoformat()
        entry = {
            "source_file": row["source_file"],
            "period": f"[{start}, {end})",
            "earliest": row["earliest"],
            "latest": row["latest"],
        }
        rows.append(entry)
        if row["earliest"][:10] < start or row["latest"][:10] >= end:
            outside.append(entry)
    return CheckOutcome(
        passed=not outside,
        description=f"{len(outside)} files have transactions outside their period"
        if outside
        else "every transaction lies within its file's period",
        metadata={"files": markdown_table(rows)},
    )


@dataclass(frozen=True)
class OriginMismatch:
    """A file whose time columns count from another day than the configured origin."""

    source_file: str
    implied_origin: str
    share: float

    def message(self, origin: date) -> str:
        return (
            f"{self.source_file}: tx_time_seconds and tx_time_days agree with each other but "
            f"count from {self.implied_origin} ({self.share:.1%} of its rows), not from the "
            f"configured time origin {origin}. If the feed counts from that day, set "
            f"FRAUD_TIME_ORIGIN={self.implied_origin[:10]}"
            + (
                ""
                if self.implied_origin.endswith("00:00:00")
                else f" (origin {self.implied_origin})"
            )
            + "; nothing of this file was published."
        )


def origin_mismatches(offset_counts: list[dict], origin: date) -> list[OriginMismatch]:
    """Files whose most common time offset (from `time_origin_offsets`) is not 0 and covers
    most of their rows: one constant shift of every row is a misconfigured origin, not bad rows.
    """
    by_file: dict[str, dict[int, int]] = {}
    for row in offset_counts:
        by_file.setdefault(row["source_file"], {})[int(row["offset"])] = int(row["count"])
    found = []
    start = datetime.combine(origin, datetime.min.time())
    for name, counts in sorted(by_file.items()):
        offset, rows = max(counts.items(), key=lambda item: (item[1], -abs(item[0])))
        share = rows / sum(counts.values())
        if offset != 0 and share > 0.5:
            implied = (start + timedelta(seconds=offset)).isoformat(sep=" ")
            found.append(OriginMismatch(name, implied, share))
    return found


def time_origin(offset_counts: list[dict], origin: date) -> CheckOutcome:
    mismatches = origin_mismatches(offset_counts, origin)
    per_file: dict[str, dict] = {}
    for row in offset_counts:
        entry = per_file.setdefault(row["source_file"], {"source_file": row["source_file"]})
        entry["rows_checked"] = entry.get("rows_checked", 0) + row["count"]
        if int(row["offset"]) == 0:
            entry["rows_at_origin"] = row["count"]
    return CheckOutcome(
        passed=not mismatches,
        description=" ".join(m.message(origin) for m in mismatches)
        or f"the time columns of every file count from {origin}",
        metadata={
            "time_origin": str(origin),
            "files": markdown_table(list(per_file.values())),
            "implied_origins": markdown_table(
                [
                    {"source_file": m.source_file, "implied_origin": m.implied_origin}
                    for m in mismatches
                ]
            ),
        },
    )


def quarantine_share(
    counts: list[dict], max_share: float, examples: list[dict] | None = None
) -> CheckOutcome:
    """Per file and per day, the quarantined share of the raw rows stays at or under
    `max_share`, and no day with raw rows is left without cleaned rows.

    `counts` are the rows of `status_counts` (source_file, day, status, reason, dated, count).
    A row whose own date did not place it in a day (unreadable, or outside the file's period)
    counts for its file only: lumped onto an edge day, a few of them would make that day look
    like a wave of bad rows.
    """
    files: dict[str, Counter] = {}
    days: dict[tuple[str, str], Counter] = {}
    reasons: Counter = Counter()
    undated = 0
    for row in counts:
        groups = [files.setdefault(row["source_file"], Counter())]
        if row.get("dated", True):
            groups.append(days.setdefault((row["source_file"], row["day"]), Counter()))
        else:
            undated += row["count"]
        for group in groups:
            group["raw"] += row["count"]
            group[row["status"]] += row["count"]
        if row["reason"]:
            reasons[row["reason"]] += row["count"]
    total = sum(group["raw"] for group in files.values())

    def share(group: Counter) -> float:
        return group["quarantined"] / group["raw"] if group["raw"] else 0.0

    file_rows = [
        {"source_file": name, "raw": g["raw"], "quarantined": g["quarantined"], "share": share(g)}
        for name, g in sorted(files.items())
    ]
    over_files = [row for row in file_rows if row["share"] > max_share]
    over_days = [
        {"source_file": name, "day": day, "raw": g["raw"], "cleaned": g["clean"], "share": share(g)}
        for (name, day), g in sorted(days.items())
        if share(g) > max_share or (g["raw"] and not g["clean"])
    ]
    problems = []
    if over_files:
        worst = max(over_files, key=lambda row: row["share"])
        problems.append(
            f"{len(over_files)} files quarantine more than {max_share:.2%} of their rows "
            f"({worst['source_file']}: {worst['share']:.2%})"
        )
    if over_days:
        problems.append(
            f"{len(over_days)} days quarantine more than {max_share:.2%} of their rows or keep "
            f"no cleaned row (first: {over_days[0]['day']} of {over_days[0]['source_file']})"
        )
    if problems:
        problems.append(
            "nothing of these files was published; fix the feed, or raise "
            "FRAUD_MAX_QUARANTINE_SHARE if this much bad data is expected"
        )

    def shown(rows: list[dict]) -> list[dict]:
        return [{**row, "share": f"{row['share']:.3%}"} for row in rows[:_SHOWN]]

    return CheckOutcome(
        passed=not problems,
        description="; ".join(problems)
        or f"quarantined share at most {max_share:.2%} in every file and day",
        metadata={
            "max_share": max_share,
            "quarantined_share": sum(r["quarantined"] for r in file_rows) / total if total else 0.0,
            "per_file": markdown_table(shown(file_rows)),
            "days_over": len(over_days),
            "days_over_examples": markdown_table(shown(over_days)),
            "rows_without_own_day": undated,
            "per_reason": markdown_table(
                [
                    {"reason": r, "rows": n, "share": f"{n / total:.3%}"}
                    for r, n in reasons.most_common()
                ]
            ),
            "example_lines": markdown_table(examples or []),
        },
    )


def quarantine_examples(quarantined: DataFrame, per_reason: int = 3) -> list[dict]:
    """The first few quarantined lines of each reason, as they were written in the file."""
    text = F.coalesce(
        F.col("raw_line"),
        F.concat_ws(",", *[F.coalesce(F.col(name), F.lit("")) for name in FIELDS]),
    )
    order = Window.partitionBy("reason").orderBy("source_file", "line_number")
    ranked = quarantined.select(
        "reason",
        "source_file",
        "line_number",
        text.alias("line"),
        F.row_number().over(order).alias("n"),
    ).where(F.col("n") <= per_reason)
    rows = ranked.orderBy("reason", "n").drop("n").collect()
    # The lines are raw feed text: markdown_table escapes and shortens them when shown.
    return [row.asDict() for row in rows]
