"""The README's main command, end to end on a small generated data set."""

import json

import pytest
from dagster import DagsterInstance

from fraud_assets import cli
from fraud_assets.cli import days_to_refresh
from fraud_assets.definitions import build_definitions
from fraud_assets.model.registry import champion_version
from fraud_assets.partitions import file_period
from fraud_assets.settings import Settings
from fraud_assets_tests.conftest import TEST_SPARK_CONFIG

FILES = ("2019-08-22.txt", "2019-09-21.txt", "2019-10-21.txt")


@pytest.mark.slow
def test_pipeline_run_generates_ingests_trains_scores_and_is_idempotent(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    monkeypatch.setenv("FRAUD_SPARK_CONF", json.dumps(TEST_SPARK_CONFIG))
    # A small, quick model: this data set is too small for the default quality floor.
    for name, value in {
        "FRAUD_MODEL_FAMILIES": "logistic_regression",
        "FRAUD_BOOTSTRAP_RESAMPLES": "100",
        "FRAUD_FLOOR_ROC_AUC": "0.5",
        "FRAUD_FLOOR_AVERAGE_PRECISION": "0",
    }.items():
        monkeypatch.setenv(name, value)
    arguments = ["run", "--files", "3", "--customers", "200", "--terminals", "300"]
    arguments += ["--max-evals", "1"]

    assert cli.main(arguments) == 0
    output = capsys.readouterr().out
    assert "3 file(s) processed, 0 run(s) failed" in output
    assert output.count("checks passed 12/12") == 3
    # The third file's days end the test block of the first model partition; the second's
    # would need tuning folds inside the first 37 days.
    assert "model partition 2019-11-05" in output and "model partition 2019-10-06" not in output
    assert output.count("checks passed 2/2") == 1
    # The champion scores the days after its cut-off; a week of them has known labels.
    assert "scoring 2019-11-06..2019-11-19 with version 1" in output
    assert "measuring 2019-11-06..2019-11-12" in output
    assert "14 days scored, 7 measured" in output

    settings = Settings.from_env()
    assert sorted(p.name for p in settings.landing_dir.iterdir()) == list(FILES)
    ledger = build_definitions(settings).resources["ledger"]
    assert [r.key for r in ledger.records()] == list(FILES)

    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 6
    tracking = build_definitions(settings).resources["mlflow_tracking"]
    assert champion_version(tracking.client()) is not None

    assert cli.main(arguments) == 0
    again = capsys.readouterr().out
    assert "0 file(s) processed" in again and "model partition" not in again
    assert "scoring" not in again and "measuring" not in again


def test_a_late_file_refreshes_the_feature_days_that_read_its_days():
    first, late, last = (file_period(name, 30) for name in FILES)
    before = set(first.partition_keys) | set(last.partition_keys)
    refreshed = days_to_refresh([late], before, 37)
    assert refreshed == last.partition_keys
    assert days_to_refresh([last], set(first.partition_keys), 37) == []


def test_the_instance_runs_one_run_of_a_pool_at_a_time(tmp_path, monkeypatch):
    """What the run queue decides on the instance `fraud-pipeline` writes: a second run that
    writes days waits while one runs, a model run does not."""
    from dagster import DagsterEvent, DagsterEventType, DagsterRunStatus, RunsFilter
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env()
    home = cli.dagster_home(settings)
    assert "granularity: run" in (home / "dagster.yaml").read_text()
    defs = build_definitions(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config().pool_config
        assert config.pool_granularity == PoolGranularity.RUN
        storage = instance.event_log_storage
        assert storage.get_concurrency_info("fraud_days").slot_count == 1
        ingest = defs.resolve_job_def("process_landed_file")
        running, waiting = (instance.create_run_for_job(ingest) for _ in range(2))
        trainer = instance.create_run_for_job(defs.resolve_job_def("train_model"))
        start = DagsterEvent(DagsterEventType.RUN_START.value, job_name=ingest.name)
        instance.report_dagster_event(start, run_id=running.run_id)
        in_progress = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        assert [r.dagster_run.run_id for r in in_progress] == [running.run_id]
        counter = GlobalOpConcurrencyLimitsCounter(
            instance,
            [waiting, trainer],
            in_progress,
            concurrency_keys=storage.get_concurrency_keys(),
            pool_limits=storage.get_pool_limits(),
            pool_granularity=config.pool_granularity,
        )
        assert counter.is_blocked(waiting)
        assert not counter.is_blocked(trainer)


def test_the_instance_config_replaces_earlier_defaults_and_keeps_the_users(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    config = tmp_path / "home" / "dagster.yaml"
    config.parent.mkdir()
    config.write_text(cli._EARLIER_DAGSTER_YAML)
    cli.dagster_home(Settings.from_env())
    assert "granularity: run" in config.read_text()
    own = "telemetry:\n  enabled: true\n"
    config.write_text(own)
    cli.dagster_home(Settings.from_env())
    assert config.read_text() == own
