"""`transaction_features`: the features of every cleaned transaction, per day.

A day's features read the cleaned days it covers plus the LOOKBACK_DAYS before them. That
look-back is the partition mapping of the input, so the asset graph knows it: the UI draws it,
and a late earlier file marks the later days that used its days as stale.
"""

import time
from collections.abc import Iterator
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AutomationCondition,
    Output,
    ResourceParam,
    TimeWindowPartitionMapping,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.checks import gate
from fraud_assets.common.decorators import DayAssets, blocking_checks
from fraud_assets.errors import IncompleteInputError
from fraud_assets.features import checks
from fraud_assets.features.transforms import (
    LOOKBACK_DAYS,
    NUMERIC_COLUMNS,
    feature_rows,
)
from fraud_assets.ingestion.assets import CLEANED
from fraud_assets.partitions import DAYS_POOL
from fraud_assets.resources.ledger import LandingLedger
from fraud_assets.resources.storage import PartitionedParquetIOManager, StagedVersion
from fraud_assets.settings import Settings

GROUP = "features"


FEATURES = "transaction_features"

_CHECKS = {
    "one_row_per_transaction": "Each cleaned transaction of the day has exactly one row.",
    "flags_are_binary": "TX_DURING_WEEKEND and TX_DURING_NIGHT are 0 or 1.",
    "window_counts_in_range": "Customer window counts >= 1, terminal window counts >= 0.",
    "risks_within_unit_interval": "Terminal risks lie in [0, 1].",
    "extended_features_in_range": "Z-scores finite; gaps, ages and risks within their "
    "definitions' ranges.",
    "no_nulls": "No column has a null.",
}

_STATISTICS = {"min": "min", "mean": "avg", "std": "stddev", "max": "max"}
_OBSERVED = {
    "fraud_rate": "avg(TX_FRAUD)",
    "frauds": "sum(TX_FRAUD)",
    **{
        f"{name}.{label}": f"{function}({name})"
        for name in NUMERIC_COLUMNS
        for label, function in _STATISTICS.items()
    },
}

# Re-materialise days whose look-back changed: a cleaned day they read was updated after them
# (a late or replaced earlier file). Days never materialised are left to their file's run, and
# an update made by the same run as the day's own materialisation does not count.
LOOKBACK_UPDATED = (
    (
        AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
        .since_last_handled()
        .with_label("look-back updated since last materialised")
    )
    & ~AutomationCondition.missing()
    & ~AutomationCondition.in_progress()
    & ~AutomationCondition.any_deps_in_progress()
)


def transaction_features(
    context: AssetExecutionContext,
    cleaned: DataFrame,
    ledger: LandingLedger,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[StagedVersion] | AssetCheckResult]:
    started = time.monotonic()
    keys = list(context.partition_keys)
    storage = parquet_io_manager
    read = list(context.asset_partition_keys_for_input("cleaned"))
    published = storage.published_rows([CLEANED], read)
    holding = ledger.days_with_data(date.fromisoformat(read[0]), date.fromisoformat(read[-1]))
    unpublished = sorted(day for day in holding if day not in published)
    if unpublished:
        files = sorted({holding[day] for day in unpublished})
        raise IncompleteInputError(
            f"{CLEANED} has no published data for {len(unpublished)} days that "
            f"{', '.join(files)} holds ({unpublished[0]}..{unpublished[-1]}), and the features "
            f"of {keys[0]}..{keys[-1]} read them (look-back {LOOKBACK_DAYS} days). Its run has "
            "not finished or its checks failed: ingest it first, then materialise these days."
        )
    not_cleaned = [key for key in keys if key not in published]
    if not_cleaned:
        # A backfill from the UI also selects the days after its range whose look-back it
        # changes; those not ingested yet are written empty and recomputed with their file.
        context.log.warning(
            f"{CLEANED} has no data for {len(not_cleaned)} of the {len(keys)} days "
            f"({not_cleaned[0]}..{not_cleaned[-1]}) and no landed file holds them yet; they are "
            "written empty until their file is ingested"
        )
    history = [key for key in read if key not in keys]
    history_missing = [key for key in history if key not in published]
    if history_missing:
        context.log.info(
            f"{len(history_missing)} days of look-back hold no data in any landed file "
            f"({history_missing[0]}..{history_missing[-1]}); windows reaching into them count "
            "nothing there."
        )
    staged = storage.stage([FEATURES], feature_rows(cleaned, keys), keys, context.run_id, _OBSERVED)
    stored = storage.read_staged(staged)
    profile = checks.feature_profile(stored)
    target_cleaned = cleaned.where(F.col("day").isin(keys))
    outcomes = {
        "one_row_per_transaction": checks.one_row_per_transaction(target_cleaned, stored),
        "flags_are_binary": checks.flags_are_binary(profile),
        "window_counts_in_range": checks.window_counts_in_range(profile),
        "risks_within_unit_interval": checks.risks_within_unit_interval(profile),
        "extended_features_in_range": checks.extended_features_in_range(profile),
        "no_nulls": checks.no_nulls(profile),
    }
    yield from gate(FEATURES, outcomes, lambda: storage.discard(staged))
    truly_empty = {key for key in keys if published.get(key, 0) == 0}
    yield Output(
        staged.allowing_empty(truly_empty),
        metadata={
            "days": len(keys),
            "days_without_cleaned_data": len(not_cleaned),
            "look_back_days_read": len(history) - len(history_missing),
            "look_back_days_without_data": len(history_missing),
            "look_back": f"{read[0]}..{read[-1]}",
        },
    )
    context.log.info(f"features for {len(keys)} days in {time.monotonic() - started:.1f} s")


def feature_assets(settings: Settings) -> list[AssetsDefinition]:
    """transaction_features, reading each day's look-back of cleaned days."""
    days = DayAssets.of(settings, GROUP, DAYS_POOL)
    lookback = TimeWindowPartitionMapping(
        start_offset=-LOOKBACK_DAYS, allow_nonexistent_upstream_partitions=True
    )
    features = days.asset(
        FEATURES,
        kinds=("spark", "parquet"),
        ins={"cleaned": AssetIn(CLEANED, partition_mapping=lookback)},
        automation_condition=LOOKBACK_UPDATED,
        check_specs=blocking_checks(FEATURES, _CHECKS),
        description=(
            f"The 14 reference features and the extended ones of each cleaned transaction, "
            f"from its customer's and terminal's history in the {LOOKBACK_DAYS} days before it."
        ),
    )(transaction_features)
    return [features]
