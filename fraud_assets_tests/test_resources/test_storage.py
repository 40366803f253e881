import json
from datetime import datetime
from pathlib import Path

import pytest
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from fraud_assets.resources.storage import (
    OBSERVED_METRICS,
    LocalParquetIOManager,
    LocalStorageRoot,
    S3ParquetIOManager,
    StorageError,
)

DAYS = DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1)
RANGE = {
    "dagster/asset_partition_range_start": "2020-01-01",
    "dagster/asset_partition_range_end": "2020-01-03",
}
SEEN: dict[str, list] = {}


def _resources(spark_resource, base: Path, grace_hours: float = 24.0) -> dict:
    root = LocalStorageRoot(base_path=str(base))
    manager = LocalParquetIOManager(spark=spark_resource, root=root, grace_hours=grace_hours)
    return {"io_manager": manager}


def _frame(context: AssetExecutionContext, values: list[tuple[int, str]]) -> DataFrame:
    spark = context.resources.io_manager.spark.spark_session
    rows = [(value, datetime(2020, 1, 1, value % 24), day) for value, day in values]
    return spark.createDataFrame(rows, "value int, at timestamp, day string")


@asset(
    partitions_def=DAYS,
    backfill_policy=BackfillPolicy.single_run(),
    metadata={OBSERVED_METRICS: {"value.max": "max(value)", "odd": "count_if(value % 2 = 1)"}},
)
def numbers(context: AssetExecutionContext) -> DataFrame:
    version = context.run.tags.get("test/version", "1")
    rows = [(int(version) * 10 + i, "2020-01-01") for i in range(3)]
    if not context.run.tags.get("test/empty"):
        rows += [(int(version) * 10 + 5, "2020-01-02")]
    if context.run.tags.get("test/outside"):
        rows.append((99, "2020-02-01"))
    frame = _frame(context, rows)
    if context.run.tags.get("test/extra"):
        frame = frame.withColumn("extra", F.lit(1))
    if context.run.tags.get("test/fail"):
        # Fault injection: a task dies in the middle of the write.
        explode = F.udf(lambda v: 1 // (v % 10 - 2), IntegerType())
        frame = frame.withColumn("value", explode("value"))
    return frame


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def reader(numbers: DataFrame) -> DataFrame:
    SEEN["reader"] = sorted((r["value"], r["day"]) for r in numbers.collect())
    return numbers


def _pointer(base: Path, day: str) -> dict:
    return json.loads((base / "numbers" / "partitions" / f"{day}.json").read_text())


def test_round_trip_over_a_range_with_an_empty_day(spark_resource, tmp_path):
    result = materialize(
        [numbers, reader], resources=_resources(spark_resource, tmp_path), tags=RANGE
    )
    assert result.success
    assert SEEN["reader"] == [
        (10, "2020-01-01"),
        (11, "2020-01-01"),
        (12, "2020-01-01"),
        (15, "2020-01-02"),
    ]
    assert [_pointer(tmp_path, d)["rows"] for d in ("2020-01-01", "2020-01-02", "2020-01-03")] == [
        3,
        1,
        0,
    ]
    metadata = result.asset_materializations_for_node("numbers")[0].metadata
    assert metadata["rows"].value == 4 and metadata["partitions"].value == 3
    assert metadata["value.max"].value == 15 and metadata["odd"].value == 2
    assert "| value | 15 |" in metadata["summary"].value


def test_rewrite_publishes_the_new_version_and_retires_the_old(spark_resource, tmp_path):
    resources = _resources(spark_resource, tmp_path)
    materialize([numbers], resources=resources, tags=RANGE)
    old = _pointer(tmp_path, "2020-01-01")["version"]
    materialize([numbers, reader], resources=resources, tags={**RANGE, "test/version": "2"})
    assert _pointer(tmp_path, "2020-01-01")["version"] != old
    assert SEEN["reader"][0] == (20, "2020-01-01")
    # A run that read the old pointer before the swap can still read its files.
    old_day = tmp_path / "numbers" / "versions" / old / "day=2020-01-01"
    assert old_day.exists()
    retired = list((tmp_path / "numbers" / "retired").iterdir())
    assert len(retired) == 3

    storage = _resources(spark_resource, tmp_path, grace_hours=0)["io_manager"]
    deleted = storage.delete_expired("numbers")
    assert f"{old}/2020-01-01" in deleted
    assert not old_day.exists()
    assert not (tmp_path / "numbers" / "retired").exists() or not any(
        (tmp_path / "numbers" / "retired").iterdir()
    )
    materialize([numbers.to_source_asset(), reader], resources=resources, tags=RANGE)
    assert SEEN["reader"][0] == (20, "2020-01-01"), "the live version is never deleted"


def test_an_empty_day_never_replaces_a_day_with_rows(spark_resource, tmp_path):
    resources = _resources(spark_resource, tmp_path)
    materialize([numbers], resources=resources, tags=RANGE)
    before = _pointer(tmp_path, "2020-01-02")
    result = materialize(
        [numbers], resources=resources, tags={**RANGE, "test/empty": "1"}, raise_on_error=False
    )
    assert not result.success
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "has no rows for 1 days that hold data now: 2020-01-02 (1 rows)" in str(
        errors[0].event_specific_data.error
    )
    assert _pointer(tmp_path, "2020-01-02") == before
    assert _pointer(tmp_path, "2020-01-01")["version"] == before["version"], "nothing published"


def test_a_staged_version_is_invisible_until_published(spark, spark_resource, tmp_path):
    storage = _resources(spark_resource, tmp_path)["io_manager"]
    first = spark.createDataFrame([(1, "2020-01-01")], "value int, day string")
    storage.publish(storage.stage(["numbers"], first, ["2020-01-01"], "run-one"))
    second = spark.createDataFrame([(2, "2020-01-01")], "value int, day string")
    staged = storage.stage(["numbers"], second, ["2020-01-01"], "run-two")
    assert [r["value"] for r in storage.read_staged(staged).collect()] == [2]
    published = storage.read_partitions(["numbers"], ["2020-01-01"])
    assert [r["value"] for r in published.collect()] == [1]
    storage.discard(staged)
    assert [r["value"] for r in storage.read_partitions(["numbers"], ["2020-01-01"]).collect()] == [
        1
    ]


def test_the_s3_read_cache_never_keeps_a_day_that_is_half_deleted(spark, spark_resource, tmp_path):
    remote = LocalStorageRoot(base_path=str(tmp_path / "remote"))
    storage = S3ParquetIOManager(
        spark=spark_resource, root=remote, use_s3a=False, local_dir=str(tmp_path / "local")
    )
    frame = spark.createDataFrame([(n, "2020-01-01") for n in range(50)], "value int, day string")
    staged = storage.stage(["numbers"], frame.repartition(3), ["2020-01-01"], "run-one")
    storage.publish(staged)
    day = tmp_path / "remote" / "numbers" / "versions" / staged.version / "day=2020-01-01"
    parts = sorted(day.glob("*.parquet"))
    assert len(parts) > 1
    parts[0].unlink()
    with pytest.raises(StorageError, match="nothing was cached"):
        storage.read_partitions(["numbers"], ["2020-01-01"]).collect()
    cache = tmp_path / "local" / "cache" / "numbers" / "versions" / staged.version
    assert not any(cache.glob("day=*")), "neither the day nor a partial copy stays in the cache"


def test_failed_write_leaves_the_published_data_untouched(spark_resource, tmp_path):
    resources = _resources(spark_resource, tmp_path)
    materialize([numbers], resources=resources, tags=RANGE)
    before = {d: _pointer(tmp_path, d) for d in ("2020-01-01", "2020-01-02")}
    versions_before = set((tmp_path / "numbers" / "versions").iterdir())
    failed = materialize(
        [numbers],
        resources=resources,
        tags={**RANGE, "test/fail": "1", "test/version": "3"},
        raise_on_error=False,
    )
    assert not failed.success
    assert {d: _pointer(tmp_path, d) for d in before} == before
    assert set((tmp_path / "numbers" / "versions").iterdir()) == versions_before
    materialize([numbers.to_source_asset(), reader], resources=resources, tags=RANGE)
    assert SEEN["reader"][0] == (10, "2020-01-01")


def test_rows_outside_the_run_are_refused_and_nothing_is_published(spark_resource, tmp_path):
    result = materialize(
        [numbers],
        resources=_resources(spark_resource, tmp_path),
        tags={**RANGE, "test/outside": "1"},
        raise_on_error=False,
    )
    assert not result.success
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "outside its run's partitions" in str(errors[0].event_specific_data.error)
    assert not (tmp_path / "numbers" / "partitions").exists()


def test_reading_days_never_materialised_says_what_to_do(spark_resource, tmp_path):
    result = materialize(
        [numbers.to_source_asset(), reader],
        resources=_resources(spark_resource, tmp_path),
        tags=RANGE,
        raise_on_error=False,
    )
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "materialise it first" in str(errors[0].event_specific_data.error)


def test_days_written_with_other_columns_are_not_read_together(spark_resource, tmp_path):
    resources = _resources(spark_resource, tmp_path)
    assert materialize([numbers], resources=resources, tags=RANGE).success
    later = {"test/extra": "1", "test/version": "2", "test/empty": "1"}
    assert materialize([numbers], resources=resources, partition_key="2020-01-01", tags=later)
    result = materialize(
        [numbers.to_source_asset(), reader], resources=resources, tags=RANGE, raise_on_error=False
    )
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(errors[0].event_specific_data.error)
    assert "differ in ['extra']" in message and "re-materialise numbers" in message


@pytest.mark.parametrize("columns", ["value int"])
def test_output_without_day_column_is_refused(spark_resource, tmp_path, columns):
    @asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
    def no_day(context: AssetExecutionContext) -> DataFrame:
        return context.resources.io_manager.spark.spark_session.createDataFrame([(1,)], columns)

    result = materialize(
        [no_day], resources=_resources(spark_resource, tmp_path), tags=RANGE, raise_on_error=False
    )
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no 'day' column" in str(errors[0].event_specific_data.error)
