"""SeaweedFS stopped in the middle of a run, or answering with errors: the step is retried with
backoff (its Dagster RetryPolicy), then fails with a message naming the bucket and the key;
nothing is published or recorded, and the sensor's next tick asks for the file again."""

from unittest.mock import patch

import pytest
from dagster import DagsterEventType, DagsterInstance

from fraud_assets.datagen import cli as datagen
from fraud_assets.definitions import build_definitions
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.resources.landing import S3LandingZone
from fraud_assets_tests.seaweedfs import BUCKET, SeaweedFS, bucket_settings
from fraud_assets_tests.sensor_ticks import tick

pytestmark = [pytest.mark.s3, pytest.mark.slow]
FILE = "2019-08-22.txt"


@pytest.fixture
def server(tmp_path):
    seaweedfs = SeaweedFS(tmp_path / "seaweedfs")
    (tmp_path / "seaweedfs").mkdir()
    seaweedfs.start()
    yield seaweedfs
    seaweedfs.stop()


@pytest.fixture
def store_settings(settings, server, monkeypatch, tmp_path):
    return bucket_settings(
        settings, server.endpoint, monkeypatch, tmp_path / "s3-cache", max_attempts=2
    )


def _land(settings) -> None:
    s3 = settings.s3
    datagen.main(
        [
            "--out",
            f"s3://{s3.bucket}/{s3.landing_prefix}",
            "--customers",
            "100",
            "--terminals",
            "50",
            "--files",
            "1",
            "--quiet",
            "--seed",
            "5",
        ]
    )


def _events(result, kind: DagsterEventType) -> list:
    return [event for event in result.all_events if event.event_type == kind]


def test_a_store_down_mid_run_fails_clearly_and_the_next_tick_recovers(store_settings, server):
    defs = build_definitions(store_settings)
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def(process_landed_file.name)
    _land(store_settings)
    requests, cursor = tick(defs.resources, instance, None)
    assert len(requests) == 1

    server.stop()
    failed = job.execute_in_process(instance=instance, tags=requests[0].tags, raise_on_error=False)
    assert not failed.success
    retries = _events(failed, DagsterEventType.STEP_RESTARTED)
    assert len(retries) == store_settings.step_max_retries, "the step was retried with backoff"
    (failure,) = _events(failed, DagsterEventType.STEP_FAILURE)
    message = str(failure.event_specific_data.error)
    # The first request of the step lists the landing prefix to find the file's version.
    assert f"s3://{BUCKET}/{store_settings.s3.landing_prefix}" in message, message
    assert "StoreUnavailableError" in message

    server.start()
    assert not defs.resources["ledger"].cleaned_versions(), "nothing was recorded"
    again, _ = tick(defs.resources, instance, cursor)
    assert [request.tags["fraud_assets/landed_file"] for request in again] == [FILE]
    recovered = job.execute_in_process(instance=instance, tags=again[0].tags)
    assert recovered.success


def test_errors_from_the_store_are_retried_and_the_run_succeeds(store_settings):
    defs = build_definitions(store_settings)
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def(process_landed_file.name)
    _land(store_settings)
    requests, _ = tick(defs.resources, instance, None)

    original = S3LandingZone.spark_path
    calls = {"n": 0}

    def flaky(self, landed):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError(f"injected: 503 SlowDown on s3://{self.bucket}/{landed.key}")
        return original(self, landed)

    with patch.object(S3LandingZone, "spark_path", flaky):
        result = job.execute_in_process(instance=instance, tags=requests[0].tags)
    assert result.success
    assert len(_events(result, DagsterEventType.STEP_RESTARTED)) == 2
