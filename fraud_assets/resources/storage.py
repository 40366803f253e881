"""Where the platform's data lives: partitioned parquet per asset, on local disk or S3.

Layout under the storage root, for an asset `a`:

    a/versions/<version>/day=YYYY-MM-DD/part-*.parquet    immutable data, one version per write
    a/partitions/YYYY-MM-DD.json                          pointer to the live version of a day

Assets may name Spark SQL aggregates in their definition metadata under `observed_metrics`
(name -> expression); they are computed while the output is written, in the same pass over the
data, and attached to the materialisation.

Writing is two steps, so that blocking checks run before anyone can read the data:
`stage` writes a new, unreferenced version; `publish` swaps each day's pointer to it with one
atomic rename (local) or one PUT (S3). An asset stages its output, runs its blocking checks on
the staged data, and yields the staged version as its output only when they pass; the IO manager
then publishes it. A failed check or a killed run leaves readers the previous version.

A version a pointer leaves (or a staged version whose checks failed) is retired, not deleted:
runs that read the old pointer may still be reading its files. Retired versions are deleted by a
later publication once `grace_hours` have passed and no pointer refers to them.
"""

import contextlib
import functools
import inspect
import json
import posixpath
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import pyarrow as pa
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

from fraud_assets.errors import DataError, IncompleteInputError, unpublished_days
from fraud_assets.metadata import observed_metadata
from fraud_assets.resources.s3 import S3Config, naming_failures
from fraud_assets.resources.spark import SparkResource

PARTITION_COLUMN = "day"
OBSERVED_METRICS = "observed_metrics"


class StorageError(DataError, RuntimeError):
    """Stored data is missing or not what the asset graph expects."""


class PartitionMismatchError(StorageError):
    """An asset produced rows for days outside the partitions its run was asked for."""


class EmptyOverDataError(StorageError):
    """A publication would replace a day that holds rows with an empty day."""


@dataclass(frozen=True)
class StagedVersion:
    """Days of an asset written as a new version that no reader sees until it is published."""

    asset: str
    version: str
    keys: tuple[str, ...]
    rows: dict[str, int]
    files: dict[str, list[dict[str, Any]]]
    schema_json: str
    observed: dict[str, Any]
    seconds_to_write: float
    path: str
    empty_allowed: frozenset[str] = frozenset()

    def allowing_empty(self, days: set[str] | frozenset[str]) -> "StagedVersion":
        """The same version, allowed to publish an empty day over published rows on `days`
        (their source was re-ingested and truly holds none)."""
        return replace(self, empty_allowed=frozenset(days) & frozenset(self.keys))


def _naming_failures(parameter: str) -> Callable:
    """Errors of an S3 store while the method runs name the object its `parameter` points at."""

    def decorate(method: Callable) -> Callable:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: "ObjectStore", *args: Any, **kwargs: Any) -> Any:
            if not isinstance(self.filesystem, pafs.S3FileSystem):
                return method(self, *args, **kwargs)
            relative = signature.bind(self, *args, **kwargs).arguments[parameter]
            with naming_failures(self.describe(relative)):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


