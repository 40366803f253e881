"""Clients for S3-compatible object stores (AWS S3, SeaweedFS, MinIO).

Credentials reach the resource as Dagster `EnvVar`s: the UI and the run's config show the
variable's name, never its value. Unset credentials fall back to the AWS chain (a profile, a
role, instance metadata), as boto3 users expect.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from dagster import EnvVar
from dagster_aws.s3 import S3Resource
from dagster_aws.utils import construct_boto_client_retry_config
from pyarrow import fs as pafs

from fraud_assets.settings import S3Settings

CREDENTIAL_VARIABLES = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}


def resolved(value: str | None) -> str | None:
    """A field's value: an `EnvVar` outside a Dagster run is still the variable's name."""
    if isinstance(value, EnvVar):
        return value.get_value()
    return value


class S3Config(S3Resource):
    """dagster_aws's S3 resource (keys, session tokens, profiles, region, retries with backoff),
    plus pyarrow's S3 filesystem on the same connection for streamed reads and writes."""

    @classmethod
    def from_settings(cls, s3: S3Settings) -> "S3Config":
        """The connection with the values themselves: for code that runs outside Dagster."""
        return cls(
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            profile_name=s3.profile,
            max_attempts=s3.max_attempts,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key,
            aws_session_token=s3.session_token,
        )

    @classmethod
    def from_environment(cls, s3: S3Settings) -> "S3Config":
        """The connection for Definitions: each credential that is set goes in as an `EnvVar`."""
        credentials = {
            field: EnvVar(variable)
            for field, variable in CREDENTIAL_VARIABLES.items()
            if os.environ.get(variable)
        }
        return cls(
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            profile_name=s3.profile,
            max_attempts=s3.max_attempts,
            **credentials,
        )

    def _credentials(self) -> dict[str, str | None]:
        return {field: resolved(getattr(self, field)) for field in CREDENTIAL_VARIABLES}

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem: streamed reads and multipart writes in bounded memory."""
        options: dict = {
            "region": self.region_name,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=self.max_attempts),
        }
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            options["endpoint_override"] = parsed.netloc or parsed.path
            options["scheme"] = parsed.scheme or "http"
        credentials = self._credentials()
        if not credentials["aws_access_key_id"] and self.profile_name:
            frozen = boto3.Session(profile_name=self.profile_name).get_credentials()
            if frozen is not None:
                frozen = frozen.get_frozen_credentials()
                credentials = {
                    "aws_access_key_id": frozen.access_key,
                    "aws_secret_access_key": frozen.secret_key,
                    "aws_session_token": frozen.token,
                }
        if credentials["aws_access_key_id"]:
            options["access_key"] = credentials["aws_access_key_id"]
            options["secret_key"] = credentials["aws_secret_access_key"] or ""
            if credentials["aws_session_token"]:
                options["session_token"] = credentials["aws_session_token"]
        return pafs.S3FileSystem(**options)

    def client(self):
        """A boto3 client; its standard retry mode backs off between attempts."""
        session = boto3.Session(profile_name=self.profile_name)
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            config=construct_boto_client_retry_config(self.max_attempts),
            **self._credentials(),
        )

    def get_client(self):
        return self.client()


class StoreUnavailableError(OSError):
    """The store did not answer, or answered with a server error, after the client's own
    retries; a later attempt may succeed (the assets' RetryPolicy retries the step)."""


@contextmanager
def naming_failures(where: str) -> Iterator[None]:
    """Turns a network or server error of an S3 or pyarrow call into StoreUnavailableError
    naming the object (`s3://bucket/key`); a missing object or a refused request is left as is.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status < 500 and status != 429:
            raise
        raise StoreUnavailableError(f"{where}: the store answered {status} ({error})") from error
    except (BotoCoreError, OSError) as error:
        raise StoreUnavailableError(f"{where}: the store failed ({error})") from error


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"s3", "s3a"} or not parsed.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/prefix address")
    return parsed.netloc, parsed.path.lstrip("/")
