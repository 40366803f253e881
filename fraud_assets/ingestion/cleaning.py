"""Cleaning rules (DATA.md §1): type the raw text, repair what has a sure meaning, drop exact
duplicates, and send every other bad row to quarantine with a reason.

Pure PySpark: `classify` takes the raw rows and returns each with a status
(clean / quarantined / duplicate) and a reason; `cleaned_rows` and `quarantined_rows` select
the two outputs. Every raw row comes out exactly once, so per file and per day
raw = cleaned + quarantined + duplicates.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_assets.ingestion.landing import written_day
from fraud_assets.ingestion.schema import (
    CLEANED_COLUMNS,
    DATETIME_SHAPE,
    FIELD_REASON,
    FIELDS,
    QUARANTINED_COLUMNS,
    SENTINEL_CUSTOMER_ID,
    TYPED_FIELDS,
)

CLEAN, QUARANTINED, DUPLICATE = "clean", "quarantined", "duplicate"


class Reason(StrEnum):
    """Why a row is quarantined; the first rule a row breaks is its reason."""

    BLANK_LINE = "blank_line"
    WRONG_COLUMN_COUNT = "wrong_column_count"
    BAD_ENCODING = "bad_encoding"
    MISSING_TRANSACTION_ID = "missing_transaction_id"
    MISSING_TX_DATETIME = "missing_tx_datetime"
    MISSING_CUSTOMER_ID = "missing_customer_id"
    MISSING_TERMINAL_ID = "missing_terminal_id"
    MISSING_TX_AMOUNT = "missing_tx_amount"
    MISSING_TX_TIME_SECONDS = "missing_tx_time_seconds"
    MISSING_TX_TIME_DAYS = "missing_tx_time_days"
    MISSING_TX_FRAUD = "missing_tx_fraud"
    MISSING_TX_FRAUD_SCENARIO = "missing_tx_fraud_scenario"
    INVALID_TRANSACTION_ID = "invalid_transaction_id"
    INVALID_TX_DATETIME = "invalid_tx_datetime"
    INVALID_CUSTOMER_ID = "invalid_customer_id"
    INVALID_TERMINAL_ID = "invalid_terminal_id"
    INVALID_TX_AMOUNT = "invalid_tx_amount"
    INVALID_TX_TIME_SECONDS = "invalid_tx_time_seconds"
    INVALID_TX_TIME_DAYS = "invalid_tx_time_days"
    INVALID_TX_FRAUD = "invalid_tx_fraud"
    INVALID_TX_FRAUD_SCENARIO = "invalid_tx_fraud_scenario"
    SENTINEL_CUSTOMER_ID = "sentinel_customer_id"
    NON_POSITIVE_AMOUNT = "non_positive_amount"
    INCONSISTENT_LABEL = "inconsistent_label"
    INCONSISTENT_TIME = "inconsistent_time"
    OUTSIDE_FILE_PERIOD = "outside_file_period"
    CONFLICTING_TRANSACTION_ID = "conflicting_transaction_id"
    TRANSACTION_ID_IN_OTHER_FILE = "transaction_id_in_other_file"


def _whole_number(text: Column) -> Column:
    """The integer a text holds, or null. Spark's cast (ANSI) refuses decimals, exponents and
    anything not a number; it accepts surrounding blanks and a leading '+'."""
    return text.try_cast("long")


def _amount(text: Column) -> Column:
    """A plain decimal amount, or null: no exponent, NaN or Infinity, which a cast would take."""
    return F.when(text.rlike(r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"), text.try_cast("double"))


def _timestamp(text: Column) -> Column:
    """`YYYY-MM-DD HH:MM:SS` exactly; `24:00:00` is midnight at the end of that day."""
    well_shaped = text.rlike(DATETIME_SHAPE)
    midnight = F.substring(text, 12, 8) == F.lit("24:00:00")
    repaired = F.substring(text, 1, 10).try_cast("date").cast("timestamp") + F.expr(
        "INTERVAL 1 DAY"
    )
    return F.when(well_shaped, F.when(midnight, repaired).otherwise(text.try_cast("timestamp")))


def with_typed_fields(raw: DataFrame) -> DataFrame:
    """`raw` with each field typed (`TYPED_FIELDS`), null where its text breaks the rules,
    and the first rule its line breaks on its own (`FIELD_REASON`).

    Raw rows carry these columns from their one parse; rows staged before raw did (text
    only) are typed here, so older partitions clean exactly as they always did.
    """
    if {*TYPED_FIELDS, FIELD_REASON} <= set(raw.columns):
        return raw
    typed = raw.select(
        "*",
        _whole_number(F.col("transaction_id")).alias("_transaction_id"),
        _timestamp(F.col("tx_datetime")).alias("_tx_datetime"),
        _whole_number(F.col("customer_id")).alias("_customer_id"),
        _whole_number(F.col("terminal_id")).alias("_terminal_id"),
        _amount(F.col("tx_amount")).alias("_tx_amount"),
        _whole_number(F.col("tx_time_seconds")).alias("_tx_time_seconds"),
        _whole_number(F.col("tx_time_days")).alias("_tx_time_days"),
        _whole_number(F.col("tx_fraud")).alias("_tx_fraud"),
        _whole_number(F.col("tx_fraud_scenario")).alias("_tx_fraud_scenario"),
    )
    return typed.withColumn(FIELD_REASON, _field_reason())


def seconds_since(origin: date, timestamp: Column) -> Column:
    return F.unix_timestamp(timestamp) - F.unix_timestamp(F.to_timestamp(F.lit(origin.isoformat())))


def _first_broken(rules: list[tuple[Column, Reason]]) -> Column:
    reason = F.lit(None).cast("string")
    for condition, code in reversed(rules):
        reason = F.when(condition, F.lit(code.value)).otherwise(reason)
    return reason


def _field_reason() -> Column:
    """The first rule a line breaks in its own text and values, or null: rules that hold
    whatever the settings, so raw stores their outcome with the typed fields."""
    rules: list[tuple[Column, Reason]] = [
        (F.col("field_count") == 0, Reason.BLANK_LINE),
        (F.col("field_count") != len(FIELDS), Reason.WRONG_COLUMN_COUNT),
        (F.col("raw_line").isNotNull(), Reason.BAD_ENCODING),
    ]
    rules += [(F.col(name) == "", Reason(f"missing_{name}")) for name in FIELDS]
    rules += [(F.col(f"_{name}").isNull(), Reason(f"invalid_{name}")) for name in FIELDS]
    rules += [
        (F.col("_transaction_id") < 0, Reason.INVALID_TRANSACTION_ID),
        (F.col("_customer_id") == SENTINEL_CUSTOMER_ID, Reason.SENTINEL_CUSTOMER_ID),
        (F.col("_customer_id") < 0, Reason.INVALID_CUSTOMER_ID),
        (F.col("_terminal_id") < 0, Reason.INVALID_TERMINAL_ID),
        (~F.col("_tx_fraud").isin(0, 1), Reason.INVALID_TX_FRAUD),
        (~F.col("_tx_fraud_scenario").isin(0, 1, 2, 3), Reason.INVALID_TX_FRAUD_SCENARIO),
        (
            (F.col("_tx_fraud") == 1) != (F.col("_tx_fraud_scenario") > 0),
            Reason.INCONSISTENT_LABEL,
        ),
        (F.col("_tx_amount") <= 0, Reason.NON_POSITIVE_AMOUNT),
    ]
    return _first_broken(rules)


def _row_reason(period_days: int, origin: date) -> Column:
    """The first rule a row breaks on its own, or null: its line's `_field_reason`, then the
    rules that depend on the settings (the time origin, the file period)."""
    first_day = F.substring(F.col("source_file"), -14, 10).try_cast("date")
    period_start = F.to_timestamp(first_day)
    period_end = F.to_timestamp(F.date_add(first_day, period_days))
    seconds_since_origin = seconds_since(origin, F.col("_tx_datetime"))
    rules = [
        (
            (F.col("_tx_time_seconds") != seconds_since_origin)
            | (F.col("_tx_time_days") != F.floor(F.col("_tx_time_seconds") / 86_400)),
            Reason.INCONSISTENT_TIME,
        ),
        (
            (F.col("_tx_datetime") < period_start) | (F.col("_tx_datetime") >= period_end),
            Reason.OUTSIDE_FILE_PERIOD,
        ),
    ]
    return F.coalesce(F.col(FIELD_REASON), _first_broken(rules))


def _well_formed_with_id(raw: DataFrame) -> DataFrame:
    return (
        with_typed_fields(raw)
        .where(F.col("field_count") == len(FIELDS))
        .withColumn("_id", F.col("_transaction_id"))
    )


def repeated_ids(raw: DataFrame, known_ids: DataFrame | None = None) -> DataFrame:
    """Valid transaction ids on more than one well-formed line, or already stored from another
    file: columns `_id` and `_known` (the id is in `known_ids`, a one-column frame of ids).

    It reads one column, and a feed repeats few ids: everything else about duplicates is
    decided on these ids only, instead of shuffling every row by id.
    """
    ids = (
        _well_formed_with_id(raw)
        .where(F.col("_id").isNotNull())
        .select("_id", F.lit(1).alias("_lines"), F.lit(False).alias("_known"))
    )
    if known_ids is not None:
        known = known_ids.select(
            F.col(known_ids.columns[0]).alias("_id"),
            F.lit(0).alias("_lines"),
            F.lit(True).alias("_known"),
        )
        ids = ids.unionByName(known)
    return (
        ids.groupBy("_id")
        .agg(F.sum("_lines").alias("_lines"), F.max("_known").alias("_known"))
        .where((F.col("_lines") > 1) | ((F.col("_lines") > 0) & F.col("_known")))
        .select("_id", "_known")
    )


def compare_repeated(raw: DataFrame, ids: DataFrame) -> DataFrame:
    """For each id of `repeated_ids`: whether its lines differ in content, its first line, and
    whether another file holds it."""
    content = F.xxhash64(*[F.col(name) for name in FIELDS])
    return (
        _well_formed_with_id(raw)
        .join(ids, "_id", "inner")
        .groupBy("_id")
        .agg(
            (F.min(content) != F.max(content)).alias("_conflict"),
            F.min(F.struct("source_file", "line_number")).alias("_first"),
            F.max("_known").alias("_known"),
        )
    )


def classify(
    raw: DataFrame, period_days: int, origin: date, repeated: DataFrame | None = None
) -> DataFrame:
    """Every raw row with `status`, `reason`, typed fields (prefixed `_`) and, for quarantined
    rows, the text fields.

    Well-formed rows that share a transaction id are compared by content: later copies of
    identical content are duplicates (dropped); differing content quarantines all copies,
    since nothing says which one is right. An id that another file already holds quarantines
    every copy too. `repeated` is `compare_repeated(raw, repeated_ids(raw, known_ids))`, passed
    in when the caller has it at hand. `origin` is the day the feed's time columns count from.
    """
    if repeated is None:
        repeated = compare_repeated(raw, repeated_ids(raw))
    typed = with_typed_fields(raw).withColumn("_row_reason", _row_reason(period_days, origin))
    well_formed = F.col("field_count") == len(FIELDS)
    compared = typed.join(repeated, typed["_transaction_id"] == repeated["_id"], "left")
    is_later_copy = F.col("_first").isNotNull() & (
        F.struct("source_file", "line_number") != F.col("_first")
    )
    reason = (
        F.when(F.col("_row_reason").isNotNull(), F.col("_row_reason"))
        .when(well_formed & F.col("_conflict"), F.lit(Reason.CONFLICTING_TRANSACTION_ID.value))
        .when(well_formed & F.col("_known"), F.lit(Reason.TRANSACTION_ID_IN_OTHER_FILE.value))
    )
    status = (
        F.when(reason.isNotNull(), F.lit(QUARANTINED))
        .when(well_formed & is_later_copy, F.lit(DUPLICATE))
        .otherwise(F.lit(CLEAN))
    )
    decided = compared.select("*", status.alias("status"), reason.alias("reason"))
    # The text of a row is only kept where the quarantine needs it: half the width to carry.
    kept_text = [
        F.when(F.col("status") == QUARANTINED, F.col(name)).alias(name)
        for name in (*FIELDS, "raw_line")
    ]
    return decided.select(
        "source_file",
        "line_number",
        "day",
        "field_count",
        *kept_text,
        *TYPED_FIELDS,
        "status",
        "reason",
    )


def cleaned_rows(classified: DataFrame) -> DataFrame:
    clean = classified.where(F.col("status") == CLEAN)
    return clean.select(
        F.col("_transaction_id").alias("transaction_id"),
        F.col("_tx_datetime").alias("tx_datetime"),
        F.col("_customer_id").alias("customer_id"),
        F.col("_terminal_id").alias("terminal_id"),
        F.col("_tx_amount").alias("tx_amount"),
        F.col("_tx_time_seconds").alias("tx_time_seconds"),
        F.col("_tx_time_days").cast("int").alias("tx_time_days"),
        F.col("_tx_fraud").cast("int").alias("tx_fraud"),
        F.col("_tx_fraud_scenario").cast("int").alias("tx_fraud_scenario"),
        "source_file",
        "line_number",
        "day",
    ).select(*CLEANED_COLUMNS)


def quarantined_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("status") == QUARANTINED).select(*QUARANTINED_COLUMNS)


def time_origin_offsets(raw: DataFrame, origin: date) -> DataFrame:
    """Per file, the rows whose time fields parse and whose tx_time_days agrees with
    tx_time_seconds, counted by `offset`: the seconds by which tx_time_seconds falls short of
    tx_datetime measured from `origin` (0 when the feed counts from `origin`)."""
    typed = with_typed_fields(raw)
    seconds, days = F.col("_tx_time_seconds"), F.col("_tx_time_days")
    offset = seconds_since(origin, F.col("_tx_datetime")) - seconds
    agreeing = typed.where(
        (F.col("field_count") == len(FIELDS)) & (days == F.floor(seconds / 86_400))
    )
    return agreeing.where(offset.isNotNull()).groupBy("source_file", offset.alias("offset")).count()


def status_counts(classified: DataFrame) -> DataFrame:
    """Rows per source file, day, status, reason and `dated`: one small aggregate for metadata
    and checks. `dated` is false for a row whose own date did not place it in its day (none
    could be read, or it lay outside the file's period, so the row went to an edge day)."""
    own_day = F.date_format(written_day(F.col("tx_datetime")), "yyyy-MM-dd") == F.col("day")
    dated = (F.col("status") != QUARANTINED) | F.coalesce(own_day, F.lit(False))
    return classified.groupBy(
        "source_file", "day", "status", "reason", dated.alias("dated")
    ).count()
