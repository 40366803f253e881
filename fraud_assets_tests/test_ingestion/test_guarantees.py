"""A green ingestion run publishes only complete, checked data; a wrong feed fails loudly and
leaves readers the data they had."""

import dataclasses
from datetime import date

import pytest
from dagster import DagsterInstance, materialize

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import GeneratorConfig
from fraud_assets.ingestion.assets import CLEANED, RAW, ingestion_assets
from fraud_assets.partitions import file_period, file_run_tags
from fraud_assets.resources.environments import local_resources
from fraud_assets.settings import Settings
from fraud_assets_tests.conftest import write_landing_files
from fraud_assets_tests.test_ingestion.helpers import HEADER, good_line

ASSETS = ingestion_assets(Settings.from_env())
TINY = GeneratorConfig(customers=40, terminals=30, files=2, seed=11, defects=DefectRates.none())
FIRST, SECOND = "2019-08-22.txt", "2019-09-21.txt"


def _run(settings, name: str | None = None, tags: dict | None = None):
    resources = local_resources(settings)
    if name is not None:
        landed = resources["landing"].get(name)
        tags = file_run_tags(landed.key, landed.version, file_period(landed.key, 30))
    return materialize(
        ASSETS,
        resources=resources,
        tags=tags,
        raise_on_error=False,
        instance=DagsterInstance.ephemeral(),
    )


def _failure(result) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return str(failure.event_specific_data.error)


def _checks(result):
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def _pointers(settings, asset: str, days: list[str]) -> dict:
    storage = local_resources(settings)["parquet_io_manager"]
    store = storage.store()
    return {day: store.read_json(f"{asset}/partitions/{day}.json") for day in days}


@pytest.fixture
def strict(settings):
    """The default guard: at most 1% of a file or a day quarantined."""
    return dataclasses.replace(settings, max_quarantine_share=0.01)


def test_a_feed_counting_from_its_own_first_day_fails_before_publishing(strict):
    feed = dataclasses.replace(TINY, start_date=date(2020, 3, 1), files=1, time_origin=None)
    write_landing_files(strict.landing_dir, feed)
    result = _run(strict, "2020-03-01.txt")
    assert not result.success
    message = _failure(result)
    assert "2020-03-01.txt" in message
    assert "count from 2020-03-01 00:00:00" in message
    assert "FRAUD_TIME_ORIGIN=2020-03-01" in message
    assert not _checks(result)["time_origin"].passed
    days = file_period("2020-03-01.txt", 30).partition_keys
    assert _pointers(strict, RAW, days) == dict.fromkeys(days), "nothing was published"
    assert result.get_asset_materialization_events() == []

    configured = dataclasses.replace(strict, time_origin=date(2020, 3, 1))
    result = _run(configured, "2020-03-01.txt")
    assert result.success
    cleaned = result.asset_materializations_for_node("clean_transactions")[0].metadata
    assert cleaned["rows_quarantined"].value == 0

    # The setting goes wrong again: the next run fails and readers keep what was published.
    published = {asset: _pointers(strict, asset, days) for asset in (RAW, CLEANED)}
    assert all(published[RAW].values())
    assert not _run(strict, "2020-03-01.txt").success
    assert {asset: _pointers(strict, asset, days) for asset in (RAW, CLEANED)} == published


def test_a_wave_of_bad_rows_fails_the_run_and_keeps_the_published_data(strict):
    write_landing_files(strict.landing_dir, dataclasses.replace(TINY, files=1))
    assert _run(strict, FIRST).success
    days = file_period(FIRST, 30).partition_keys
    before = {asset: _pointers(strict, asset, days) for asset in (RAW, CLEANED)}

    path = strict.landing_dir / FIRST
    lines = path.read_text().splitlines()
    # Every tenth line loses its terminal: 10% quarantined where 1% is allowed.
    broken = [
        ",".join([*line.split(",")[:3], "", *line.split(",")[4:]]) if n % 10 == 1 else line
        for n, line in enumerate(lines)
    ]
    path.write_text("\n".join(broken) + "\n")
    result = _run(strict, FIRST)
    assert not result.success
    check = _checks(result)["quarantine_share"]
    assert not check.passed
    assert "missing_terminal_id" in check.metadata["per_reason"].value
    assert ",," in check.metadata["example_lines"].value
    assert "FRAUD_MAX_QUARANTINE_SHARE" in _failure(result)
    after = {asset: _pointers(strict, asset, days) for asset in (RAW, CLEANED)}
    assert after[CLEANED] == before[CLEANED], "readers keep the cleaned data they had"
    ledger = local_resources(strict)["ledger"].get(FIRST)
    assert not ledger.cleaned


def test_a_day_with_rows_and_no_cleaned_row_fails(settings):
    lines = [good_line(n, f"2019-08-22 0{n}:00:00", customer_id="-999999") for n in range(1, 4)]
    (settings.landing_dir).mkdir(parents=True)
    (settings.landing_dir / FIRST).write_text(HEADER + "\n".join(lines) + "\n")
    result = _run(dataclasses.replace(settings, max_quarantine_share=1.0), FIRST)
    assert not result.success
    check = _checks(result)["quarantine_share"]
    assert not check.passed and check.metadata["days_over"].value == 1


def test_an_id_from_another_file_is_quarantined_with_its_reason(settings):
    write_landing_files(settings.landing_dir, TINY)
    assert _run(settings, FIRST).success
    path = settings.landing_dir / SECOND
    taken = good_line(5, "2019-09-21 06:00:00", tx_time_seconds="2613600", tx_time_days="30")
    path.write_text(path.read_text() + taken + "\n")
    result = _run(settings, SECOND)
    assert result.success
    meta = result.asset_materializations_for_node("clean_transactions")[0].metadata
    assert meta["quarantined_transaction_id_in_other_file"].value == 1
    storage = local_resources(settings)["parquet_io_manager"]
    quarantined = storage.read_partitions(["quarantined_transactions"], ["2019-09-21"])
    reasons = {(r["transaction_id"], r["reason"]) for r in quarantined.collect()}
    assert ("5", "transaction_id_in_other_file") in reasons


def test_a_requested_day_whose_file_is_gone_fails_with_its_name(settings):
    write_landing_files(settings.landing_dir, dataclasses.replace(TINY, files=1))
    assert _run(settings, FIRST).success
    (settings.landing_dir / FIRST).unlink()
    tags = {
        "dagster/asset_partition_range_start": "2019-08-25",
        "dagster/asset_partition_range_end": "2019-08-27",
    }
    result = _run(settings, tags=tags)
    assert not result.success
    assert f"ingested from {FIRST}, which is no longer in" in _failure(result)


def test_files_whose_periods_overlap_are_rejected(settings):
    write_landing_files(settings.landing_dir, dataclasses.replace(TINY, files=1))
    (settings.landing_dir / "2019-09-01.txt").write_text(HEADER)
    result = _run(settings, FIRST)
    assert not result.success
    message = _failure(result)
    assert "2019-08-22.txt (2019-08-22..2019-09-20) and 2019-09-01.txt" in message
    assert "FRAUD_FILE_PERIOD_DAYS" in message


def test_a_re_ingested_file_that_truly_has_no_rows_empties_its_days(settings):
    write_landing_files(settings.landing_dir, dataclasses.replace(TINY, files=1))
    assert _run(settings, FIRST).success
    (settings.landing_dir / FIRST).write_text(HEADER)
    result = _run(settings, FIRST)
    assert result.success
    days = file_period(FIRST, 30).partition_keys
    assert {p["rows"] for p in _pointers(settings, CLEANED, days).values()} == {0}
