"""Clients for S3-compatible object stores (AWS S3, SeaweedFS, MinIO)."""

from urllib.parse import urlparse

import boto3
from dagster import ConfigurableResource
from pyarrow import fs as pafs

from fraud_assets.settings import S3Settings


class S3Config(ConfigurableResource):
    """Connection to an S3-compatible store; unset credentials fall back to the AWS chain."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def from_settings(cls, s3: S3Settings) -> "S3Config":
        return cls(
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem: streamed reads and multipart writes in bounded memory."""
        options: dict = {"region": self.region}
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            options["endpoint_override"] = parsed.netloc or parsed.path
            options["scheme"] = parsed.scheme or "http"
        if self.access_key_id:
            options["access_key"] = self.access_key_id
            options["secret_key"] = self.secret_access_key or ""
        return pafs.S3FileSystem(**options)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"s3", "s3a"} or not parsed.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/prefix address")
    return parsed.netloc, parsed.path.lstrip("/")
