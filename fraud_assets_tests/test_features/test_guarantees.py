"""Features never read an incomplete look-back, never publish data that failed a check, and
models never use an incomplete window."""

import pytest
from dagster import AssetKey, DagsterInstance

from fraud_assets.checks import CheckOutcome
from fraud_assets.definitions import build_definitions
from fraud_assets.errors import IncompleteInputError
from fraud_assets.features import assets as feature_assets
from fraud_assets.features.assets import FEATURES
from fraud_assets.features.definitions import process_landed_file
from fraud_assets.ingestion.assets import RAW
from fraud_assets.model.assets import split_of, window_rows
from fraud_assets.partitions import file_period, file_run_tags
from fraud_assets_tests.test_features.conftest import FILES, pipeline_settings, process_file

pytestmark = pytest.mark.slow


def _file_run(settings, instance, name, **selection):
    defs = build_definitions(settings)
    landed = defs.resources["landing"].get(name)
    tags = file_run_tags(landed.key, landed.version, file_period(landed.key, 30))
    return defs.resolve_job_def(process_landed_file.name).execute_in_process(
        instance=instance, tags=tags, raise_on_error=False, **selection
    )


def test_features_fail_when_a_look_back_day_with_data_is_not_published(tmp_path, three_files):
    first, second, _ = FILES
    settings = pipeline_settings(tmp_path, three_files, files=(first, second))
    instance = DagsterInstance.ephemeral()
    # The first file's run has written its raw rows but not (yet) its cleaned ones.
    raw_only = _file_run(settings, instance, first, asset_selection=[AssetKey(RAW)])
    assert raw_only.success
    result = _file_run(settings, instance, second)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "transaction_features"
    message = str(failure.event_specific_data.error)
    assert "IncompleteInputError" in message and first in message
    storage = build_definitions(settings).resources["parquet_io_manager"]
    assert storage.published_rows([FEATURES], file_period(second, 30).partition_keys) == {}


@pytest.fixture(scope="module")
def first_file(tmp_path_factory, three_files):
    """The first file processed on its own (the tests below read it, the last one changes it)."""
    settings = pipeline_settings(tmp_path_factory.mktemp("first_file"), three_files, FILES[:1])
    instance = DagsterInstance.ephemeral()
    process_file(settings, instance, FILES[0])
    return settings, instance


def test_a_failed_feature_check_leaves_the_published_days_unchanged(first_file, monkeypatch):
    settings, instance = first_file
    storage = build_definitions(settings).resources["parquet_io_manager"]
    days = file_period(FILES[0], 30).partition_keys
    store = storage.store()
    before = {day: store.read_json(f"{FEATURES}/partitions/{day}.json") for day in days}
    stored_before = storage.read_partitions([FEATURES], days).count()

    # Fault injection: the flag check finds a defect in the recomputed days.
    def broken(profile):
        return CheckOutcome(False, "TX_DURING_NIGHT holds 2")

    monkeypatch.setattr(feature_assets.checks, "flags_are_binary", broken)
    rerun = _file_run(settings, instance, FILES[0], asset_selection=[AssetKey(FEATURES)])
    assert not rerun.success
    assert {day: store.read_json(f"{FEATURES}/partitions/{day}.json") for day in days} == before
    assert storage.read_partitions([FEATURES], days).count() == stored_before


def test_a_model_window_with_an_empty_day_that_holds_data_is_refused(first_file):
    settings, _ = first_file
    resources = build_definitions(settings).resources
    storage, ledger = resources["parquet_io_manager"], resources["ledger"]
    split = split_of("2019-08-28", settings.model)
    window = [
        day
        for day in file_period(FILES[0], 30).partition_keys
        if split.first_day.isoformat() <= day <= split.last_day.isoformat()
    ]
    features = storage.read_partitions([FEATURES], window)
    assert window_rows(window, storage, ledger, features, split).count() > 0

    # A day of the window published empty although its file holds rows for it.
    empty = features.where("day = '2019-09-01'").limit(0)
    staged = storage.stage([FEATURES], empty, ["2019-09-01"], "emptying-run")
    storage.publish(staged.allowing_empty({"2019-09-01"}))
    with pytest.raises(IncompleteInputError, match="2019-09-01"):
        window_rows(window, storage, ledger, features, split)
