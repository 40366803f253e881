from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from fraud_assets.ingestion import checks
from fraud_assets.ingestion.cleaning import DUPLICATE, classify, cleaned_rows, quarantined_rows
from fraud_assets_tests.test_ingestion.helpers import ORIGIN, parse


@pytest.fixture(scope="module")
def outputs(spark, small_landing):
    raw, _ = parse(spark, small_landing / "2019-08-22.txt")
    raw = raw.cache()
    classified = classify(raw, 30, ORIGIN).cache()
    return {
        "raw": raw,
        "cleaned": cleaned_rows(classified),
        "quarantined": quarantined_rows(classified),
        "duplicates": classified.where(F.col("status") == DUPLICATE),
    }


def _conservation(outputs, file_lines=None, **replaced):
    frames = {**outputs, **replaced}
    return checks.row_conservation(
        frames["raw"], frames["cleaned"], frames["quarantined"], frames["duplicates"], file_lines
    )


def test_all_checks_pass_on_clean_output(outputs):
    cleaned = outputs["cleaned"]
    for outcome in (
        _conservation(outputs),
        checks.unique_transaction_ids(cleaned),
        checks.no_nulls(cleaned),
        checks.datetimes_within_file_period(cleaned, 30),
    ):
        assert outcome.passed, outcome.description
    assert _conservation(outputs).metadata["groups_checked"] == 30


def test_conservation_fails_when_a_row_is_lost(outputs):
    first = outputs["cleaned"].agg(F.min("transaction_id")).first()[0]
    lost = outputs["cleaned"].where(F.col("transaction_id") != first)
    outcome = _conservation(outputs, cleaned=lost)
    assert not outcome.passed
    assert outcome.metadata["groups_broken"] == 1
    assert "2019-08-22" in outcome.metadata["broken_groups"]


def test_conservation_compares_raw_rows_with_the_lines_in_the_file(outputs):
    rows = outputs["raw"].count()
    assert _conservation(outputs, file_lines={"2019-08-22.txt": rows}).passed
    outcome = _conservation(outputs, file_lines={"2019-08-22.txt": rows + 1})
    assert not outcome.passed and "other raw rows than lines" in outcome.description


def test_conservation_fails_when_duplicates_are_not_counted(outputs):
    outcome = _conservation(outputs, duplicates=outputs["duplicates"].limit(0))
    assert not outcome.passed


def test_unique_ids_fails_on_a_repeated_row(outputs):
    cleaned = outputs["cleaned"]
    doubled = cleaned.unionByName(cleaned.limit(3))
    outcome = checks.unique_transaction_ids(doubled)
    assert not outcome.passed and outcome.metadata["repeated_ids"] == 3


def test_no_nulls_fails_on_a_null_terminal(outputs):
    cleaned = outputs["cleaned"]
    broken = cleaned.withColumn(
        "terminal_id",
        F.when(F.col("transaction_id") % 100 == 0, F.lit(None)).otherwise(F.col("terminal_id")),
    )
    outcome = checks.no_nulls(broken)
    assert not outcome.passed and "terminal_id" in outcome.description


def test_period_check_fails_on_a_shifted_datetime(outputs):
    cleaned = outputs["cleaned"]
    shifted = cleaned.withColumn(
        "tx_datetime",
        F.when(F.col("transaction_id") == 10, F.col("tx_datetime") + timedelta(days=40)).otherwise(
            F.col("tx_datetime")
        ),
    )
    outcome = checks.datetimes_within_file_period(shifted, 30)
    assert not outcome.passed
    assert "2019-08-22.txt" in outcome.metadata["files"]
