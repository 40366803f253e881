import shutil
from datetime import date

import pytest
from dagster import DagsterInstance

from fraud_assets.checks import ChecksFailedError
from fraud_assets.ingestion.sensors import LandingCursor, plan_runs, retry_request
from fraud_assets.partitions import LANDED_FILE_TAG, LANDED_VERSION_TAG
from fraud_assets.resources.environments import local_resources
from fraud_assets.resources.landing import LandedFile
from fraud_assets.resources.ledger import LandingRecord
from fraud_assets_tests.sensor_ticks import evaluate, tick, ticks_until_requested
from fraud_assets_tests.test_ingestion.helpers import good_line

# The first partition day of the default settings.
FIRST_DAY = date(2019, 8, 22)


@pytest.fixture
def landing(settings, small_landing):
    settings.landing_dir.mkdir(parents=True)
    return settings


def _tick(settings, cursor=None):
    return tick(local_resources(settings), DagsterInstance.ephemeral(), cursor)


def _until_requested(settings, cursor=None):
    return ticks_until_requested(local_resources(settings), DagsterInstance.ephemeral(), cursor)


def test_a_new_file_is_one_run_over_its_days_and_a_repeated_tick_none(landing, small_landing):
    requests, cursor = _tick(landing)
    assert requests == []
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir)

    first_sight, cursor = _tick(landing, cursor)
    assert first_sight == [], "a local file is taken once it held still for a tick"
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
    later, _ = _until_requested(landing, cursor)
    assert [r.tags["fraud_assets/landed_file"] for r in later] == ["2019-09-21.txt"]


def test_a_growing_file_is_taken_only_once_it_holds_still(landing, small_landing):
    target = landing.landing_dir / "2019-08-22.txt"
    lines = (small_landing / "2019-08-22.txt").read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:100]))
    requests, cursor = _tick(landing)
    assert requests == []
    with open(target, "ab") as handle:
        handle.write(b"".join(lines[100:]))
    requests, cursor = _tick(landing, cursor)
    assert requests == [], "it grew since the last tick"
    requests, cursor = _tick(landing, cursor)
    assert len(requests) == 1


def test_files_being_written_under_a_temporary_name_are_not_listed(landing, small_landing):
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir / ".2019-08-22.txt.partial")
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir / "2019-08-22.txt.tmp")
    assert local_resources(landing)["landing"].list_entries() == []


def test_a_replaced_file_is_ingested_again(landing, small_landing):
    target = landing.landing_dir / "2019-08-22.txt"
    shutil.copy(small_landing / "2019-08-22.txt", target)
    first, cursor = _until_requested(landing)
    with open(target, "a") as handle:
        handle.write("\n" + good_line(999_999) + "\n")
    second, cursor = _until_requested(landing, cursor)
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
    requests, _ = _until_requested(landing, cursor=None)
    assert len(requests) == 1, "raw was written but cleaning never finished"
    resources["ledger"].mark_cleaned(landed.key, landed.version, "earlier")
    requests, _ = _until_requested(landing, cursor=None)
    assert requests == []


def test_bad_names_are_reported_once_and_never_stop_the_other_files(landing, small_landing):
    (landing.landing_dir / "2019-02-30.txt").write_text("no such day")
    (landing.landing_dir / "notes.txt").write_text("not a landing file")
    (landing.landing_dir / "2001-01-01.txt").write_text("")
    shutil.copy(small_landing / "2019-08-22.txt", landing.landing_dir)
    resources, instance = local_resources(landing), DagsterInstance.ephemeral()

    result = evaluate(resources, instance, None)
    reported = {o.metadata["rejected_file"].value: o for o in result.asset_events}
    assert sorted(reported) == ["2001-01-01.txt", "2019-02-30.txt", "notes.txt"]
    assert "names no real date" in reported["2019-02-30.txt"].metadata["why"].value
    assert "YYYY-MM-DD.txt" in reported["notes.txt"].metadata["why"].value
    assert "before the first partition" in reported["2001-01-01.txt"].metadata["why"].value
    assert all(o.asset_key.to_user_string() == "raw_transactions" for o in reported.values())
    assert "skipped 2019-02-30.txt" in result.skip_reason.skip_message

    result = evaluate(resources, instance, result.cursor)
    assert result.asset_events == [], "each rejected version is reported once"
    assert [r.tags["fraud_assets/landed_file"] for r in result.run_requests] == ["2019-08-22.txt"]


def test_overlapping_periods_are_rejected_with_the_reason(landing):
    for name in ("2020-02-01.txt", "2020-03-01.txt"):
        (landing.landing_dir / name).write_text("")
    plan = plan_runs(
        local_resources(landing)["landing"].list_entries(), LandingCursor(), {}, 30, FIRST_DAY
    )
    assert plan.wanted == []
    reasons = dict((landed.key, why) for landed, why in plan.rejected)
    assert sorted(reasons) == ["2020-02-01.txt", "2020-03-01.txt"]
    assert "overlap on 1 days" in reasons["2020-03-01.txt"]
    assert "FRAUD_FILE_PERIOD_DAYS" in reasons["2020-03-01.txt"]


def test_a_late_file_that_sorts_first_is_taken_at_the_next_tick():
    cursor = LandingCursor()
    later = LandedFile("2019-09-21.txt", "v1", 10)
    plan = plan_runs([later], cursor, {}, 30, FIRST_DAY)
    assert [f.key for f, _ in plan.wanted] == ["2019-09-21.txt"]
    late = LandedFile("2019-08-22.txt", "v1", 10)
    plan = plan_runs([late, later], cursor, {}, 30, FIRST_DAY)
    assert [f.key for f, _ in plan.wanted] == ["2019-08-22.txt"]


def _failed_run(instance, error: Exception, landed) -> None:
    from dagster import job, op

    @op
    def ingest() -> None:
        raise error

    @job
    def ingestion() -> None:
        ingest()

    tags = {LANDED_FILE_TAG: landed.key, LANDED_VERSION_TAG: landed.version}
    assert not ingestion.execute_in_process(
        instance=instance, tags=tags, raise_on_error=False
    ).success


def test_a_run_failed_on_a_transient_error_is_asked_for_again_a_data_error_is_not():
    landed = LandedFile(key="2019-08-22.txt", version="v1", size=10)
    instance = DagsterInstance.ephemeral()
    _failed_run(instance, OSError("s3://fraud/landing/2019-08-22.txt: the store failed"), landed)
    again = retry_request(instance, landed, period_days=30, max_attempts=3)
    assert again is not None and again.run_key == "2019-08-22.txt@v1#attempt-2"
    assert again.tags[LANDED_FILE_TAG] == "2019-08-22.txt"

    _failed_run(instance, OSError("down again"), landed)
    _failed_run(instance, OSError("and again"), landed)
    assert retry_request(instance, landed, period_days=30, max_attempts=3) is None, "bounded"

    other = LandedFile(key="2019-09-21.txt", version="v1", size=10)
    _failed_run(instance, ChecksFailedError("quarantine_share failed"), other)
    assert retry_request(instance, other, period_days=30, max_attempts=3) is None
