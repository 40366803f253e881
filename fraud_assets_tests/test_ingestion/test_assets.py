import dataclasses
import shutil

import pytest
from dagster import AssetIn, BackfillPolicy, DagsterInstance, asset, materialize
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.ingestion import assets as ingestion_module
from fraud_assets.ingestion.assets import ingestion_assets
from fraud_assets.partitions import daily_partitions, file_period, file_run_tags
from fraud_assets.resources.environments import local_resources
from fraud_assets.settings import Settings
from fraud_assets_tests.test_ingestion.helpers import HEADER, good_line

ASSETS = ingestion_assets(Settings.from_env())


@pytest.fixture
def landed(settings, small_landing):
    shutil.copytree(small_landing, settings.landing_dir)
    return settings


def _file_tags(settings, name):
    landing = local_resources(settings)["landing"]
    landed = landing.get(name)
    return file_run_tags(landed.key, landed.version, file_period(landed.key, 30))


def _checks(result):
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_one_file_becomes_raw_cleaned_and_quarantined_days(landed):
    resources = local_resources(landed)
    result = materialize(ASSETS, resources=resources, tags=_file_tags(landed, "2019-08-22.txt"))
    assert result.success
    checks = _checks(result)
    assert sorted(checks) == [
        "no_nulls",
        "quarantine_share",
        "row_conservation",
        "time_origin",
        "tx_datetime_within_file_period",
        "unique_transaction_id",
    ]
    assert all(c.passed for c in checks.values())

    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized == {
        "raw_transactions",
        "cleaned_transactions",
        "quarantined_transactions",
    }
    partitions = {m.partition for m in result.get_asset_materialization_events()}
    assert partitions == set(file_period("2019-08-22.txt", 30).partition_keys)

    cleaned_meta = result.asset_materializations_for_node("clean_transactions")[0].metadata
    assert cleaned_meta["rows_in"].value == (
        cleaned_meta["rows_out"].value
        + cleaned_meta["rows_quarantined"].value
        + cleaned_meta["duplicates_dropped"].value
    )
    assert cleaned_meta["quarantined_sentinel_customer_id"].value > 0
    assert "missing_terminal_id" in cleaned_meta["quarantine_reasons"].value

    record = resources["ledger"].get("2019-08-22.txt")
    assert record.rows == cleaned_meta["rows_in"].value
    assert (record.first_day, record.last_day) == ("2019-08-22", "2019-09-20")
    assert record.header and record.cleaned


def test_a_failing_check_blocks_what_comes_after(landed, monkeypatch):
    reached = []

    @asset(
        partitions_def=daily_partitions(landed),
        ins={"cleaned": AssetIn("cleaned_transactions")},
        backfill_policy=BackfillPolicy.single_run(),
        io_manager_key="parquet_io_manager",
    )
    def downstream(cleaned: DataFrame) -> DataFrame:
        reached.append(True)
        return cleaned

    original = ingestion_module.cleaned_rows

    def lossy(classified):
        # Fault injection: the cleaning step silently loses one row.
        cleaned = original(classified)
        first = cleaned.agg(F.min("transaction_id")).first()[0]
        return cleaned.where(F.col("transaction_id") != first)

    monkeypatch.setattr(ingestion_module, "cleaned_rows", lossy)
    result = materialize(
        [*ASSETS, downstream],
        resources=local_resources(landed),
        tags=_file_tags(landed, "2019-08-22.txt"),
        raise_on_error=False,
    )
    checks = _checks(result)
    assert not checks["row_conservation"].passed
    assert checks["row_conservation"].metadata["groups_broken"].value == 1
    assert not result.success
    assert reached == []
    record = local_resources(landed)["ledger"].get("2019-08-22.txt")
    assert not record.cleaned, "a file whose checks failed is not taken for done"


def _cleaned_rows(settings) -> list:
    storage = local_resources(settings)["parquet_io_manager"]
    keys = file_period("2019-08-22.txt", 30).partition_keys
    return sorted(storage.read_partitions(["cleaned_transactions"], keys).collect())


def test_raw_days_stored_as_text_only_clean_to_the_same_rows(landed, tmp_path, monkeypatch):
    tags = _file_tags(landed, "2019-08-22.txt")
    assert materialize(ASSETS, resources=local_resources(landed), tags=tags).success
    typed_raw = local_resources(landed)["parquet_io_manager"].read_partitions(
        ["raw_transactions"], file_period("2019-08-22.txt", 30).partition_keys
    )
    assert "_tx_amount" in typed_raw.columns

    # Raw partitions written before raw carried the typed fields hold the text only.
    text_only = dataclasses.replace(landed, storage_dir=tmp_path / "text-only-storage")
    monkeypatch.setattr(ingestion_module, "with_typed_fields", lambda raw: raw)
    result = materialize(ASSETS, resources=local_resources(text_only), tags=tags)
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    old_raw = local_resources(text_only)["parquet_io_manager"].read_partitions(
        ["raw_transactions"], file_period("2019-08-22.txt", 30).partition_keys
    )
    assert "_tx_amount" not in old_raw.columns
    assert _cleaned_rows(text_only) == _cleaned_rows(landed)


def test_a_partial_range_from_the_ui_reads_the_file_and_keeps_its_days(landed):
    resources = local_resources(landed)
    tags = {
        "dagster/asset_partition_range_start": "2019-09-15",
        "dagster/asset_partition_range_end": "2019-09-25",
    }
    result = materialize(ASSETS, resources=resources, tags=tags)
    assert result.success
    partitions = {
        m.partition
        for m in result.get_asset_materialization_events()
        if m.asset_key.to_user_string() == "cleaned_transactions"
    }
    assert min(partitions) == "2019-09-15" and max(partitions) == "2019-09-25"
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert resources["ledger"].records() == [], "no file was ingested whole"


def test_a_file_with_a_foreign_header_fails_with_the_reason(landed):
    path = landed.landing_dir / "2019-08-22.txt"
    path.write_text(HEADER.replace("tx_amount", "amount") + good_line(1) + "\n")
    result = materialize(
        ASSETS,
        resources=local_resources(landed),
        tags=_file_tags(landed, "2019-08-22.txt"),
        raise_on_error=False,
        instance=DagsterInstance.ephemeral(),
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "expected ['transaction_id'" in str(failure.event_specific_data.error)
