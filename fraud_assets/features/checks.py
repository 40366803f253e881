"""Data checks on the feature table, as pure PySpark functions returning a CheckOutcome.

The value checks read one profile of the stored table (minimum, maximum, nulls and values
other than 0/1 per column), computed in a single pass; tests build profiles of corrupted
tables and see each check fail.
"""

import math
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import CheckOutcome
from fraud_assets.features.transforms import (
    CALENDAR_FEATURES,
    CUSTOMER_FEATURES,
    EARLY_RISK_FEATURE,
    FEATURE_TABLE_COLUMNS,
    KNOWN_FRAUD_AGE_FEATURE,
    KNOWN_FRAUD_CAP_SECONDS,
    PREVIOUS_GAP_CAP_SECONDS,
    PREVIOUS_GAP_FEATURE,
    SECONDS_PER_DAY,
    TERMINAL_DELAY_DAYS,
    TERMINAL_FEATURES,
    ZSCORE_FEATURES,
)
from fraud_assets.metadata import markdown_table

_SHOWN = 10
Profile = dict[str, dict[str, Any]]


def _id_fingerprints(frame: DataFrame, id_column: str, prefix: str, *extra) -> DataFrame:
    """Per day: rows, and the sum of a 64-bit hash of each id (equal multisets of ids give
    equal sums; a lost, extra or repeated id changes it)."""
    return frame.groupBy("day").agg(
        F.count(F.lit(1)).alias(f"{prefix}_rows"),
        F.sum(F.xxhash64(id_column).cast("decimal(38,0)")).alias(f"{prefix}_id_hashes"),
        *extra,
    )


def one_row_per_transaction(cleaned: DataFrame, features: DataFrame) -> CheckOutcome:
    """Per day, the feature table holds each cleaned transaction exactly once, and nothing
    else. `cleaned` holds the cleaned rows of the checked days only. The metadata also
    gives each day's rows and fraud rate."""
    frauds = F.sum("TX_FRAUD").alias("frauds")
    joined = _id_fingerprints(cleaned, "transaction_id", "cleaned").join(
        _id_fingerprints(features, "TRANSACTION_ID", "features", frauds), "day", "full"
    )
    days = [row.asDict() for row in joined.orderBy("day").collect()]
    broken = [
        row
        for row in days
        if (row["cleaned_rows"], row["cleaned_id_hashes"])
        != (row["features_rows"], row["features_id_hashes"])
    ]
    examples = _unmatched_ids(cleaned, features, [row["day"] for row in broken]) if broken else []
    shown = [
        {"day": row["day"], "cleaned": row["cleaned_rows"], "features": row["features_rows"]}
        for row in broken[:_SHOWN]
    ]
    return CheckOutcome(
        passed=not broken,
        description=f"{len(broken)} of {len(days)} days do not hold each cleaned transaction once"
        if broken
        else f"each cleaned transaction has one feature row, in all {len(days)} days",
        metadata={
            "days_checked": len(days),
            "days_broken": len(broken),
            "broken_days": markdown_table(shown),
            "unmatched_ids": markdown_table(examples),
            "per_day": markdown_table(
                [
                    {
                        "day": row["day"],
                        "rows": row["features_rows"],
                        "fraud_rate": round(row["frauds"] / row["features_rows"], 6)
                        if row["features_rows"]
                        else None,
                    }
                    for row in days
                ]
            ),
        },
    )


def _unmatched_ids(cleaned: DataFrame, features: DataFrame, days: list[str]) -> list[dict]:
    cleaned_ids = cleaned.where(F.col("day").isin(days)).groupBy(
        F.col("transaction_id").alias("id")
    )
    feature_ids = features.where(F.col("day").isin(days)).groupBy(
        F.col("TRANSACTION_ID").alias("id")
    )
    return [
        row.asDict()
        for row in cleaned_ids.agg(F.count(F.lit(1)).alias("in_cleaned"))
        .join(feature_ids.agg(F.count(F.lit(1)).alias("in_features")), "id", "full")
        .fillna(0)
        .where(F.col("in_cleaned") != F.col("in_features"))
        .orderBy("id")
        .limit(_SHOWN)
        .collect()
    ]


