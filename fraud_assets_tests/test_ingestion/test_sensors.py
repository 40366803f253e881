import dataclasses
import shutil

import pytest
from dagster import DagsterInstance

from fraud_assets.definitions import local_resources
from fraud_assets.ingestion import sensors
from fraud_assets.resources.ledger import LandingRecord
from fraud_assets_tests.sensor_ticks import tick
from fraud_assets_tests.test_ingestion.helpers import good_line


@pytest.fixture
def landing(settings, small_landing):
    settings.landing_dir.mkdir(parents=True)
    return settings


def _tick(settings, cursor=None):
    return tick(local_resources(settings), DagsterInstance.ephemeral(), cursor)


def test_a_new_file_is_one_run_over_its_days_and_a_repeated_tick_none(landing, small_landing):
    requests, cursor = _tick(landing)
    assert requests == []
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir)
    (landing.landing_dir / "notes.txt").write_text("not a landing file")

    requests, cursor = _tick(landing, cursor)
    assert len(requests) == 1
    tags = requests[0].tags
    assert tags["dagster/asset_partition_range_start"] == "2019-08-22"
    assert tags["dagster/asset_partition_range_end"] == "2019-09-20"
    assert tags["fraud_assets/landed_file"] == "2019-08-22.txt"
    assert requests[0].run_key.startswith("2019-08-22.txt@")

    again, cursor = _tick(landing, cursor)
    assert again == []

    shutil.copy(small_landing / "2019-09-21.txt", landing.landing_dir)
    later, _ = _tick(landing, cursor)
    assert [r.tags["fraud_assets/landed_file"] for r in later] == ["2019-09-21.txt"]


def test_a_replaced_file_is_ingested_again(landing, small_landing, monkeypatch):
    monkeypatch.setattr(
        sensors, "SETTINGS", dataclasses.replace(sensors.SETTINGS, sensor_full_scan_minutes=0)
    )
    target = landing.landing_dir / "2019-08-22.txt"
    shutil.copy(small_landing / "2019-08-22.txt", target)
    first, cursor = _tick(landing)
    with open(target, "a") as handle:
        handle.write("\n" + good_line(999_999) + "\n")
    second, cursor = _tick(landing, cursor)
    assert len(second) == 1 and second[0].run_key != first[0].run_key
    third, _ = _tick(landing, cursor)
    assert third == []


def test_a_file_the_ledger_holds_is_not_ingested_twice_after_a_cursor_reset(landing, small_landing):
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir)
    resources = local_resources(landing)
    landed = resources["landing"].get("2019-08-22.txt")
    resources["ledger"].record(
        LandingRecord(
            key=landed.key,
            version=landed.version,
            size=landed.size,
            rows=1,
            first_day="2019-08-22",
            last_day="2019-09-20",
            header=True,
            run_id="earlier",
            recorded_at="2019-10-01T00:00:00",
        )
    )
    requests, _ = _tick(landing, cursor=None)
    assert len(requests) == 1, "raw was written but cleaning never finished"
    resources["ledger"].mark_cleaned(landed.key)
    requests, _ = _tick(landing, cursor=None)
    assert requests == []


def test_a_file_before_the_first_partition_is_skipped(landing):
    (landing.landing_dir / "2001-01-01.txt").write_text("")
    requests, _ = _tick(landing)
    assert requests == []
