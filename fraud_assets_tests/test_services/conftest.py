"""The services-mode stack, started once for the session by `fraud-stack start` itself, on free
loopback ports in a run folder of its own, and stopped at the end with nothing left behind."""

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from unittest.mock import patch

import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from mlflow import MlflowClient

from fraud_assets.model.registry import CHAMPION
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.settings import Settings
from fraud_assets.stack.core import Stack
from fraud_assets_tests.conftest import TEST_SPARK_CONFIG
from fraud_assets_tests.small_world import SMALL_MODEL_SETTINGS

PIPELINE_SETTINGS = {
    **SMALL_MODEL_SETTINGS,
    "FRAUD_SENSOR_INTERVAL_SECONDS": "5",
    "FRAUD_TUNING_MAX_EVALS": "1",
    "FRAUD_SPARK_DRIVER_MEMORY": "1g",
    # The cluster's own master, with the test files' splits and shuffle partitions.
    "FRAUD_SPARK_CONF": json.dumps(
        {key: value for key, value in TEST_SPARK_CONFIG.items() if key.startswith("spark.sql.")}
    ),
    "FRAUD_STACK_SPARK_WORKER_MEMORY": "2g",
}
STACK_TIMEOUT_SECONDS = 900
PIPELINE_TIMEOUT_SECONDS = 1_500
FIRST_DAY, DAYS = date(2019, 8, 22), 60
LANDING_PREFIX = "landing/"
GENERATED = ["--customers", "1000", "--terminals", "500", "--files", "2", "--seed", "7", "--quiet"]
# Scoring and monitoring after the champion are tested in process (test_scoring/); here they
# would keep the cluster busy while the browser tests run, and stop would find runs in flight.
AFTER_THE_CHAMPION = ("score_new_days", "measure_labelled_days", "retrain_on_degradation")
SENSOR_QUERY = """
query ($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { id } } }
"""
STOP_SENSOR = """
mutation ($id: String!) { stopSensor(id: $id) {
  __typename ... on StopSensorMutationResult { instigationState { status } } } }
"""


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_ports_start() -> int:
    """Where the kernel's ports for outgoing connections begin: a service's port below it is
    never taken by a client, nor reached by a probe connecting to itself."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    return int(ranges.read_text().split()[0]) if ranges.exists() else 49_152


def free_stack_ports() -> dict[str, str]:
    """A SeaweedFS base with its 41 ports free, and six other free ports outside them, all
    below the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, _ephemeral_ports_start() - 120)
        if not all(_port_free(base + offset) for offset in range(41)):
            continue
        others = [port for port in range(base + 41, base + 120) if _port_free(port)][:6]
        names = (
            "POSTGRES",
            "MLFLOW",
            "SPARK_MASTER",
            "SPARK_MASTER_UI",
            "SPARK_WORKER_UI",
            "DAGSTER",
        )
        ports = {
            f"FRAUD_STACK_{name}_PORT": str(port) for name, port in zip(names, others, strict=True)
        }
        return {"FRAUD_STACK_SEAWEEDFS_BASE_PORT": str(base), **ports}
    raise RuntimeError("no free block of ports on loopback")


def fraud_stack(command: str, env: dict[str, str], timeout: float) -> str:
    cli = str(Path(sys.executable).parent / "fraud-stack")
    result = subprocess.run(
        [cli, command], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if command == "status":
        return result.stdout
    if result.returncode != 0:
        raise AssertionError(f"fraud-stack {command} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class RunningStack:
    env: dict[str, str]
    stack: Stack
    start_output: str

    @property
    def pipeline_env(self) -> dict[str, str]:
        return {**self.env, **self.stack.pipeline_environment()}

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.stack.logs.glob("*.log"))
        )


