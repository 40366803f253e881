"""Services mode end to end: two files dropped into the SeaweedFS landing prefix are ingested
by the running daemon's sensor on the Spark standalone cluster, features follow, a model is
trained, tracked in MLflow on PostgreSQL with its artifacts in S3, and made champion; no
configured secret shows up in run logs, metadata, MLflow params or the UI's resource config."""

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import psycopg2
import pytest
from dagster import AssetKey, DagsterRunStatus

from fraud_assets.model.registry import CHAMPION as CHAMPION_ALIAS
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.stack.core import MLFLOW_BUCKET
from fraud_assets_tests.test_services.conftest import (
    DAYS,
    FIRST_DAY,
    RunningStack,
    fraud_stack,
    graphql_reply,
    runs_of,
    stack_instance,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_the_stack_listens_on_loopback_only(running_stack):
    import psutil

    stack_pids = set()
    for name in ("seaweedfs", "mlflow", "spark-master", "spark-worker", "dagster-webserver"):
        pid = running_stack.stack.pid(name)
        assert pid is not None, name
        stack_pids |= {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    listening = [
        c
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in stack_pids
    ]
    assert listening
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
    status = fraud_stack("status", running_stack.env, 60)
    assert status.count("running") == 7, status


def test_a_second_start_changes_nothing(running_stack):
    before = {name: running_stack.stack.pid(name) for name in running_stack.stack.status()}
    output = fraud_stack("start", running_stack.env, 120)
    assert output.count("already running") == len(before)
    assert {name: running_stack.stack.pid(name) for name in before} == before


def test_the_database_keeps_dagster_times_in_utc_whatever_the_host_zone(running_stack):
    with _database(running_stack, "dagster") as cursor:
        cursor.execute("SELECT LOCALTIMESTAMP")
        (server_now,) = cursor.fetchone()
    utc_now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(server_now - utc_now) < timedelta(minutes=1), (server_now, utc_now)


def test_files_landed_in_s3_become_partitions_a_model_and_a_champion(pipeline_outcome):
    env = pipeline_outcome.pipeline_env
    days = {(FIRST_DAY + timedelta(days=n)).isoformat() for n in range(DAYS)}
    with stack_instance(pipeline_outcome) as instance:
        ingestions = runs_of(instance, "process_landed_file")
        seen = [
            (run.run_id, run.status.value, run.tags.get("dagster/run_key")) for run in ingestions
        ]
        assert len(ingestions) == 2, seen
        assert {run.tags.get("dagster/sensor_name") for run in ingestions} == {"raw_files_sensor"}
        assert all(run.status == DagsterRunStatus.SUCCESS for run in ingestions)
        trainings = runs_of(instance, "train_model")
        assert any(run.status == DagsterRunStatus.SUCCESS for run in trainings)
        for asset in ("raw_transactions", "cleaned_transactions", "transaction_features"):
            assert instance.get_materialized_partitions(AssetKey(asset)) == days, asset

    # Every run's Spark work ran as an application of the standalone cluster.
    ports = pipeline_outcome.stack.ports
    with urllib.request.urlopen(f"http://127.0.0.1:{ports.spark_master_ui_port}/json/") as reply:
        master = json.load(reply)
    applications = master["completedapps"] + master["activeapps"]
    assert len(applications) >= len(ingestions) + 1
    assert {app["name"] for app in applications} == {"fraud_assets"}

    # MLflow keeps its runs and registry in PostgreSQL, its artifacts in S3.
    with _database(pipeline_outcome, "mlflow") as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'")
        assert cursor.fetchone()[0] >= 1
        cursor.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = %s",
            (REGISTERED_MODEL,),
        )
        aliases = dict(cursor.fetchall())
    assert CHAMPION_ALIAS in aliases
    s3 = boto3.client(
        "s3",
        endpoint_url=env["FRAUD_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    artifacts = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=MLFLOW_BUCKET)
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith("/MLmodel") for key in artifacts)
    assert any(key.endswith("serving/model.json") for key in artifacts)
    warehouse = s3.list_objects_v2(Bucket=env["FRAUD_S3_BUCKET"], Prefix="warehouse/")
    assert warehouse["KeyCount"] > 0


@contextlib.contextmanager
def _database(running: RunningStack, name: str) -> Iterator:
    ports = running.stack.ports
    connection = psycopg2.connect(
        host="127.0.0.1",
        port=ports.postgres_port,
        user="fraud",
        password=running.stack.credentials.database_password,
        dbname=name,
    )
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def _texts_in(running: RunningStack, database: str, queries: list[str]) -> str:
    with _database(running, database) as cursor:
        found = []
        for query in queries:
            cursor.execute(query)
            found += [str(row) for row in cursor.fetchall()]
    return "\n".join(found)


RESOURCES_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
  ... on RepositoryLocation { repositories { allTopLevelResourceDetails {
    name configuredValues { key value type } } } } } } } } }
"""


def test_no_secret_appears_in_logs_metadata_params_or_the_ui(pipeline_outcome):
    credentials = pipeline_outcome.stack.credentials
    secrets = {credentials.secret_key, credentials.database_password}
    dagster_text = _texts_in(
        pipeline_outcome,
        "dagster",
        [
            "SELECT event FROM event_logs",
            "SELECT run_body FROM runs",
            "SELECT key, value FROM run_tags",
        ],
    )
    mlflow_text = _texts_in(
        pipeline_outcome,
        "mlflow",
        [
            "SELECT key, value FROM params",
            "SELECT key, value FROM tags",
            "SELECT name, description, source FROM model_versions",
            "SELECT key, value FROM model_version_tags",
        ],
    )
    assert "materialization" in dagster_text.lower() and "learning_rate" not in secrets
    assert mlflow_text, "MLflow holds params and tags to scan"
    ui_resources = graphql_reply(pipeline_outcome, RESOURCES_QUERY)
    (entry,) = json.loads(ui_resources)["data"]["workspaceOrError"]["locationEntries"]
    (repository,) = entry["locationOrLoadError"]["repositories"]
    shown = {
        (resource["name"], value["key"]): (value["type"], value["value"].strip('"'))
        for resource in repository["allTopLevelResourceDetails"]
        for value in resource["configuredValues"]
    }
    assert shown[("s3", "aws_secret_access_key")] == ("ENV_VAR", "AWS_SECRET_ACCESS_KEY")
    files = "\n".join(
        path.read_text(errors="replace")
        for folder in (pipeline_outcome.stack.dagster_home, pipeline_outcome.stack.logs)
        for path in folder.rglob("*")
        if path.is_file()
    )
    for secret in secrets:
        for where, text in [
            ("Dagster events, runs and tags", dagster_text),
            ("MLflow params, tags and model versions", mlflow_text),
            ("the UI's resource configuration", ui_resources),
            ("compute logs and service logs", files),
        ]:
            assert secret not in text, f"a configured secret appears in {where}"
