"""Where the platform's data lives: partitioned parquet per asset, on local disk or S3.

Layout under the storage root, for an asset `a`:

    a/versions/<version>/day=YYYY-MM-DD/part-*.parquet    immutable data, one version per write
    a/partitions/YYYY-MM-DD.json                          pointer to the live version of a day

Assets may name Spark SQL aggregates in their definition metadata under `observed_metrics`
(name -> expression); they are computed while the output is written, in the same pass over the
data, and attached to the materialisation.

A write goes to a new version and then swaps each day's pointer with one atomic rename (local)
or one PUT (S3). A failed or killed run leaves at most an unreferenced version that no reader
sees; the version a pointer leaves is deleted once the new one is published.
"""

import json
import posixpath
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InputContext,
    OutputContext,
    ResourceDependency,
)
from pyarrow import fs as pafs
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from fraud_assets.metadata import observed_metadata
from fraud_assets.resources.s3 import S3Config
from fraud_assets.resources.spark import SparkResource

PARTITION_COLUMN = "day"
OBSERVED_METRICS = "observed_metrics"


class StorageError(RuntimeError):
    """Stored data is missing or not what the asset graph expects."""


class PartitionMismatchError(StorageError):
    """An asset produced rows for days outside the partitions its run was asked for."""


@dataclass(frozen=True)
class ObjectStore:
    """A pyarrow filesystem and a root inside it, with atomic JSON documents."""

    filesystem: pafs.FileSystem
    root: str

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def write_json(self, relative: str, document: dict[str, Any]) -> None:
        final = self.path(relative)
        self.filesystem.create_dir(posixpath.dirname(final), recursive=True)
        temporary = f"{final}.{uuid.uuid4().hex}.tmp"
        with self.filesystem.open_output_stream(temporary) as stream:
            stream.write(json.dumps(document, indent=1, sort_keys=True).encode())
        self.filesystem.move(temporary, final)

    def read_json(self, relative: str) -> dict[str, Any] | None:
        try:
            with self.filesystem.open_input_stream(self.path(relative)) as stream:
                return json.loads(stream.read())
        except FileNotFoundError:
            return None

    def list_json(self, relative_dir: str) -> list[dict[str, Any]]:
        selector = pafs.FileSelector(self.path(relative_dir), allow_not_found=True)
        documents = []
        for info in self.filesystem.get_file_info(selector):
            if info.is_file and info.path.endswith(".json"):
                with self.filesystem.open_input_stream(info.path) as stream:
                    documents.append(json.loads(stream.read()))
        return documents

    def upload_parquet(self, local_dir: str, relative: str) -> None:
        """Copy the parquet files under a local folder to `relative`, keeping sub-folders
        (Spark's checksum and marker files stay behind)."""
        _copy_tree(
            pafs.LocalFileSystem(),
            local_dir,
            self.filesystem,
            self.path(relative),
            keep=lambda name: name.endswith(".parquet"),
        )

    def download(self, relative: str, local_dir: Path) -> None:
        """Copy every file under `relative` into `local_dir`, keeping sub-folders."""
        _copy_tree(self.filesystem, self.path(relative), pafs.LocalFileSystem(), str(local_dir))

    def delete_dir(self, relative: str) -> None:
        path = self.path(relative)
        if self.filesystem.get_file_info(path).type != pafs.FileType.NotFound:
            self.filesystem.delete_dir(path)


def _copy_tree(
    source: pafs.FileSystem,
    source_root: str,
    destination: pafs.FileSystem,
    destination_root: str,
    keep=lambda name: True,
) -> None:
    for info in source.get_file_info(pafs.FileSelector(source_root, recursive=True)):
        if info.is_file and keep(info.base_name):
            target = posixpath.join(destination_root, posixpath.relpath(info.path, source_root))
            destination.create_dir(posixpath.dirname(target), recursive=True)
            pafs.copy_files(
                info.path, target, source_filesystem=source, destination_filesystem=destination
            )


class StorageRoot(ConfigurableResource):
    """The root folder or bucket prefix that holds the platform's data."""

    def store(self) -> ObjectStore:
        raise NotImplementedError


class LocalStorageRoot(StorageRoot):
    base_path: str

    def store(self) -> ObjectStore:
        Path(self.base_path).mkdir(parents=True, exist_ok=True)
        return ObjectStore(pafs.LocalFileSystem(), str(Path(self.base_path).resolve()))


class S3StorageRoot(StorageRoot):
    s3: ResourceDependency[S3Config]
    bucket: str
    prefix: str = "warehouse/"

    def store(self) -> ObjectStore:
        return ObjectStore(self.s3.filesystem(), posixpath.join(self.bucket, self.prefix))


