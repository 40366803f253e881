import dataclasses
import io
import json
from datetime import date, timedelta

import numpy as np
import pytest

from fraud_assets.datagen import cli
from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import HEADER, GeneratorConfig, generate
from fraud_assets.datagen.simulator import (
    CARD_TESTING_BURST,
    CARD_TESTING_MAX_AMOUNT,
    CARD_TESTING_SCENARIO,
    LARGE_AMOUNT_THRESHOLD,
    Drift,
    make_population,
)
from fraud_assets_tests.conftest import SMALL, write_landing_files


def _read_rows(path):
    lines = path.read_bytes().split(b"\n")
    assert lines[0] + b"\n" == HEADER
    return [line.split(b",") for line in lines[1:] if line]


def test_same_seed_gives_identical_files(tmp_path):
    first = write_landing_files(tmp_path / "a", SMALL)
    second = write_landing_files(tmp_path / "b", SMALL)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = write_landing_files(tmp_path / "c", dataclasses.replace(SMALL, seed=8))
    assert first[0].read_bytes() != other[0].read_bytes()


def test_files_are_named_after_their_first_day_and_ids_continue(tmp_path):
    config = dataclasses.replace(SMALL, defects=DefectRates.none())
    paths = write_landing_files(tmp_path, config)
    assert [p.name for p in paths] == ["2019-08-22.txt", "2019-09-21.txt"]
    ids = [int(row[0]) for path in paths for row in _read_rows(path)]
    assert ids == list(range(len(ids)))


def test_clean_rows_follow_the_simulator_rules(tmp_path):
    config = dataclasses.replace(
        SMALL, customers=600, terminals=200, defects=DefectRates.none(), files=1
    )
    rows = _read_rows(write_landing_files(tmp_path, config)[0])
    assert all(len(row) == 9 for row in rows)
    amount = np.array([float(r[4]) for r in rows])
    seconds = np.array([int(r[5]) for r in rows])
    fraud = np.array([int(r[7]) for r in rows])
    scenario = np.array([int(r[8]) for r in rows])
    assert (amount > 0).all()
    assert ((scenario > 0) == (fraud == 1)).all()
    assert set(np.unique(scenario)) <= {0, 1, 2, 3}
    assert (scenario[amount > 220] > 0).all()
    assert 0.005 < fraud.mean() < 0.2
    assert (np.diff(seconds) >= 0).all(), "rows are written in time order"
    day_of_row = np.array([int(r[6]) for r in rows])
    assert (day_of_row == seconds // 86_400).all()
    first = rows[0]
    assert first[1].startswith(b"2019-08-22 ")


def test_customers_only_use_terminals_within_the_radius():
    rng = np.random.default_rng(1)
    population = make_population(200, 300, rng)
    degree = np.diff(population.terminal_indptr)
    assert degree.sum() == len(population.terminal_indices)
    assert 0 < degree.mean() < 300 * np.pi * 25 / 10_000 * 2


def test_every_defect_is_injected_and_counted(tmp_path):
    config = dataclasses.replace(
        SMALL, files=1, defects=dataclasses.replace(SMALL.defects, truncated_last_line=1.0)
    )
    (summary, chunks), *_ = list(generate(config))
    body = b"".join(chunks)
    for kind in (
        "midnight_as_24h",
        "empty_terminal_id",
        "sentinel_customer_id",
        "duplicate_row",
        "non_positive_amount",
        "wrong_column_count",
        "non_numeric_field",
        "bad_encoding",
        "truncated_last_line",
    ):
        assert summary.defects.get(kind, 0) > 0, kind
    assert b" 24:00:00," in body
    assert b",-999999," in body
    assert not body.endswith(b"\n")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_empty_and_header_only_files(tmp_path):
    config = dataclasses.replace(SMALL, files=3, empty_files=(0,), header_only_files=(1,))
    paths = write_landing_files(tmp_path, config)
    assert paths[0].read_bytes() == b""
    assert paths[1].read_bytes() == HEADER
    third = _read_rows(paths[2])
    full = write_landing_files(
        tmp_path / "full", dataclasses.replace(config, empty_files=(), header_only_files=())
    )
    assert third == _read_rows(full[2]), "skipping a file's rows does not change later files"


def test_cli_writes_files_and_reports_them(tmp_path, capsys):
    out = tmp_path / "landing"
    code = cli.main(
        [
            "--out",
            str(out),
            "--customers",
            "50",
            "--terminals",
            "30",
            "--files",
            "2",
            "--days-per-file",
            "3",
            "--start-date",
            "2020-01-01",
            "--only-file",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["2020-01-04.txt"]
    report = json.loads(capsys.readouterr().out.strip())
    assert report["file"].endswith("2020-01-04.txt")
    assert report["lines"] == len(_read_rows(out / "2020-01-04.txt"))


def test_generation_streams_one_day_at_a_time():
    config = GeneratorConfig(
        customers=100, terminals=50, files=1, days_per_file=5, start_date=date(2019, 8, 22)
    )
    ((_, chunks),) = list(generate(config))
    pieces = list(chunks)
    assert len(pieces) == 1 + 5, "the header, then one chunk per day"
    assert io.BytesIO(pieces[0]).read() == HEADER


@pytest.mark.parametrize(
    ("start", "origin"),
    [(date(2021, 3, 1), date(2019, 8, 22)), (date(2021, 3, 1), None), (date(2019, 1, 5), None)],
)
def test_time_columns_count_from_the_time_origin_whatever_the_start(tmp_path, start, origin):
    config = dataclasses.replace(
        SMALL, files=1, days_per_file=3, start_date=start, time_origin=origin
    )
    config = dataclasses.replace(config, defects=DefectRates.none())
    (path,) = write_landing_files(tmp_path, config)
    assert path.name == f"{start}.txt"
    counted_from = np.datetime64(origin or start, "s")
    for row in _read_rows(path):
        written = np.datetime64(row[1].decode().replace(" ", "T"), "s")
        seconds = int((written - counted_from) / np.timedelta64(1, "s"))
        assert int(row[5]) == seconds and int(row[6]) == seconds // 86_400
        assert start <= written.astype("datetime64[D]").astype(date) < start + timedelta(days=3)


def test_drift_changes_the_world_from_its_day_only(tmp_path):
    config = dataclasses.replace(SMALL, defects=DefectRates.none(), customers=400)
    drift_day = date(2019, 9, 21)
    drifted = dataclasses.replace(config, drift=Drift(drift_day, 3.0, card_testing_per_day=2))
    healthy_paths = write_landing_files(tmp_path / "healthy", config)
    drifted_paths = write_landing_files(tmp_path / "drifted", drifted)
    # The days before the drift are the same bytes.
    assert healthy_paths[0].read_bytes() == drifted_paths[0].read_bytes()
    rows = _read_rows(drifted_paths[1])
    amounts = np.array([float(row[4]) for row in rows])
    scenario = np.array([int(row[8]) for row in rows])
    night = np.array([row[1][11:13] < b"06" for row in rows])
    tiny = amounts < CARD_TESTING_MAX_AMOUNT
    testing = tiny & night & (scenario == CARD_TESTING_SCENARIO)
    assert testing.sum() >= 30 * 2 * CARD_TESTING_BURST
    # Labels follow the original amounts: tripled genuine amounts above 220 stay genuine.
    genuine = scenario == 0
    assert (amounts[genuine] > LARGE_AMOUNT_THRESHOLD).sum() > 0
    healthy = np.array([float(row[4]) for row in _read_rows(healthy_paths[1])])
    assert np.median(amounts[~testing]) == pytest.approx(3 * np.median(healthy), rel=0.1)
