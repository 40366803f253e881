"""Landing -> sensor -> raw -> cleaned against a real S3 server (SeaweedFS)."""

import json

import pytest
from dagster import DagsterInstance

from fraud_assets.datagen import cli as datagen
from fraud_assets.definitions import build_definitions
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.resources.s3 import S3Config
from fraud_assets_tests.seaweedfs import BUCKET, bucket_settings
from fraud_assets_tests.sensor_ticks import tick

pytestmark = [pytest.mark.s3, pytest.mark.slow]


@pytest.fixture
def s3_settings(settings, seaweedfs, monkeypatch, tmp_path):
    return bucket_settings(settings, seaweedfs, monkeypatch, tmp_path / "s3-cache")


def _land(settings, index: int) -> None:
    s3 = settings.s3
    datagen.main(
        [
            "--out",
            f"s3://{s3.bucket}/{s3.landing_prefix}",
            "--customers",
            "120",
            "--terminals",
            "50",
            "--files",
            "2",
            "--only-file",
            str(index),
            "--defect-scale",
            "300",
            "--quiet",
            "--seed",
            "11",
        ]
    )


def test_a_file_dropped_in_s3_becomes_exactly_one_run(s3_settings):
    defs = build_definitions(s3_settings)
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def(process_landed_file.name)
    client = S3Config.from_settings(s3_settings.s3).client()
    s3 = s3_settings.s3

    _land(s3_settings, 0)
    requests, cursor = tick(defs.resources, instance, None)
    assert len(requests) == 1
    assert requests[0].tags["dagster/asset_partition_range_start"] == "2019-08-22"
    assert requests[0].tags["dagster/asset_partition_range_end"] == "2019-09-20"

    result = job.execute_in_process(instance=instance, tags=requests[0].tags)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].tags["fraud_assets/landed_file"] == "2019-08-22.txt"

    pointer = client.get_object(
        Bucket=BUCKET, Key=f"{s3.storage_prefix}cleaned_transactions/partitions/2019-09-01.json"
    )
    assert json.loads(pointer["Body"].read())["rows"] > 0
    ledger = defs.resources["ledger"].get("2019-08-22.txt")
    etag = client.head_object(Bucket=BUCKET, Key=f"{s3.landing_prefix}2019-08-22.txt")["ETag"]
    assert ledger.version == etag.strip('"')
    assert not list((s3.cache_dir / "landing").glob("*/*.txt")), "staged copy is released"

    again, cursor = tick(defs.resources, instance, cursor)
    assert again == []

    _land(s3_settings, 1)
    second, cursor = tick(defs.resources, instance, cursor)
    assert [r.tags["fraud_assets/landed_file"] for r in second] == ["2019-09-21.txt"]
    result = job.execute_in_process(instance=instance, tags=second[0].tags)
    assert result.success

    body = client.get_object(Bucket=BUCKET, Key=f"{s3.landing_prefix}2019-08-22.txt")["Body"]
    client.put_object(
        Bucket=BUCKET, Key=f"{s3.landing_prefix}2019-08-22.txt", Body=body.read() + b"\n"
    )
    replaced, _ = tick(defs.resources, instance, cursor)
    assert [r.tags["fraud_assets/landed_file"] for r in replaced] == ["2019-08-22.txt"]
    assert replaced[0].run_key != requests[0].run_key