@dataclass(frozen=True)
class ObjectStore:
    """A pyarrow filesystem and a root inside it, with atomic JSON documents."""

    filesystem: pafs.FileSystem
    root: str

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def describe(self, relative: str) -> str:
        """Where `relative` lives, as a person finds it: s3://bucket/key or a local path."""
        scheme = "s3://" if isinstance(self.filesystem, pafs.S3FileSystem) else ""
        return scheme + self.path(relative)

    @_naming_failures("relative")
    def write_json(self, relative: str, document: dict[str, Any]) -> None:
        final = self.path(relative)
        self.filesystem.create_dir(posixpath.dirname(final), recursive=True)
        temporary = f"{final}.{uuid.uuid4().hex}.tmp"
        with self.filesystem.open_output_stream(temporary) as stream:
            stream.write(json.dumps(document, indent=1, sort_keys=True).encode())
        self.filesystem.move(temporary, final)

    @_naming_failures("relative")
    def read_json(self, relative: str) -> dict[str, Any] | None:
        try:
            with self.filesystem.open_input_stream(self.path(relative)) as stream:
                return json.loads(stream.read())
        except FileNotFoundError:
            return None

    def list_json(self, relative_dir: str, recursive: bool = False) -> list[dict[str, Any]]:
        return [doc for _, doc in self.list_json_with_paths(relative_dir, recursive)]

    @_naming_failures("relative_dir")
    def list_json_with_paths(
        self, relative_dir: str, recursive: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        """(path relative to the root, document) of each JSON document in a folder; a document
        deleted while the folder is listed is left out."""
        selector = pafs.FileSelector(
            self.path(relative_dir), allow_not_found=True, recursive=recursive
        )
        documents = []
        for info in self.filesystem.get_file_info(selector):
            if not (info.is_file and info.path.endswith(".json")):
                continue
            try:
                with self.filesystem.open_input_stream(info.path) as stream:
                    document = json.loads(stream.read())
            except FileNotFoundError:
                continue
            documents.append((posixpath.relpath(info.path, self.root), document))
        return sorted(documents, key=lambda item: item[0])

    @_naming_failures("relative")
    def delete_file(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.path(relative))

    @_naming_failures("relative")
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

    @_naming_failures("relative")
    def download(self, relative: str, local_dir: Path) -> None:
        """Copy every file under `relative` into `local_dir`, keeping sub-folders."""
        _copy_tree(self.filesystem, self.path(relative), pafs.LocalFileSystem(), str(local_dir))

    @_naming_failures("relative")
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
    An output is either a DataFrame (staged and published at once) or a `StagedVersion` that
    the asset staged with `stage` and checked (published as it is). Subclasses only say where
    the root is and how Spark reaches it.
    """

    spark: ResourceDependency[SparkResource]
    root: ResourceDependency[StorageRoot]
    grace_hours: float = 24.0

    def store(self) -> ObjectStore:
        return self.root.store()

    def write_target(self, relative: str) -> WriteTarget:
        raise NotImplementedError

    def finish_write(self, target: WriteTarget, relative: str) -> None:
        """Bring what Spark wrote to the store, when Spark could not write there itself."""

    def discard_write(self, target: WriteTarget, relative: str) -> None:
        self.store().delete_dir(relative)

    def read_location(self, relative: str, days: dict[str, list[dict[str, Any]] | None]) -> str:
        """The URI Spark reads a version from, with the given days (and, when known, their
        files) available under it."""
        raise NotImplementedError

    def stage(
        self,
        asset_path: list[str],
        frame: DataFrame,
        keys: list[str],
        run_id: str,
        observed_metrics: dict[str, str] | None = None,
    ) -> StagedVersion:
        """Write `frame` (rows of `keys` only) as a new version that no reader sees yet."""
        asset = posixpath.join(*asset_path)
        if PARTITION_COLUMN not in frame.columns:
            raise StorageError(
                f"{asset} has no '{PARTITION_COLUMN}' column; partitioned outputs must say "
                "which day each row belongs to"
            )
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{run_id[:8]}-{uuid.uuid4().hex[:8]}"
        relative = posixpath.join(asset, "versions", version)
        target = self.write_target(relative)
        observation = Observation(f"{asset}@{version}") if observed_metrics else None
        if observation:
            frame = frame.observe(
                observation, *[F.expr(sql).alias(n) for n, sql in observed_metrics.items()]
            )
        started = time.monotonic()
        try:
            frame.write.mode("errorifexists").partitionBy(PARTITION_COLUMN).parquet(target.uri)
            files = _files_by_day(target.filesystem, target.path)
            unexpected = sorted(set(files) - set(keys))
            if unexpected:
                raise PartitionMismatchError(
                    f"{asset} wrote rows for days {unexpected[:5]} outside its run's partitions "
                    f"{keys[0]}..{keys[-1]}; nothing was published"
                )
            schema = StructType([f for f in frame.schema.fields if f.name != PARTITION_COLUMN])
            for key in keys:
                if key not in files:
                    files[key] = [_write_empty(target, key, schema)]
            rows = {key: _parquet_rows(target.filesystem, files[key]) for key in keys}
            manifest = {key: _manifest(target.filesystem, files[key]) for key in keys}
            self.finish_write(target, relative)
        except BaseException:
            self.discard_write(target, relative)
            raise
        return StagedVersion(
            asset=asset,
            version=version,
            keys=tuple(keys),
            rows=rows,
            files=manifest,
            schema_json=frame.schema.json(),
            observed=observed_metadata(observation.get) if observation else {},
            seconds_to_write=round(time.monotonic() - started, 2),
            path=self.store().path(relative),
        )

    def read_staged(self, staged: StagedVersion) -> DataFrame:
        """The staged days as one DataFrame, read from storage as a reader will read them."""
        pointers = {
            key: {"version": staged.version, "schema": staged.schema_json, "files": files}
            for key, files in staged.files.items()
        }
        return self._read(staged.asset, pointers)

    def discard(self, staged: StagedVersion) -> None:
        """Give up a staged version: it is never published, and is deleted after the grace
        period (until then it can be inspected at `staged.path`)."""
        store = self.store()
        now = datetime.now(UTC).isoformat()
        for key in staged.keys:
            _retire(store, staged.asset, staged.version, key, now)

    def publish(self, staged: StagedVersion) -> dict[str, Any]:
        """Point each staged day at the staged version; returns the metadata of the write.

        Refuses (and publishes nothing) when a day holding rows would become empty, unless
        the staged version allows it for that day.
        """
        store = self.store()
        previous = self._pointers(staged.asset, list(staged.keys))
        emptied = [
            f"{key} ({previous[key]['rows']} rows)"
            for key in staged.keys
            if staged.rows[key] == 0
            and previous.get(key, {}).get("rows", 0) > 0
            and key not in staged.empty_allowed
        ]
        if emptied:
            raise EmptyOverDataError(
                f"{staged.asset}: the new version {staged.version} has no rows for "
                f"{len(emptied)} days that hold data now: {', '.join(emptied[:5])}; nothing was "
                "published. Re-ingest the file that covers these days if it truly has none."
            )
        started = time.monotonic()
        published_at = datetime.now(UTC).isoformat()
        for key in staged.keys:
            store.write_json(
                _pointer_path(staged.asset, key),
                {
                    "version": staged.version,
                    "rows": staged.rows[key],
                    "files": staged.files[key],
                    "schema": staged.schema_json,
                    "at": published_at,
                },
            )
            old = previous.get(key)
            if old and old["version"] != staged.version:
                _retire(store, staged.asset, old["version"], key, published_at)
        self.delete_expired(staged.asset)
        return {
            **staged.observed,
            "rows": sum(staged.rows.values()),
            "partitions": len(staged.keys),
            "rows_per_day_min": min(staged.rows.values()),
            "rows_per_day_max": max(staged.rows.values()),
            "seconds_to_write": staged.seconds_to_write,
            "seconds_to_publish": round(time.monotonic() - started, 3),
            "version": staged.version,
            "path": staged.path,
        }

    def delete_expired(self, asset: str) -> list[str]:
        """Delete the retired day folders older than the grace period that no pointer uses;
        returns them as `version/day`."""
        store = self.store()
        cutoff = datetime.now(UTC) - timedelta(hours=self.grace_hours)
        deleted = []
        for relative, note in store.list_json_with_paths(posixpath.join(asset, "retired")):
            if datetime.fromisoformat(note["retired_at"]) > cutoff:
                continue
            version, key = note["version"], note["day"]
            live = store.read_json(_pointer_path(asset, key))
            if not live or live["version"] != version:
                store.delete_dir(
                    posixpath.join(asset, "versions", version, f"{PARTITION_COLUMN}={key}")
                )
                deleted.append(f"{version}/{key}")
            store.delete_file(relative)
        return deleted

    def handle_output(self, context: OutputContext, obj: DataFrame | StagedVersion) -> None:
        keys = list(context.asset_partition_keys)
        asset_path = list(context.asset_key.path)
        if isinstance(obj, StagedVersion):
            staged = obj
            if staged.asset != posixpath.join(*asset_path) or list(staged.keys) != keys:
                raise StorageError(
                    f"staged version of {staged.asset} for {staged.keys[0]}..{staged.keys[-1]} "
                    f"is not the output of {context.asset_key.to_user_string()} for "
                    f"{keys[0]}..{keys[-1]}"
                )
        else:
            metrics = context.definition_metadata.get(OBSERVED_METRICS) or {}
            staged = self.stage(asset_path, obj, keys, context.run_id, metrics)
        context.add_output_metadata(self.publish(staged))

    def load_input(self, context: InputContext) -> DataFrame:
        return self.read_partitions(
            context.asset_key.path, list(context.asset_partition_keys), context.log.warning
        )

    def published_rows(self, asset_path: list[str], keys: list[str]) -> dict[str, int]:
        """Rows of each published day among `keys` (from the pointers: no data is read)."""
        pointers = self._pointers(posixpath.join(*asset_path), keys)
        return {key: int(pointer["rows"]) for key, pointer in pointers.items()}

    def require_published(
        self, asset_path: list[str], keys: list[str], needed_by: str
    ) -> dict[str, int]:
        """`published_rows` of days every one of which must be published for `needed_by`."""
        rows = self.published_rows(asset_path, keys)
        missing = [key for key in keys if key not in rows]
        if missing:
            raise IncompleteInputError(
                unpublished_days(posixpath.join(*asset_path), missing, needed_by)
            )
        return rows

    def _pointers(self, asset: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        store = self.store()
        pointers = {key: store.read_json(_pointer_path(asset, key)) for key in keys}
        return {key: pointer for key, pointer in pointers.items() if pointer}

    def read_partitions(
        self,
        asset_path: list[str],
        keys: list[str],
        warn: Callable[[str], None] = lambda message: None,
    ) -> DataFrame:
        """The published days of an asset as one DataFrame (with its `day` column).

        Days never materialised are skipped with a warning (a look-back reaches before the
        first file); none at all is an error.
        """
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
        return self._read(asset, present)

    def _read(self, asset: str, pointers: dict[str, dict[str, Any]]) -> DataFrame:
        spark = self.spark.spark_session
        by_version: dict[str, list[str]] = {}
        for key, pointer in sorted(pointers.items()):
            by_version.setdefault(pointer["version"], []).append(key)
        _require_one_layout(asset, pointers, by_version)
        frames = []
        for version, days in by_version.items():
            base = self.read_location(
                posixpath.join(asset, "versions", version),
                {day: pointers[day].get("files") for day in days},
            )
            paths = [f"{base}/{PARTITION_COLUMN}={day}" for day in days]
            schema = StructType.fromJson(json.loads(pointers[days[0]]["schema"]))
            frames.append(spark.read.schema(schema).option("basePath", base).parquet(*paths))
        return reduce(DataFrame.unionByName, frames)


def _require_one_layout(
    asset: str, pointers: dict[str, dict[str, Any]], by_version: dict[str, list[str]]
) -> None:
    """Days read together must share their columns: a union of versions written with other
    columns would fail deep inside Spark, or fill the missing ones with nulls."""
    layouts: dict[tuple[str, ...], list[str]] = {}
    for days in by_version.values():
        schema = json.loads(pointers[days[0]]["schema"])
        names = tuple(sorted(field["name"] for field in schema["fields"]))
        layouts.setdefault(names, []).extend(days)
    if len(layouts) <= 1:
        return
    (widest, widest_days), *others = sorted(
        layouts.items(), key=lambda item: len(item[0]), reverse=True
    )
    described = "; ".join(
        f"{sorted(days)[0]}..{sorted(days)[-1]} differ in {sorted(set(widest) ^ set(names))}"
        for names, days in others
    )
    raise StorageError(
        f"{asset}: the requested days were written with different columns ({described} from "
        f"{sorted(widest_days)[0]}..{sorted(widest_days)[-1]}); re-materialise {asset} for "
        "the days of one layout so that they can be read together"
    )


def published_days(store: ObjectStore, asset: str) -> list[str]:
    """The days of an asset that have a published pointer, in order."""
    selector = pafs.FileSelector(store.path(_pointers_dir(asset)), allow_not_found=True)
    names = [info.base_name for info in store.filesystem.get_file_info(selector)]
    return sorted(name.removesuffix(".json") for name in names if name.endswith(".json"))


def read_published(
    store: ObjectStore, asset: str, keys: list[str], columns: list[str]
) -> pa.Table | None:
    """The published days of an asset among `keys`, read without Spark (for processes that
    serve, not compute); days never published are left out."""
    tables = []
    for key in keys:
        pointer = store.read_json(_pointer_path(asset, key))
        if not pointer:
            continue
        folder = store.path(asset, "versions", pointer["version"], f"{PARTITION_COLUMN}={key}")
        names = [entry["name"] for entry in pointer.get("files") or []] or [
            info.base_name
            for info in store.filesystem.get_file_info(pafs.FileSelector(folder))
            if info.base_name.endswith(".parquet")
        ]
        for name in names:
            with store.filesystem.open_input_file(posixpath.join(folder, name)) as handle:
                tables.append(pq.read_table(handle, columns=columns))
    return pa.concat_tables(tables) if tables else None


def _pointers_dir(asset: str) -> str:
    return posixpath.join(asset, "partitions")


def _pointer_path(asset: str, key: str) -> str:
    return posixpath.join(_pointers_dir(asset), f"{key}.json")


def _retire(store: ObjectStore, asset: str, version: str, key: str, at: str) -> None:
    store.write_json(
        posixpath.join(asset, "retired", f"{version}.{key}.json"),
        {"version": version, "day": key, "retired_at": at},
    )


def _manifest(filesystem: pafs.FileSystem, paths: list[str]) -> list[dict[str, Any]]:
    """Name and size of each file of a day: a copy is complete only when it has them all."""
    infos = filesystem.get_file_info(paths)
    return sorted(({"name": i.base_name, "size": i.size} for i in infos), key=lambda f: f["name"])


def _write_empty(target: WriteTarget, key: str, schema: StructType) -> str:
    path = posixpath.join(target.path, f"{PARTITION_COLUMN}={key}", "part-empty.parquet")
    target.filesystem.create_dir(posixpath.dirname(path), recursive=True)
    with target.filesystem.open_output_stream(path) as stream:
        # Spark's timestamps are instants: UTC in arrow terms, whatever the session zone.
        pq.write_table(to_arrow_schema(schema, timezone="UTC").empty_table(), stream)
    return path


class LocalParquetIOManager(PartitionedParquetIOManager):
    """The embedded default: a folder on local disk, no services."""

    def write_target(self, relative: str) -> WriteTarget:
        path = self.store().path(relative)
        return WriteTarget(Path(path).as_uri(), pafs.LocalFileSystem(), path)

    def read_location(self, relative: str, days: dict[str, list[dict[str, Any]] | None]) -> str:
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

    def read_location(self, relative: str, days: dict[str, list[dict[str, Any]] | None]) -> str:
        store = self.store()
        if self.use_s3a:
            return f"s3a://{store.path(relative)}"
        cached = Path(self.local_dir, "cache", relative)
        for day, expected in days.items():
            folder = cached / f"{PARTITION_COLUMN}={day}"
            if folder.exists():
                continue
            # A folder enters the cache whole or not at all: downloaded beside it, compared
            # with the files the pointer lists, then renamed into place.
            partial = cached / f".{folder.name}.{uuid.uuid4().hex}"
            try:
                store.download(posixpath.join(relative, folder.name), partial)
                partial.mkdir(parents=True, exist_ok=True)
                _verify_copy(partial, expected, store.path(relative, folder.name))
                partial.rename(folder)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        return cached.as_uri()


def _verify_copy(folder: Path, expected: list[dict[str, Any]] | None, source: str) -> None:
    """The downloaded day holds exactly the files its pointer lists, at their sizes."""
    if expected is None:
        return
    found = sorted(
        ({"name": p.name, "size": p.stat().st_size} for p in folder.rglob("*") if p.is_file()),
        key=lambda f: f["name"],
    )
    if found != expected:
        raise StorageError(
            f"{source} holds {len(found)} files where its pointer lists {len(expected)} (or their "
            "sizes differ): it is being deleted or was changed; nothing was cached. Retry the run."
        )
