"""A real SeaweedFS S3 server on free loopback ports, for the tests that need one (session)."""

import dataclasses
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from fraud_assets.settings import S3Settings, Settings
from fraud_assets.stack.services import SEAWEEDFS_PORT_OFFSETS, executable

ACCESS_KEY, SECRET_KEY, BUCKET = "fraud-test", "fraud-test-secret", "fraud"
_PORT_FLAGS = tuple(SEAWEEDFS_PORT_OFFSETS)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class SeaweedFS:
    """A real SeaweedFS S3 server on loopback, as infra/seaweedfs.sh starts it; it can be
    stopped and started again on the same ports and data (for outage tests)."""

    def __init__(self, data: Path) -> None:
        self.weed = executable("weed")
        self.data = data
        self.ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process: subprocess.Popen | None = None

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def start(self) -> str:
        command = [
            self.weed,
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-bucket={BUCKET}",
            "-admin.ui=false",
            *[f"-{flag}={port}" for flag, port in self.ports.items()],
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log_path = self.data / "weed.log"
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        client = self.client()
        deadline = time.monotonic() + 60
        while True:
            try:
                client.head_bucket(Bucket=BUCKET)
                return self.endpoint
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    pytest.fail(f"SeaweedFS did not start: {log_path.read_text()}")
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session", name="seaweedfs")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    yield server.start()
    server.stop()


def bucket_settings(
    settings: Settings, endpoint: str, monkeypatch: pytest.MonkeyPatch, cache: Path, **options
) -> Settings:
    """`settings` in services mode on a fresh prefix of the test bucket at `endpoint`, with the
    server's credentials in the environment (where the resources' EnvVars read them)."""
    monkeypatch.setenv("FRAUD_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    prefix = f"run-{uuid.uuid4().hex[:8]}/"
    s3 = S3Settings(
        endpoint_url=endpoint,
        bucket=BUCKET,
        landing_prefix=f"{prefix}landing/",
        storage_prefix=f"{prefix}warehouse/",
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        use_s3a=False,
        cache_dir=cache,
        **options,
    )
    return dataclasses.replace(settings, environment="services", s3=s3)
