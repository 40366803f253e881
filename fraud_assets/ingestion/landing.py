"""Landed text to raw rows: every line kept as text, with its file and line number.

Pure PySpark: takes a SparkSession and a path, returns a DataFrame, knows nothing of Dagster.
"""

from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_assets.errors import DataError
from fraud_assets.ingestion.schema import FIELDS, HEADER_ALIASES, RAW_TEXT_COLUMNS
from fraud_assets.partitions import FilePeriod

_MAX_ROWS_PER_SPLIT_BITS = 33
_LINE_END = re.compile(rb"\r\n|\r|\n")
_UTF8_BOM = b"\xef\xbb\xbf"


class RawFileFormatError(DataError, ValueError):
    """A landed file's header names other columns than the feed's."""


def header_lines(source_file: str, head: bytes) -> int:
    """1 if the file starts with the feed's commented header, 0 if it starts with data.

    Raises RawFileFormatError when the header lists other columns (renamed, reordered),
    because then every data line would be read into the wrong field.
    """
    # Lines end at LF, CR or CRLF, as Spark's text reader splits them; a byte-order mark is
    # not part of the header.
    first_line = _LINE_END.split(head.removeprefix(_UTF8_BOM), maxsplit=1)[0]
    first = first_line.decode("utf-8", errors="replace").strip()
    if not first.startswith("#"):
        return 0
    names = [name.strip() for name in first.lstrip("#").split("|")]
    names = [HEADER_ALIASES.get(name, name) for name in names]
    if tuple(names) != FIELDS:
        shown = str(names) if len(str(names)) <= 300 else str(names)[:300] + "...]"
        raise RawFileFormatError(
            f"{source_file}: line 1 is a header with columns {shown}, "
            f"expected {list(FIELDS)} (separated by '|'); fix the feed or the file"
        )
    return 1


def _numbered_lines(spark: SparkSession, path: str) -> tuple[DataFrame, int]:
    """The file's lines with their 1-based line numbers, without a shuffle.

    Spark reads a text file in splits, in file order; monotonically_increasing_id is
    (split << 33) + position within the split, so the line number is the lines in earlier
    splits plus the position. Counting lines per split is one cheap extra scan.
    """
    lines = spark.read.text(path).select(
        F.col("value").alias("line"),
        F.spark_partition_id().alias("split"),
        F.monotonically_increasing_id().alias("row_id"),
    )
    counts = dict(lines.groupBy("split").count().collect())
    offsets, total = [], 0
    for split in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(split, 0)
    if not offsets:
        return lines.select("line", F.lit(None).cast("long").alias("line_number")), 0
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), F.col("split") + 1)
    position = F.col("row_id") - F.shiftleft(F.col("split").cast("long"), _MAX_ROWS_PER_SPLIT_BITS)
    return lines.select("line", (offset + position + 1).alias("line_number")), total


def written_day(datetime_text: Column) -> Column:
    """The date a row's datetime text names (24:00:00 moves to the next day); null when it
    cannot be read."""
    written = F.substring(datetime_text, 1, 10).try_cast("date")
    is_24h = F.substring(datetime_text, 12, 8) == F.lit("24:00:00")
    return F.when(is_24h, F.date_add(written, 1)).otherwise(written)


def _assigned_day(datetime_text: Column, period: FilePeriod) -> Column:
    """The day partition of a raw row: its `written_day`, clamped into the file's period; the
    first day when the date cannot be read."""
    day = written_day(datetime_text)
    first, last = F.lit(period.first_day), F.lit(period.last_day)
    clamped = F.when(day < first, first).when(day > last, last).otherwise(day)
    return F.date_format(F.coalesce(clamped, first), "yyyy-MM-dd")


def parse_landed_file(
    spark: SparkSession, path: str, source_file: str, period: FilePeriod, skip_lines: int
) -> tuple[DataFrame, int]:
    """Raw rows of one landed file, the nine fields as text, nothing dropped; and their count.

    A line that does not split into nine fields, or is not valid UTF-8, keeps its text in
    `raw_line` (invalid bytes replaced) and has null fields.
    """
    numbered, line_count = _numbered_lines(spark, path)
    # Split once into a column of its own: expressions inside `when` are not shared between
    # the nine fields, so an inline split would run once per field.
    split = numbered.where(F.col("line_number") > skip_lines).select(
        "line",
        "line_number",
        F.split(F.col("line"), ",").alias("parts"),
        F.is_valid_utf8(F.col("line")).alias("valid_utf8"),
    )
    shaped = split.select(
        "*",
        F.when(F.col("line") == "", F.lit(0)).otherwise(F.size("parts")).alias("field_count"),
    ).withColumn("well_formed", (F.col("field_count") == len(FIELDS)) & F.col("valid_utf8"))
    rows = shaped.select(
        F.lit(source_file).alias("source_file"),
        "line_number",
        *[
            F.when(F.col("well_formed"), F.get(F.col("parts"), i)).alias(name)
            for i, name in enumerate(FIELDS)
        ],
        "field_count",
        F.when(~F.col("well_formed"), F.make_valid_utf8(F.col("line"))).alias("raw_line"),
    )
    with_day = rows.withColumn("day", _assigned_day(F.col("tx_datetime"), period))
    return with_day.select(*RAW_TEXT_COLUMNS), max(line_count - skip_lines, 0)
