"""Line validation online gives every line of a defective file the reason the batch cleaning
gave it, and reads times and amounts as the batch does."""

from datetime import date

import pytest

from fraud_assets.definitions import build_definitions
from fraud_assets.ingestion.assets import QUARANTINED
from fraud_assets.ingestion.cleaning import Reason
from fraud_assets.resources.storage import published_days, read_published
from fraud_assets.serving.lines import Rejected, Transaction, in_time_order, parse_line
from fraud_assets_tests.test_features.conftest import FILES

ORIGIN = date(2019, 8, 22)
# Rules that need a whole file, not one line.
FILE_RULES = {
    Reason.OUTSIDE_FILE_PERIOD.value,
    Reason.CONFLICTING_TRANSACTION_ID.value,
    Reason.TRANSACTION_ID_IN_OTHER_FILE.value,
}


@pytest.mark.slow
def test_every_line_gets_the_reason_the_batch_gave_it(file_by_file):
    settings, _, _ = file_by_file
    store = build_definitions(settings).resources["parquet_io_manager"].store()
    quarantined = read_published(
        store,
        QUARANTINED,
        published_days(store, QUARANTINED),
        ["source_file", "line_number", "reason"],
    ).to_pandas()
    batch = quarantined[quarantined["source_file"].str.endswith(FILES[0])]
    batch_reasons = dict(zip(batch["line_number"], batch["reason"], strict=True))
    with open(settings.landing_dir / FILES[0], "rb") as handle:
        lines = handle.read().splitlines()
    online = {
        number: parsed.reason
        for number, raw in enumerate(lines[1:], start=2)
        if isinstance(parsed := parse_line(raw, settings.feed_time_origin), Rejected)
    }
    expected = {n: r for n, r in batch_reasons.items() if r not in FILE_RULES}
    assert len(expected) >= 8 and len(set(expected.values())) >= 5
    assert online == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "blank_line"),
        (b"1,2019-08-22 06:51:03,0,711,70.91,24663,0", "wrong_column_count"),
        (b"1,2019-08-22 06:51:03,0,711,70.91\xff,24663,0,0,0", "bad_encoding"),
        (b"1,2019-08-22 06:51:03,0,,70.91,24663,0,0,0", "missing_terminal_id"),
        (b"1_0,2019-08-22 06:51:03,0,711,70.91,24663,0,0,0", "invalid_transaction_id"),
        (b"1,2019-02-30 06:51:03,0,711,70.91,24663,0,0,0", "invalid_tx_datetime"),
        (b"1,2019-08-22 06:51:60,0,711,70.91,24663,0,0,0", "invalid_tx_datetime"),
        (b"1,2019-08-22 06:51:03,0,711,NaN,24663,0,0,0", "invalid_tx_amount"),
        (b"1,2019-08-22 06:51:03,0,711,1e3,24663,0,0,0", "invalid_tx_amount"),
        (b"1,2019-08-22 06:51:03,-999999,711,70.91,24663,0,0,0", "sentinel_customer_id"),
        (b"1,2019-08-22 06:51:03,0,711,0.00,24663,0,0,0", "non_positive_amount"),
        (b"1,2019-08-22 06:51:03,0,711,70.91,24663,0,1,0", "inconsistent_label"),
        (b"1,2019-08-22 06:51:03,0,711,70.91,24664,0,0,0", "inconsistent_time"),
    ],
)
def test_a_bad_line_gets_its_reason(line, reason):
    parsed = parse_line(line, ORIGIN)
    assert isinstance(parsed, Rejected)
    assert parsed.reason == reason
    assert parsed.text == line.decode("utf-8", errors="replace")


def test_a_good_line_reads_as_the_batch_reads_it():
    parsed = parse_line(b" +7 ,2019-08-21 24:00:00,3,0,70.91,0,0,1,2\r\n", ORIGIN)
    assert parsed == Transaction(7, 1566432000, 3, 0, 70.91, 1)


def test_a_feed_replays_in_the_order_its_transactions_happened():
    lines = [
        b"5,2019-08-22 06:00:00,0,0,1.00,21600,0,0,0",
        b"garbage",
        b"3,2019-08-21 24:00:00,0,0,1.00,0,0,0,0",
        b"4,2019-08-22 06:00:00,0,0,1.00,21600,0,0,0",
    ]
    assert in_time_order(lines) == [lines[2], lines[3], lines[0], lines[1]]
