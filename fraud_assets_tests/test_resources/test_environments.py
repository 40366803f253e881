"""FRAUD_ENV selects the resource set; credentials stay out of what the UI and links show."""

import pytest
from dagster import EnvVar

from fraud_assets.definitions import build_definitions
from fraud_assets.metadata import markdown_cell, markdown_table, without_credentials
from fraud_assets.resources.environments import RESOURCES_BY_ENVIRONMENT
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.s3 import S3Config
from fraud_assets.resources.spark import default_spark_config
from fraud_assets.settings import PROD_REQUIRED, Settings, StackSettings

SECRET = "wJalrXUtnFEMI-not-a-real-key"


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in (*PROD_REQUIRED, "FRAUD_S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_every_mode_has_its_resource_set():
    assert set(RESOURCES_BY_ENVIRONMENT) == {"local", "services", "prod"}


def test_services_mode_points_at_the_stack(clean_environment, tmp_path):
    clean_environment.setenv("FRAUD_ENV", "services")
    clean_environment.setenv("FRAUD_STACK_SEAWEEDFS_BASE_PORT", "21000")
    settings = Settings.from_env()
    assert settings.s3.endpoint_url == "http://127.0.0.1:21033"
    assert settings.spark_master == "spark://127.0.0.1:17077"
    assert settings.mlflow.tracking_uri == "http://127.0.0.1:15000"
    assert settings.stack.run_dir == tmp_path / "stack"


def test_prod_mode_names_every_setting_it_is_missing(clean_environment):
    clean_environment.setenv("FRAUD_ENV", "prod")
    clean_environment.setenv("FRAUD_S3_BUCKET", "fraud-prod")
    with pytest.raises(ValueError, match="FRAUD_SPARK_MASTER, FRAUD_MLFLOW_TRACKING_URI"):
        Settings.from_env()


def test_an_unknown_mode_is_refused_with_the_known_ones(clean_environment):
    clean_environment.setenv("FRAUD_ENV", "s3")
    with pytest.raises(ValueError, match="local, services, prod"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FRAUD_STACK_POSTGRES_PORT", "80", "not a port"),
        ("FRAUD_STACK_MLFLOW_PORT", "13000", "both ask for port 13000"),
        ("FRAUD_STACK_DAGSTER_PORT", "18310", "lies in SeaweedFS's ports"),
        ("FRAUD_STACK_SPARK_MASTER_PORT", "seven", "not an integer"),
    ],
)
def test_stack_ports_are_validated(clean_environment, tmp_path, variable, value, message):
    clean_environment.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        StackSettings.from_env(tmp_path)


def test_prod_credentials_reach_resources_as_env_vars(clean_environment, tmp_path):
    clean_environment.setenv("FRAUD_ENV", "prod")
    clean_environment.setenv("FRAUD_S3_BUCKET", "fraud-prod")
    clean_environment.setenv("FRAUD_SPARK_MASTER", "spark://10.0.0.5:7077")
    database = f"postgresql+psycopg2://mlflow:{SECRET}@db.internal:5432/mlflow"
    clean_environment.setenv("FRAUD_MLFLOW_TRACKING_URI", database)
    clean_environment.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    clean_environment.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    clean_environment.setenv("AWS_SESSION_TOKEN", SECRET + "-token")
    settings = Settings.from_env()
    resources = build_definitions(settings).resources

    connection = resources["landing"].s3
    assert connection.aws_secret_access_key == EnvVar("AWS_SECRET_ACCESS_KEY")
    assert connection.aws_session_token == EnvVar("AWS_SESSION_TOKEN")
    assert connection.client()._request_signer._credentials.secret_key == SECRET

    tracking = resources["mlflow_tracking"]
    assert tracking.tracking_uri == EnvVar("FRAUD_MLFLOW_TRACKING_URI")
    assert tracking.tracking == database
    assert SECRET not in tracking.ui_url

    # What the UI shows of a resource is its configuration: names of variables, no values.
    for resource in resources.values():
        shown = repr(resource.model_dump()) if hasattr(resource, "model_dump") else ""
        assert SECRET not in shown, resource


def test_the_plain_connection_works_outside_dagster(clean_environment):
    clean_environment.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    clean_environment.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    settings = Settings.from_env()
    assert S3Config.from_environment(settings.s3).filesystem() is not None
    client = S3Config.from_environment(settings.s3).client()
    assert client._request_signer._credentials.access_key == "AKIAEXAMPLE"


def test_links_never_carry_credentials():
    assert (
        without_credentials("postgresql://mlflow:pw@db:5432/mlflow")
        == "postgresql://mlflow:***@db:5432/mlflow"
    )
    assert without_credentials("https://token@mlflow.example.com/") == (
        "https://***@mlflow.example.com/"
    )
    assert without_credentials("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    resource = MlflowResource(
        tracking_uri="sqlite:///x.db", registry_uri="sqlite:///x.db", ui_url="http://127.0.0.1:5000"
    )
    assert (
        resource.model_version_url(3) == "http://127.0.0.1:5000/#/models/fraud_detector/versions/3"
    )


def test_raw_text_is_inert_in_markdown_metadata():
    hostile = '<img src=x onerror="alert(1)">|[click](http://evil)\x00\r\n`code`'
    cell = markdown_cell(hostile)
    assert "<" not in cell and ">" not in cell
    assert "\x00" not in cell and "\n" not in cell and "\r" not in cell
    assert "\\|" in cell and "\\[click\\]" in cell and "\\`code\\`" in cell
    table = markdown_table([{"line": hostile}, {"line": "x" * 10_000}])
    assert table.count("\n") == 3, "a row never breaks the table"
    assert len(table) < 1_000 and "10,000 characters" in table


def test_the_spark_ui_is_off_and_the_driver_on_loopback_by_default(clean_environment):
    config = default_spark_config(Settings.from_env())
    assert config["spark.ui.enabled"] == "false"
    assert config["spark.driver.bindAddress"] == "127.0.0.1"
    clean_environment.setenv("FRAUD_SPARK_UI", "true")
    clean_environment.setenv("FRAUD_SPARK_MASTER", "spark://spark-master.internal:7077")
    config = default_spark_config(Settings.from_env())
    assert config["spark.ui.enabled"] == "true"
    assert "spark.driver.bindAddress" not in config, "a remote cluster must reach the driver"
