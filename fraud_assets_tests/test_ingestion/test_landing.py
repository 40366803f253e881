import pytest

from fraud_assets.ingestion.landing import RawFileFormatError, header_lines
from fraud_assets.resources.landing import LocalLandingZone
from fraud_assets_tests.test_ingestion.helpers import HEADER, good_line, parse, write_file


def test_header_with_the_feed_typo_or_the_right_spelling_is_skipped():
    assert header_lines("f", HEADER.encode()) == 1
    assert header_lines("f", HEADER.replace("tranaction_id", "transaction_id").encode()) == 1
    assert header_lines("f", b"0,2019-08-22 06:51:03,0,711,70.91,24663,0,0,0\n") == 0


def test_header_with_other_columns_is_a_clear_error():
    swapped = HEADER.replace("customer_id | terminal_id", "terminal_id | customer_id")
    with pytest.raises(RawFileFormatError, match=r"2019-08-22.txt: line 1 .*expected"):
        header_lines("2019-08-22.txt", swapped.encode())


def test_every_line_is_kept_with_its_line_number(spark, tmp_path):
    body = (
        HEADER
        + good_line(0)
        + "\n"
        + "1,2019-08-22 07:00:00,17\n"
        + "\n"
        + good_line(2, tx_amount="1.5\xff")
        + "\n"
        + good_line(3)
    )
    path = write_file(tmp_path, body.encode("latin-1"))
    raw, rows = parse(spark, path)
    got = {r["line_number"]: r.asDict() for r in raw.collect()}
    assert rows == 5 and sorted(got) == [2, 3, 4, 5, 6]
    assert got[2]["transaction_id"] == "0" and got[2]["raw_line"] is None
    assert got[3]["field_count"] == 3 and got[3]["raw_line"] == "1,2019-08-22 07:00:00,17"
    assert got[3]["transaction_id"] is None
    assert got[4]["field_count"] == 0 and got[4]["raw_line"] == ""
    assert got[5]["transaction_id"] is None and "\ufffd" in got[5]["raw_line"]
    assert got[6]["transaction_id"] == "3", "a last line without newline is read"
    assert {r["day"] for r in got.values()} == {"2019-08-22"}


def test_line_numbers_stay_exact_across_many_splits(spark, tmp_path):
    lines = [good_line(i) for i in range(20_000)]
    path = write_file(tmp_path, HEADER + "\n".join(lines) + "\n")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "64k")
    try:
        raw, rows = parse(spark, path)
        assert raw.rdd.getNumPartitions() > 5
        pairs = raw.select("line_number", "transaction_id").collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert rows == 20_000
    assert all(int(tx) + 2 == line for line, tx in pairs)
    assert len(pairs) == 20_000


def test_empty_and_header_only_files_give_no_rows(spark, tmp_path):
    for body in (b"", HEADER.encode()):
        raw, rows = parse(spark, write_file(tmp_path, body))
        assert rows == 0 and raw.count() == 0


def test_rows_get_the_day_they_were_written_on_clamped_into_the_file_period(spark, tmp_path):
    body = HEADER + "\n".join(
        [
            good_line(0, "2019-08-23 10:00:00"),
            good_line(1, "2019-08-23 24:00:00"),
            good_line(2, "2019-09-20 24:00:00"),
            good_line(3, "2019-07-01 10:00:00"),
            good_line(4, tx_datetime="not a date at all!!"),
        ]
    )
    raw, _ = parse(spark, write_file(tmp_path, body))
    days = {r["transaction_id"]: r["day"] for r in raw.collect()}
    assert days == {
        "0": "2019-08-23",
        "1": "2019-08-24",
        "2": "2019-09-20",
        "3": "2019-08-22",
        "4": "2019-08-22",
    }


def test_symlinks_in_the_landing_folder_are_never_followed(tmp_path):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    write_file(outside, HEADER + good_line(1) + "\n")
    write_file(landing, HEADER + good_line(2) + "\n", name="2019-09-21.txt")
    (landing / "2019-08-22.txt").symlink_to(outside / "2019-08-22.txt")
    (landing / "2019-10-21.txt").symlink_to(landing / "2019-09-21.txt")
    (landing / "more").symlink_to(outside, target_is_directory=True)
    listed = LocalLandingZone(path=str(landing)).list_entries()
    assert [entry.key for entry in listed] == ["2019-09-21.txt"]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_the_header_rule_splits_lines_as_spark_does(spark, tmp_path, ending):
    header = HEADER.rstrip("\n")
    body = "\ufeff" + header + ending + good_line(1) + ending + good_line(2) + ending
    path = write_file(tmp_path, body)
    assert header_lines(path.name, path.read_bytes()) == 1
    frame, count = parse(spark, path)
    assert count == 2
    assert [row["transaction_id"] for row in frame.orderBy("line_number").collect()] == ["1", "2"]
