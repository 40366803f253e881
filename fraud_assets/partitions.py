"""Daily partitions and the mapping from a landed file to the days it covers.

Assets are partitioned by day so that a look-back (features need 37 days of history) is a
`TimeWindowPartitionMapping` in the asset graph. A landed file named after its first day covers
`file_period_days` consecutive days and is processed by one run over that partition range.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path, PurePosixPath

from dagster import DailyPartitionsDefinition

from fraud_assets.errors import DataError
from fraud_assets.settings import Settings

_FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.txt$")


class LandingFileNameError(DataError, ValueError):
    """A landed file's name does not say which period it holds."""


def daily_partitions(settings: Settings) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(), end_offset=1, fmt="%Y-%m-%d"
    )


@dataclass(frozen=True)
class FilePeriod:
    """The days a landed file covers: first_day .. last_day, both included."""

    first_day: date
    last_day: date

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]

    @property
    def partition_keys(self) -> list[str]:
        return [day.isoformat() for day in self.days]


def file_period(key: str, period_days: int) -> FilePeriod:
    """The period of a landed file from its name, e.g. `landing/2019-08-22.txt`."""
    name = PurePosixPath(key).name
    match = _FILE_NAME.match(name)
    if not match:
        raise LandingFileNameError(
            f"landed file {key!r} is not named after its first day (expected YYYY-MM-DD.txt)"
        )
    try:
        first = date.fromisoformat(match.group(1))
    except ValueError:
        raise LandingFileNameError(f"landed file {key!r} names no real date") from None
    return FilePeriod(first, first + timedelta(days=period_days - 1))


def name_problem(key: str) -> str | None:
    """Why a landed file's name cannot be ingested, or None when it names a real first day."""
    try:
        file_period(key, 1)
    except LandingFileNameError as error:
        return str(error)
    return None


def overlapping_periods(
    keys: list[str], period_days: int
) -> list[tuple[str, str, FilePeriod, FilePeriod]]:
    """Pairs of files (by name) whose periods share days, each with its period."""
    periods = sorted(
        ((file_period(key, period_days), key) for key in keys), key=lambda item: item[0].first_day
    )
    found = []
    for (earlier, first), (later, second) in itertools.pairwise(periods):
        if later.first_day <= earlier.last_day:
            found.append((first, second, earlier, later))
    return found


def overlap_message(pairs: list[tuple[str, str, FilePeriod, FilePeriod]], period_days: int) -> str:
    first, second, earlier, later = pairs[0]
    shared = (earlier.last_day - later.first_day).days + 1
    return (
        f"{first} ({earlier.first_day}..{earlier.last_day}) and {second} "
        f"({later.first_day}..{later.last_day}) overlap on {shared} days"
        + (f", and {len(pairs) - 1} more pairs" if len(pairs) > 1 else "")
        + f": a file covers FRAUD_FILE_PERIOD_DAYS={period_days} days from the day it is named "
        "after. Set FRAUD_FILE_PERIOD_DAYS to the feed's period, or name the files so that "
        "their periods do not overlap (a feed of calendar months has no fixed period)."
    )


# Runs that write days (raw, cleaned, features) wait for each other, since a file's features
# read the days the previous file publishes; model runs wait for each other, since each decides
# on the one champion alias; scoring runs too, since performance reads the scores of earlier
# days. The instance runs one run of a pool at a time (see cli.py).
DAYS_POOL = "fraud_days"
MODELS_POOL = "fraud_models"
SCORING_POOL = "fraud_scoring"
POOLS = (DAYS_POOL, MODELS_POOL, SCORING_POOL)
# The instance settings that make the pools hold: written into dagster.yaml by fraud-pipeline
# (its own instance) and by fraud-stack (the services instance).
POOL_SETTINGS = """\
# Runs that share data never run together: every asset belongs to a pool (fraud_days for raw,
# cleaned and features, fraud_models for the model assets, fraud_scoring for scores, alerts and
# performance), and a run holds its pools from start to end, one run per pool at a time. Other
# runs queue (the queued run coordinator).
concurrency:
  pools:
    granularity: run
    default_limit: 1
  runs:
    max_concurrent_runs: 10
telemetry:
  enabled: false
"""

LANDED_FILE_TAG = "fraud_assets/landed_file"
LANDED_VERSION_TAG = "fraud_assets/landed_version"


def file_run_tags(key: str, version: str, period: FilePeriod) -> dict[str, str]:
    """Tags of the one run that ingests a landed file over the days it covers.

    A range run is asked for with Dagster's range tags (RunRequest has no range argument);
    assets with BackfillPolicy.single_run() then see the whole range in one step.
    """
    return {
        **range_tags(period.first_day.isoformat(), period.last_day.isoformat()),
        LANDED_FILE_TAG: key,
        LANDED_VERSION_TAG: version,
    }


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make a run cover the days first..last (both included)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def set_pool_limits(home: Path) -> None:
    """Give each pool its limit of one run now: a pool first met by the run queue is only
    limited from its next pass on, which could start two runs of it together."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            return
        known = storage.get_concurrency_keys()
        for pool in POOLS:
            if pool not in known:
                storage.set_concurrency_slots(pool, 1)
