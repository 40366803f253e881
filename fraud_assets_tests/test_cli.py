"""The README's main command, end to end on a small generated data set."""

import pytest
from dagster import DagsterInstance

from fraud_assets import cli
from fraud_assets.cli import days_to_refresh
from fraud_assets.definitions import build_definitions
from fraud_assets.model.registry import champion_version
from fraud_assets.partitions import file_period
from fraud_assets.settings import Settings

FILES = ("2019-08-22.txt", "2019-09-21.txt", "2019-10-21.txt")


@pytest.mark.slow
def test_pipeline_run_generates_ingests_trains_and_is_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    # A small, quick model: this data set is too small for the default quality floor.
    for name, value in {
        "FRAUD_MODEL_FAMILIES": "logistic_regression",
        "FRAUD_TUNING_MAX_EVALS": "1",
        "FRAUD_BOOTSTRAP_RESAMPLES": "100",
        "FRAUD_FLOOR_ROC_AUC": "0.5",
        "FRAUD_FLOOR_AVERAGE_PRECISION": "0",
    }.items():
        monkeypatch.setenv(name, value)
    arguments = ["run", "--files", "2", "--customers", "200", "--terminals", "300"]

    assert cli.main(arguments) == 0
    output = capsys.readouterr().out
    assert "2 file(s) processed, 0 run(s) failed" in output
    assert output.count("checks passed 9/9") == 2
    # The second file's days end the test block of the first model partition.
    assert "model partition 2019-10-06" in output
    assert output.count("checks passed 2/2") == 1

    settings = Settings.from_env()
    assert sorted(p.name for p in settings.landing_dir.iterdir()) == [
        "2019-08-22.txt",
        "2019-09-21.txt",
    ]
    ledger = build_definitions(settings).resources["ledger"]
    assert [r.key for r in ledger.records()] == ["2019-08-22.txt", "2019-09-21.txt"]

    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 3
    tracking = build_definitions(settings).resources["mlflow_tracking"]
    assert champion_version(tracking.client()) is not None

    assert cli.main(arguments) == 0
    again = capsys.readouterr().out
    assert "0 file(s) processed" in again and "model partition" not in again


def test_a_late_file_refreshes_the_feature_days_that_read_its_days():
    first, late, last = (file_period(name, 30) for name in FILES)
    before = set(first.partition_keys) | set(last.partition_keys)
    refreshed = days_to_refresh([late], before, 37)
    assert refreshed == last.partition_keys
    assert days_to_refresh([last], set(first.partition_keys), 37) == []
