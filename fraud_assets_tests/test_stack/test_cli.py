"""`fraud-stack` without starting anything: the exports a shell evaluates, the status of a stack
that is not running, and a refused setting."""

import subprocess

import pytest

from fraud_assets.stack import cli


@pytest.fixture
def stack_dir(tmp_path, monkeypatch):
    for name in ("FRAUD_ENV", "DAGSTER_HOME", "FRAUD_MLFLOW_TRACKING_URI", "FRAUD_SPARK_MASTER"):
        monkeypatch.delenv(name, raising=False)
    # A quote in the path: the exports must survive a shell's eval unchanged.
    folder = tmp_path / "it's here"
    monkeypatch.setenv("FRAUD_STACK_DIR", str(folder))
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FRAUD_STACK_POSTGRES_PORT", "25432")
    return folder


def test_env_prints_exports_a_shell_evaluates_to_the_stack(stack_dir, capsys):
    assert cli.main(["env"]) == 0
    exports = capsys.readouterr().out
    shell = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$1"; printf "%s\\n" "$FRAUD_ENV" "$FRAUD_STACK_DIR" "$DAGSTER_HOME"',
            "-",
            exports,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines() == [
        "services",
        str(stack_dir),
        str(stack_dir / "dagster_home"),
    ]
    assert "export FRAUD_STACK_POSTGRES_PORT='25432'" in exports
    assert ":25432/dagster" in exports


def test_status_of_a_stack_not_started_lists_every_service_stopped(stack_dir, capsys):
    assert cli.main(["status"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.split()[1] == "stopped" for line in lines)
    assert any(line.startswith("postgres") and "25432" in line for line in lines)


def test_two_services_on_one_port_are_refused_by_name(stack_dir, monkeypatch, capsys):
    monkeypatch.setenv("FRAUD_STACK_MLFLOW_PORT", "25432")
    assert cli.main(["status"]) == 1
    error = capsys.readouterr().err
    assert "fraud-stack:" in error and "FRAUD_STACK_MLFLOW_PORT" in error and "25432" in error
