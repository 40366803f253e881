from datetime import UTC

import pytest
from pyspark.sql import functions as F

from fraud_assets.ingestion.cleaning import (
    CLEAN,
    DUPLICATE,
    QUARANTINED,
    classify,
    cleaned_rows,
    quarantined_rows,
)
from fraud_assets.ingestion.schema import CLEANED_COLUMNS, QUARANTINED_COLUMNS
from fraud_assets_tests.test_ingestion.helpers import (
    HEADER,
    ORIGIN,
    classify_file,
    good_line,
    parse,
    write_file,
)

# One line per rule, each on its own line number (the header is line 1).
CASES = [
    ("valid", good_line(100), CLEAN, None),
    ("large amount is a fraud signal", good_line(101, tx_amount="15000.00"), CLEAN, None),
    ("terminal 0 is real", good_line(102, terminal_id="0"), CLEAN, None),
    ("wrong column count", "103,2019-08-22 06:51:03,17,0,70.91", QUARANTINED, "wrong_column_count"),
    ("too many columns", good_line(104) + ",0", QUARANTINED, "wrong_column_count"),
    ("blank line", "", QUARANTINED, "blank_line"),
    ("empty terminal", good_line(106, terminal_id=""), QUARANTINED, "missing_terminal_id"),
    (
        "sentinel customer",
        good_line(107, customer_id="-999999"),
        QUARANTINED,
        "sentinel_customer_id",
    ),
    ("zero amount", good_line(108, tx_amount="0.00"), QUARANTINED, "non_positive_amount"),
    ("negative amount", good_line(109, tx_amount="-5.10"), QUARANTINED, "non_positive_amount"),
    ("amount not a number", good_line(110, tx_amount="7x.91"), QUARANTINED, "invalid_tx_amount"),
    ("amount in exponent form", good_line(111, tx_amount="1e3"), QUARANTINED, "invalid_tx_amount"),
    ("id not a number", good_line(0, transaction_id="11x2"), QUARANTINED, "invalid_transaction_id"),
    ("customer not integer", good_line(113, customer_id="1.5"), QUARANTINED, "invalid_customer_id"),
    (
        "bad date",
        good_line(114, tx_datetime="2019-02-30 01:00:00"),
        QUARANTINED,
        "invalid_tx_datetime",
    ),
    (
        "short date",
        good_line(115, tx_datetime="2019-8-22 06:51:03"),
        QUARANTINED,
        "invalid_tx_datetime",
    ),
    ("fraud flag 2", good_line(116, tx_fraud="2"), QUARANTINED, "invalid_tx_fraud"),
    (
        "scenario 4",
        good_line(117, tx_fraud="1", tx_fraud_scenario="4"),
        QUARANTINED,
        "invalid_tx_fraud_scenario",
    ),
    (
        "label disagrees",
        good_line(118, tx_fraud="0", tx_fraud_scenario="2"),
        QUARANTINED,
        "inconsistent_label",
    ),
    ("seconds disagree", good_line(119, tx_time_seconds="5"), QUARANTINED, "inconsistent_time"),
    (
        "outside period",
        good_line(120, "2019-09-21 10:00:00", tx_time_seconds="2628000", tx_time_days="30"),
        QUARANTINED,
        "outside_file_period",
    ),
]


@pytest.fixture(scope="module")
def classified(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cleaning")
    body = HEADER + "\n".join(line for _, line, _, _ in CASES) + "\n"
    return classify_file(spark, write_file(folder, body))


@pytest.mark.parametrize(("case", "line", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_each_rule(classified, case, line, status, reason):
    line_number = [c[0] for c in CASES].index(case) + 2
    row = classified[line_number]
    assert (row["status"], row["reason"]) == (status, reason), line


def test_midnight_written_as_24h_is_repaired_to_the_next_day(spark, tmp_path):
    line = good_line(5, "2019-08-22 24:00:00", tx_time_seconds="86400", tx_time_days="1")
    rows = classify_file(spark, write_file(tmp_path, HEADER + line + "\n"))
    row = rows[2]
    assert (row["status"], row["reason"]) == (CLEAN, None)
    # Collected timestamps are naive local times: compare them as the instant they are.
    assert row["_tx_datetime"].astimezone(UTC).strftime("%F %T") == "2019-08-23 00:00:00"
    assert row["day"] == "2019-08-23"


def test_midnight_after_the_last_day_is_outside_the_period(spark, tmp_path):
    line = good_line(5, "2019-09-20 24:00:00", tx_time_seconds=str(30 * 86400), tx_time_days="30")
    rows = classify_file(spark, write_file(tmp_path, HEADER + line + "\n"))
    assert rows[2]["reason"] == "outside_file_period"


def test_exact_duplicates_keep_the_first_copy(spark, tmp_path):
    lines = [good_line(1), good_line(2), good_line(1), good_line(1)]
    rows = classify_file(spark, write_file(tmp_path, HEADER + "\n".join(lines)))
    assert [rows[n]["status"] for n in (2, 3, 4, 5)] == [CLEAN, CLEAN, DUPLICATE, DUPLICATE]


def test_same_id_with_other_content_quarantines_every_copy(spark, tmp_path):
    lines = [good_line(1), good_line(1, tx_amount="99.99"), good_line(2)]
    rows = classify_file(spark, write_file(tmp_path, HEADER + "\n".join(lines)))
    assert [rows[n]["reason"] for n in (2, 3)] == ["conflicting_transaction_id"] * 2
    assert rows[4]["status"] == CLEAN


def test_duplicates_of_a_bad_row_stay_in_quarantine(spark, tmp_path):
    bad = good_line(1, customer_id="-999999")
    rows = classify_file(spark, write_file(tmp_path, HEADER + "\n".join([bad, bad])))
    assert [rows[n]["status"] for n in (2, 3)] == [QUARANTINED, QUARANTINED]


def test_bad_encoding_and_truncated_last_line(spark, tmp_path):
    body = (HEADER + good_line(1, tx_amount="70.91\xff") + "\n" + good_line(2)[:20]).encode(
        "latin-1"
    )
    rows = classify_file(spark, write_file(tmp_path, body))
    assert rows[2]["reason"] == "bad_encoding"
    assert rows[3]["reason"] == "wrong_column_count"
    assert rows[3]["raw_line"] == good_line(2)[:20]


def test_generated_file_rows_are_conserved_and_outputs_typed(spark, small_landing):
    raw, rows = parse(spark, small_landing / "2019-08-22.txt")
    classified = classify(raw, 30, ORIGIN)
    cleaned, quarantined = cleaned_rows(classified), quarantined_rows(classified)
    duplicates = classified.where(F.col("status") == DUPLICATE).count()
    assert raw.count() == rows == cleaned.count() + quarantined.count() + duplicates
    assert duplicates > 0 and quarantined.count() > 0
    assert tuple(cleaned.columns) == CLEANED_COLUMNS
    assert tuple(quarantined.columns) == QUARANTINED_COLUMNS
    types = dict(cleaned.dtypes)
    assert types["transaction_id"] == "bigint" and types["tx_datetime"] == "timestamp"
    assert types["tx_amount"] == "double" and types["tx_fraud"] == "int"
    reasons = {r["reason"] for r in quarantined.select("reason").distinct().collect()}
    assert {
        "wrong_column_count",
        "bad_encoding",
        "missing_terminal_id",
        "sentinel_customer_id",
        "non_positive_amount",
    } <= reasons
    assert cleaned.where(F.col("tx_amount") > 220).count() > 0, "large amounts are kept"
