"""The README's main command, end to end on a small generated data set."""

import pytest
from dagster import DagsterInstance

from fraud_assets import cli
from fraud_assets.definitions import build_definitions
from fraud_assets.settings import Settings

pytestmark = pytest.mark.slow


def test_pipeline_run_generates_ingests_and_is_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    arguments = ["run", "--files", "2", "--customers", "120", "--terminals", "60"]

    assert cli.main(arguments) == 0
    output = capsys.readouterr().out
    assert "2 file(s) ingested, 0 failed" in output
    assert output.count("checks passed 4/4") == 2

    settings = Settings.from_env()
    assert sorted(p.name for p in settings.landing_dir.iterdir()) == [
        "2019-08-22.txt",
        "2019-09-21.txt",
    ]
    ledger = build_definitions(settings).resources["ledger"]
    assert [r.key for r in ledger.records()] == ["2019-08-22.txt", "2019-09-21.txt"]

    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 2

    assert cli.main(arguments) == 0
    assert "0 file(s) ingested" in capsys.readouterr().out