def _processes_under(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(process.info["cmdline"] or [])
            text += " ".join((process.info["environ"] or {}).values())
        except (psutil.Error, TypeError):
            continue
        if str(folder) in text and process.pid != os.getpid():
            found.append(process)
    return found


@pytest.fixture(scope="session")
def running_stack() -> Iterator[RunningStack]:
    # Under /tmp, whose parents every user may enter: PostgreSQL runs as `postgres` under root.
    run_root = Path(tempfile.mkdtemp(prefix="fraud-stack-", dir="/tmp"))
    run_root.chmod(0o755)
    env = {
        **os.environ,
        **PIPELINE_SETTINGS,
        **free_stack_ports(),
        "FRAUD_DATA_DIR": str(run_root / "data"),
        "FRAUD_STACK_DIR": str(run_root / "stack"),
    }
    for name in ("FRAUD_ENV", "DAGSTER_HOME", "FRAUD_MLFLOW_TRACKING_URI", "FRAUD_SPARK_MASTER"):
        env.pop(name, None)
    began = time.monotonic()
    try:
        output = fraud_stack("start", env, STACK_TIMEOUT_SECONDS)
    except AssertionError:
        fraud_stack("stop", env, STACK_TIMEOUT_SECONDS)
        raise
    with patch.dict(os.environ, env, clear=True):
        stack = Stack(Settings.from_env())
    print(f"stack up in {time.monotonic() - began:.0f} s")
    yield RunningStack(env=env, stack=stack, start_output=output)
    fraud_stack("stop", env, STACK_TIMEOUT_SECONDS)
    deadline = time.monotonic() + 30
    while _processes_under(run_root) and time.monotonic() < deadline:
        time.sleep(1)
    left = _processes_under(run_root)
    assert not left, f"processes left after stop: {[p.cmdline() for p in left]}"


@contextlib.contextmanager
def stack_instance(running: RunningStack) -> Iterator[DagsterInstance]:
    with (
        patch.dict(os.environ, running.pipeline_env),
        DagsterInstance.from_config(str(running.stack.dagster_home)) as instance,
    ):
        yield instance


def runs_of(instance: DagsterInstance, job: str | None = None) -> list:
    return instance.get_runs(RunsFilter(job_name=job) if job else None)


def graphql_reply(running: RunningStack, query: str, variables: dict | None = None) -> str:
    """The text the stack's Dagster webserver answers to one GraphQL request."""
    request = urllib.request.Request(
        f"{running.stack.ports.dagster_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as reply:
        return reply.read().decode()


def graphql(running: RunningStack, query: str, variables: dict | None = None) -> dict:
    """The data of that answer; a request the webserver refuses fails here."""
    answer = json.loads(graphql_reply(running, query, variables))
    assert "errors" not in answer, answer
    return answer["data"]


def stop_sensors(running: RunningStack, names: tuple[str, ...]) -> None:
    for name in names:
        selector = {
            "repositoryLocationName": "fraud_assets",
            "repositoryName": "__repository__",
            "sensorName": name,
        }
        # The webserver may answer before its code location has loaded.
        deadline = time.monotonic() + 120
        while True:
            sensor = graphql(running, SENSOR_QUERY, {"selector": selector})["sensorOrError"]
            if sensor["__typename"] == "Sensor" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert sensor["__typename"] == "Sensor", sensor
        stopped = graphql(running, STOP_SENSOR, {"id": sensor["id"]})["stopSensor"]
        assert (stopped.get("instigationState") or {}).get("status") == "STOPPED", stopped


def _champion_version(client: MlflowClient):
    try:
        return client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    except Exception:
        return None


@pytest.fixture(scope="session")
def pipeline_outcome(running_stack: RunningStack) -> RunningStack:
    """Stops the sensors that act after the champion, lands two generated files in S3, then
    waits for the daemon to make a champion and for every run it started to end."""
    stop_sensors(running_stack, AFTER_THE_CHAMPION)
    env = running_stack.pipeline_env
    bucket = env["FRAUD_S3_BUCKET"]
    datagen = str(Path(sys.executable).parent / "fraud-datagen")
    subprocess.run(
        [datagen, "--out", f"s3://{bucket}/{LANDING_PREFIX}", *GENERATED],
        env=env,
        check=True,
        capture_output=True,
    )
    # The registry named too: an earlier test's resource may have set mlflow's global one.
    tracking = env["FRAUD_MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    deadline = time.monotonic() + PIPELINE_TIMEOUT_SECONDS
    while True:
        with stack_instance(running_stack) as instance:
            runs = runs_of(instance)
        failed = [run for run in runs if run.status == DagsterRunStatus.FAILURE]
        if failed:
            run = failed[0]
            pytest.fail(f"run {run.job_name} {run.run_id} failed\n{running_stack.logs()}")
        settled = runs and all(run.is_finished for run in runs)
        if settled and _champion_version(client) is not None:
            return running_stack
        if time.monotonic() > deadline:
            pytest.fail(f"no champion after {PIPELINE_TIMEOUT_SECONDS} s\n{running_stack.logs()}")
        time.sleep(5)
