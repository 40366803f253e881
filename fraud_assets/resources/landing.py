"""The landing zone: where raw transaction files arrive, on local disk or in an S3 prefix.

A file is being written while its name starts with a dot or ends with `.partial` or `.tmp`
(write it under such a name, then rename it): such files are not listed at all. Other files
whose name is not `YYYY-MM-DD.txt` with a real date are listed with the problem of their name.
"""

import hashlib
import posixpath
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dagster import ConfigurableResource, ResourceDependency
from pyarrow import fs as pafs

from fraud_assets.partitions import name_problem
from fraud_assets.resources.s3 import S3Config, naming_failures


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing zone. `version` changes whenever its content is replaced."""

    key: str
    version: str
    size: int

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)

    @property
    def problem(self) -> str | None:
        """Why the file's name cannot be ingested, or None."""
        return name_problem(self.key)


def being_written(name: str) -> bool:
    return name.startswith(".") or name.endswith((".partial", ".tmp"))


class LandingZone(ConfigurableResource):
    """Lists landed files and hands them to Spark. Subclasses say where they are."""

    # Whether a listed file is always complete (an S3 object appears whole when its upload
    # ends); a local file may still be growing, so the sensor waits until it holds still.
    arrives_whole: ClassVar[bool] = False

    def list_entries(self) -> list[LandedFile]:
        """Every file in the zone, sorted by key, whatever its name (but those being written)."""
        raise NotImplementedError

    def list_files(self) -> list[LandedFile]:
        """The landed files whose names say which period they hold, sorted by key."""
        return [entry for entry in self.list_entries() if entry.problem is None]

    def get(self, name: str) -> LandedFile:
        matches = [f for f in self.list_files() if f.name == name]
        if not matches:
            raise FileNotFoundError(f"no landed file named {name!r} in {self.describe()}")
        return matches[0]

    def head(self, landed: LandedFile, size: int = 4096) -> bytes:
        raise NotImplementedError

    def spark_path(self, landed: LandedFile) -> str:
        """A URI Spark can read the file from (staging it first if needed)."""
        raise NotImplementedError

    def release(self, landed: LandedFile) -> None:
        """Free what `spark_path` staged, once Spark is done with the file."""

    def describe(self) -> str:
        raise NotImplementedError


class LocalLandingZone(LandingZone):
    """A local folder; a file's version is its size and modification time."""

    path: str

    def list_entries(self) -> list[LandedFile]:
        root = Path(self.path)
        if not root.is_dir():
            return []
        found = []
        for entry in sorted(root.iterdir()):
            if being_written(entry.name) or entry.is_symlink() or not entry.is_file():
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode()
            found.append(
                LandedFile(
                    key=entry.name,
                    version=hashlib.sha1(fingerprint).hexdigest()[:16],
                    size=stat.st_size,
                )
            )
        return found

    def head(self, landed: LandedFile, size: int = 4096) -> bytes:
        with open(Path(self.path, landed.key), "rb") as handle:
            return handle.read(size)

    def spark_path(self, landed: LandedFile) -> str:
        return Path(self.path, landed.key).resolve().as_uri()

    def describe(self) -> str:
        return f"folder {self.path}"


class S3LandingZone(LandingZone):
    """An S3 prefix; a file's version is its ETag.

    Without `use_s3a`, a file is copied to a local staging folder for Spark (one sequential
    download, deleted after the run); with it, Spark reads `s3a://` directly.
    """

    s3: ResourceDependency[S3Config]
    bucket: str
    prefix: str = "landing/"
    use_s3a: bool = False
    staging_dir: str

    arrives_whole: ClassVar[bool] = True

    def list_entries(self) -> list[LandedFile]:
        with naming_failures(self.describe()):
            return self._list_entries()

    def _list_entries(self) -> list[LandedFile]:
        client = self.s3.client()
        found = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.prefix) :]
                if "/" in relative or not relative or being_written(relative):
                    continue
                found.append(
                    LandedFile(key=relative, version=item["ETag"].strip('"'), size=item["Size"])
                )
        return found

    def _object(self, landed: LandedFile) -> str:
        return posixpath.join(self.bucket, self.prefix, landed.key)

    def head(self, landed: LandedFile, size: int = 4096) -> bytes:
        with (
            naming_failures(f"s3://{self._object(landed)}"),
            self.s3.filesystem().open_input_stream(self._object(landed)) as stream,
        ):
            return stream.read(size)

    def _staged(self, landed: LandedFile) -> Path:
        return Path(self.staging_dir, landed.version, landed.name)

    def spark_path(self, landed: LandedFile) -> str:
        if self.use_s3a:
            return f"s3a://{self._object(landed)}"
        staged = self._staged(landed)
        if not staged.exists():
            staged.parent.mkdir(parents=True, exist_ok=True)
            partial = staged.with_name(f".{staged.name}.{uuid.uuid4().hex}")
            with naming_failures(f"s3://{self._object(landed)}"):
                pafs.copy_files(
                    self._object(landed),
                    str(partial),
                    source_filesystem=self.s3.filesystem(),
                    destination_filesystem=pafs.LocalFileSystem(),
                    chunk_size=8 << 20,
                )
            partial.rename(staged)
        return staged.as_uri()

    def release(self, landed: LandedFile) -> None:
        shutil.rmtree(self._staged(landed).parent, ignore_errors=True)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