def feature_profile(features: DataFrame) -> Profile:
    """Minimum, maximum and nulls of every column but the day, and values other than 0 and 1
    of the calendar flags, in one aggregation."""
    columns = [name for name in FEATURE_TABLE_COLUMNS if name != "day"]
    numeric = [name for name in columns if name != "TX_DATETIME"]
    aggregates = [F.count_if(F.col(name).isNull()).alias(f"{name}|nulls") for name in columns]
    aggregates += [F.min(name).alias(f"{name}|min") for name in numeric]
    aggregates += [F.max(name).alias(f"{name}|max") for name in numeric]
    aggregates += [
        F.count_if(~F.col(name).isin(0, 1)).alias(f"{name}|not_binary")
        for name in CALENDAR_FEATURES
    ]
    values = features.agg(*aggregates).first().asDict()
    profile: Profile = {}
    for key, value in values.items():
        column, statistic = key.split("|")
        profile.setdefault(column, {})[statistic] = value
    return profile


def _outcome(problems: dict[str, str], what: str, checked: list[str]) -> CheckOutcome:
    return CheckOutcome(
        passed=not problems,
        description="; ".join(f"{column}: {problem}" for column, problem in problems.items())
        if problems
        else f"{what}, in all {len(checked)} columns",
        metadata={
            "columns_failing": len(problems),
            "failing": markdown_table(
                [{"column": column, "problem": problem} for column, problem in problems.items()]
            ),
        },
    )


def _within(value: Any, low: float, high: float = math.inf) -> bool:
    """Null (an empty table) is within any range; NaN is within none."""
    return value is None or low <= value <= high


def flags_are_binary(profile: Profile) -> CheckOutcome:
    problems = {
        name: f"{profile[name]['not_binary']} values other than 0 and 1"
        for name in CALENDAR_FEATURES
        if profile[name]["not_binary"]
    }
    return _outcome(problems, "flags are 0 or 1", list(CALENDAR_FEATURES))


def window_counts_in_range(profile: Profile) -> CheckOutcome:
    """A customer window holds at least the transaction itself; a terminal window may be
    empty but never negative."""
    counts = {name: 1 for name in CUSTOMER_FEATURES if "_NB_TX_" in name}
    counts |= {name: 0 for name in TERMINAL_FEATURES if "_NB_TX_" in name}
    problems = {
        name: f"minimum {profile[name]['min']}, expected >= {least}"
        for name, least in counts.items()
        if not _within(profile[name]["min"], least)
    }
    return _outcome(problems, "window counts in range", list(counts))


def risks_within_unit_interval(profile: Profile) -> CheckOutcome:
    risks = [name for name in TERMINAL_FEATURES if "_RISK_" in name]
    problems = {
        name: f"values in [{profile[name]['min']}, {profile[name]['max']}]"
        for name in risks
        if not (_within(profile[name]["min"], 0, 1) and _within(profile[name]["max"], 0, 1))
    }
    return _outcome(problems, "risks in [0, 1]", risks)


# Each extended feature's range by its definition; z-scores need only be finite numbers.
_EXTENDED_RANGES = {
    **{name: (-math.inf, math.inf) for name in ZSCORE_FEATURES},
    PREVIOUS_GAP_FEATURE: (0, PREVIOUS_GAP_CAP_SECONDS),
    EARLY_RISK_FEATURE: (0, 1),
    KNOWN_FRAUD_AGE_FEATURE: (TERMINAL_DELAY_DAYS * SECONDS_PER_DAY, KNOWN_FRAUD_CAP_SECONDS),
}


def extended_features_in_range(profile: Profile) -> CheckOutcome:
    """Z-scores finite, gaps and ages within [0 or the delay, their cap], risks in [0, 1]."""
    problems = {}
    for name, (low, high) in _EXTENDED_RANGES.items():
        least, most = profile[name]["min"], profile[name]["max"]
        finite = all(v is None or math.isfinite(v) for v in (least, most))
        if not (finite and _within(least, low, high) and _within(most, low, high)):
            problems[name] = f"values in [{least}, {most}], expected within [{low}, {high}]"
    return _outcome(problems, "extended features in range", list(_EXTENDED_RANGES))


def no_nulls(profile: Profile) -> CheckOutcome:
    problems = {
        name: f"{stats['nulls']} nulls" for name, stats in profile.items() if stats["nulls"]
    }
    return _outcome(problems, "no nulls", list(profile))
