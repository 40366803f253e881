from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from fraud_assets.ingestion import checks
from fraud_assets.ingestion.cleaning import (
    DUPLICATE,
    classify,
    cleaned_rows,
    quarantined_rows,
    status_counts,
)
from fraud_assets_tests.test_ingestion.helpers import HEADER, ORIGIN, good_line, parse


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


def _counts(day: str, clean: int, quarantined: int, dated: bool = True) -> list[dict]:
    row = {"source_file": "2019-08-22.txt", "day": day, "dated": dated}
    return [
        {**row, "status": "clean", "reason": None, "count": clean},
        {**row, "status": "quarantined", "reason": "wrong_column_count", "count": quarantined},
    ]


def test_rows_without_a_day_of_their_own_count_for_their_file_only():
    # 30 unreadable rows land on the first day: 0.3% of the file, but 3% of that day.
    counts = _counts("2019-08-22", 970, 0) + _counts("2019-08-23", 9000, 0)
    counts += _counts("2019-08-22", 0, 30, dated=False)
    outcome = checks.quarantine_share(counts, max_share=0.01)
    assert outcome.passed, outcome.description
    assert outcome.metadata["rows_without_own_day"] == 30
    # The same rows dated on that day are a wave on that day.
    dated = counts[:4] + _counts("2019-08-22", 0, 30)
    failed = checks.quarantine_share(dated, max_share=0.01)
    assert not failed.passed and failed.metadata["days_over"] == 1


def test_an_unreadable_row_is_not_dated_on_the_day_it_lands(spark, tmp_path):
    lines = [
        good_line(1, "2019-08-22 10:00:00"),
        good_line(2, "2019-08-22 24:00:00", customer_id="-999999"),
        good_line(3).replace("2019-08-22 06:51:03", "not a time"),
    ]
    path = tmp_path / "2019-08-22.txt"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    raw, _ = parse(spark, path)
    counts = [row.asDict() for row in status_counts(classify(raw, 30, ORIGIN)).collect()]
    dated = {(row["day"], row["status"], row["dated"]): row["count"] for row in counts}
    # The 24:00 row is quarantined (sentinel customer) but its own date puts it on 08-23.
    assert dated == {
        ("2019-08-22", "clean", True): 1,
        ("2019-08-23", "quarantined", True): 1,
        ("2019-08-22", "quarantined", False): 1,
    }
