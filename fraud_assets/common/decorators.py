"""The decorators every domain's assets and sensors share, built from one Settings.

A domain's factory asks `DayAssets.of(settings, group, pool)` for its asset decorators: day
partitions from FRAUD_PARTITIONS_START, the retry policy for stores that fail briefly, its group
and pool, parquet storage and one step per range of days unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetOut,
    BackfillPolicy,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    RetryPolicy,
    asset,
    multi_asset,
    run_status_sensor,
)

from fraud_assets.errors import transient_retry_policy
from fraud_assets.partitions import daily_partitions
from fraud_assets.settings import Settings

PARQUET_IO_MANAGER = "parquet_io_manager"
RECORD_IO_MANAGER = "record_io_manager"


def blocking_checks(asset_name: str, checks: Mapping[str, str]) -> list[AssetCheckSpec]:
    """Blocking check specs of an asset, by name and description."""
    return [
        AssetCheckSpec(name, asset=asset_name, description=text, blocking=True)
        for name, text in checks.items()
    ]


@dataclass(frozen=True)
class DayAssets:
    """What the day-partitioned assets of one domain share."""

    partitions: DailyPartitionsDefinition
    retry_policy: RetryPolicy
    group: str
    pool: str

    @classmethod
    def of(cls, settings: Settings, group: str, pool: str) -> DayAssets:
        return cls(daily_partitions(settings), transient_retry_policy(settings), group, pool)

    def asset(
        self,
        name: str,
        *,
        kinds: Sequence[str],
        io_manager_key: str = PARQUET_IO_MANAGER,
        single_run: bool = True,
        **spec: Any,
    ) -> Callable:
        """@asset for one day partition or, with `single_run`, a range of days in one step."""
        return asset(
            name=name,
            partitions_def=self.partitions,
            retry_policy=self.retry_policy,
            group_name=self.group,
            pool=self.pool,
            io_manager_key=io_manager_key,
            kinds=set(kinds),
            backfill_policy=BackfillPolicy.single_run() if single_run else None,
            **spec,
        )

    def multi_asset(
        self, outs: Mapping[str, str], *, kinds: Sequence[str], **spec: Any
    ) -> Callable:
        """@multi_asset over a range of days, its outputs (name -> description) on parquet."""
        return multi_asset(
            outs={
                name: AssetOut(
                    group_name=self.group,
                    io_manager_key=PARQUET_IO_MANAGER,
                    kinds=set(kinds),
                    description=text,
                )
                for name, text in outs.items()
            },
            partitions_def=self.partitions,
            retry_policy=self.retry_policy,
            backfill_policy=BackfillPolicy.single_run(),
            pool=self.pool,
            **spec,
        )


def after_success(
    settings: Settings, monitored_jobs: Sequence[Any], request_job: Any, description: str
) -> Callable:
    """@run_status_sensor that runs `request_job` when one of `monitored_jobs` succeeded."""
    return run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=list(monitored_jobs),
        request_job=request_job,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        description=description,
    )