def _parquet_rows(filesystem: pafs.FileSystem, paths: list[str]) -> int:
    """Row count from parquet footers: no pass over the data."""
    total = 0
    for path in paths:
        with filesystem.open_input_file(path) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def _files_by_day(filesystem: pafs.FileSystem, version_dir: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    selector = pafs.FileSelector(version_dir, recursive=True, allow_not_found=True)
    for info in filesystem.get_file_info(selector):
        if not info.is_file or not info.base_name.endswith(".parquet"):
            continue
        directory = posixpath.basename(posixpath.dirname(info.path))
        if directory.startswith(f"{PARTITION_COLUMN}="):
            found.setdefault(directory.split("=", 1)[1], []).append(info.path)
    return found


@dataclass(frozen=True)
class WriteTarget:
    """Where Spark writes a new version: its URI, and the same place as a pyarrow path."""

    uri: str
    filesystem: pafs.FileSystem
    path: str


class PartitionedParquetIOManager(ConfigurableIOManager):
    """Spark DataFrames in and out, one parquet directory per asset and day partition.

    Outputs carry a `day` column; a run over a range of days writes them in one Spark job.
    Subclasses only say where the root is and how Spark reaches it.
    """

    spark: ResourceDependency[SparkResource]
    root: ResourceDependency[StorageRoot]

    def store(self) -> ObjectStore:
        return self.root.store()

    def write_target(self, relative: str) -> WriteTarget:
        raise NotImplementedError

    def finish_write(self, target: WriteTarget, relative: str) -> None:
        """Bring what Spark wrote to the store, when Spark could not write there itself."""

    def discard_write(self, target: WriteTarget, relative: str) -> None:
        self.store().delete_dir(relative)

    def read_location(self, relative: str, days: list[str]) -> str:
        """The URI Spark reads a version from, with the given days available under it."""
        raise NotImplementedError

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        if PARTITION_COLUMN not in obj.columns:
            raise StorageError(
                f"{context.asset_key.to_user_string()} has no '{PARTITION_COLUMN}' column; "
                "partitioned outputs must say which day each row belongs to"
            )
        asset = posixpath.join(*context.asset_key.path)
        keys = list(context.asset_partition_keys)
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{context.run_id[:8]}-{uuid.uuid4().hex[:8]}"
        relative = posixpath.join(asset, "versions", version)
        target = self.write_target(relative)
        metrics = context.definition_metadata.get(OBSERVED_METRICS) or {}
        observation = Observation(f"{asset}@{version}") if metrics else None
        if observation:
            obj = obj.observe(observation, *[F.expr(sql).alias(n) for n, sql in metrics.items()])
        started = time.monotonic()
        try:
            obj.write.mode("errorifexists").partitionBy(PARTITION_COLUMN).parquet(target.uri)
            files = _files_by_day(target.filesystem, target.path)
            unexpected = sorted(set(files) - set(keys))
            if unexpected:
                raise PartitionMismatchError(
                    f"{asset} wrote rows for days {unexpected[:5]} outside its run's partitions "
                    f"{keys[0]}..{keys[-1]}; nothing was published"
                )
            schema = StructType([f for f in obj.schema.fields if f.name != PARTITION_COLUMN])
            for key in keys:
                if key not in files:
                    files[key] = [_write_empty(target, key, schema)]
            rows = {key: _parquet_rows(target.filesystem, files[key]) for key in keys}
            self.finish_write(target, relative)
        except BaseException:
            self.discard_write(target, relative)
            raise
        store = self.store()
        _publish(store, asset, version, keys, rows, obj.schema.json())
        observed = observed_metadata(observation.get) if observation else {}
        context.add_output_metadata(
            {
                **observed,
                "rows": sum(rows.values()),
                "partitions": len(keys),
                "rows_per_day_min": min(rows.values()),
                "rows_per_day_max": max(rows.values()),
                "seconds_to_write": round(time.monotonic() - started, 2),
                "version": version,
                "path": store.path(relative),
            }
        )

    def load_input(self, context: InputContext) -> DataFrame:
        return self.read_partitions(
            context.asset_key.path, list(context.asset_partition_keys), context.log.warning
        )

    def published_days(self, asset_path: list[str], keys: list[str]) -> list[str]:
        """The days among `keys` that have a published version."""
        return sorted(self._pointers(posixpath.join(*asset_path), keys))

    def _pointers(self, asset: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        store = self.store()
        pointers = {
            key: store.read_json(posixpath.join(asset, "partitions", f"{key}.json")) for key in keys
        }
        return {key: pointer for key, pointer in pointers.items() if pointer}

    def read_partitions(
        self, asset_path: list[str], keys: list[str], warn=lambda message: None
    ) -> DataFrame:
        """The stored days of an asset as one DataFrame (with its `day` column).

        Days never materialised are skipped with a warning (a look-back reaches before the
        first file); none at all is an error.
        """
        spark = self.spark.spark_session
        asset = posixpath.join(*asset_path)
        present = self._pointers(asset, keys)
        missing = sorted(set(keys) - set(present))
        if missing:
            warn(
                f"{asset}: {len(missing)} of {len(keys)} requested days are not "
                f"materialised ({missing[0]}..{missing[-1]}); reading the rest"
            )
        if not present:
            raise StorageError(
                f"{asset} has no materialised partition among {len(keys)} requested days "
                f"({min(keys)}..{max(keys)}); materialise it first"
            )
        by_version: dict[str, list[str]] = {}
        for key, pointer in sorted(present.items()):
            by_version.setdefault(pointer["version"], []).append(key)
        frames = []
        for version, days in by_version.items():
            base = self.read_location(posixpath.join(asset, "versions", version), days)
            paths = [f"{base}/{PARTITION_COLUMN}={day}" for day in days]
            schema = StructType.fromJson(json.loads(present[days[0]]["schema"]))
            frames.append(spark.read.schema(schema).option("basePath", base).parquet(*paths))
        return reduce(DataFrame.unionByName, frames)


def _write_empty(target: WriteTarget, key: str, schema: StructType) -> str:
    path = posixpath.join(target.path, f"{PARTITION_COLUMN}={key}", "part-empty.parquet")
    target.filesystem.create_dir(posixpath.dirname(path), recursive=True)
    with target.filesystem.open_output_stream(path) as stream:
        # Spark's timestamps are instants: UTC in arrow terms, whatever the session zone.
        pq.write_table(to_arrow_schema(schema, timezone="UTC").empty_table(), stream)
    return path


def _publish(
    store: ObjectStore,
    asset: str,
    version: str,
    keys: list[str],
    rows: dict[str, int],
    schema_json: str,
) -> None:
    published_at = datetime.now(UTC).isoformat()
    for key in keys:
        pointer = posixpath.join(asset, "partitions", f"{key}.json")
        previous = store.read_json(pointer)
        store.write_json(
            pointer,
            {"version": version, "rows": rows[key], "schema": schema_json, "at": published_at},
        )
        if previous and previous["version"] != version:
            store.delete_dir(
                posixpath.join(asset, "versions", previous["version"], f"{PARTITION_COLUMN}={key}")
            )


class LocalParquetIOManager(PartitionedParquetIOManager):
    """The embedded default: a folder on local disk, no services."""

    def write_target(self, relative: str) -> WriteTarget:
        path = self.store().path(relative)
        return WriteTarget(Path(path).as_uri(), pafs.LocalFileSystem(), path)

    def read_location(self, relative: str, days: list[str]) -> str:
        return Path(self.store().path(relative)).as_uri()


class S3ParquetIOManager(PartitionedParquetIOManager):
    """Parquet on S3.

    With `use_s3a` (EMR, Dataproc, any Spark with the hadoop-aws jars) Spark writes and reads
    `s3a://` directly. Without it, Spark writes to a local staging folder that is uploaded
    afterwards, and reads from a local cache of the immutable versions it needs.
    """

    use_s3a: bool = False
    local_dir: str

    def write_target(self, relative: str) -> WriteTarget:
        if self.use_s3a:
            path = self.store().path(relative)
            return WriteTarget(f"s3a://{path}", self.store().filesystem, path)
        staging = Path(self.local_dir, "staging", relative)
        staging.parent.mkdir(parents=True, exist_ok=True)
        return WriteTarget(staging.as_uri(), pafs.LocalFileSystem(), str(staging))

    def finish_write(self, target: WriteTarget, relative: str) -> None:
        if self.use_s3a:
            return
        self.store().upload_parquet(target.path, relative)
        shutil.rmtree(target.path, ignore_errors=True)

    def discard_write(self, target: WriteTarget, relative: str) -> None:
        super().discard_write(target, relative)
        if not self.use_s3a:
            shutil.rmtree(target.path, ignore_errors=True)

    def read_location(self, relative: str, days: list[str]) -> str:
        store = self.store()
        if self.use_s3a:
            return f"s3a://{store.path(relative)}"
        cached = Path(self.local_dir, "cache", relative)
        for day in days:
            folder = cached / f"{PARTITION_COLUMN}={day}"
            if folder.exists():
                continue
            # Versions never change once published: a folder in the cache is complete.
            partial = cached / f".{folder.name}.{uuid.uuid4().hex}"
            store.download(posixpath.join(relative, folder.name), partial)
            partial.mkdir(parents=True, exist_ok=True)
            partial.rename(folder)
        return cached.as_uri()
