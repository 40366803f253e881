"""`kill -9` of a run while it writes cleaned data (`fraud-pipeline run`), features (`dagster
asset materialize`) or a model leaves readers the previous complete data, and a re-run gives
content-identical output.

The data tests run against local disk and against a real SeaweedFS bucket; the kill lands
when a new version of the asset appears in storage (Spark or the upload is writing it). Only the
killed runs need a process of their own: the runs before and after them go through the same
command in the test's process, on the session's Spark.
"""

import hashlib
import json
import os
import posixpath
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pyarrow import fs as pafs

from fraud_assets import cli
from fraud_assets.model.registry import CHAMPION
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.resources.s3 import S3Config
from fraud_assets.resources.storage import ObjectStore, published_days, read_published
from fraud_assets.settings import S3Settings
from fraud_assets_tests.conftest import TEST_SPARK_CONFIG
from fraud_assets_tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY
from fraud_assets_tests.small_world import SMALL_MODEL_SETTINGS

pytestmark = [pytest.mark.slow]

DATA_ASSETS = ("cleaned_transactions", "quarantined_transactions", "transaction_features")
# FRAUD_LONG_FAULTS=1: the same kills on files of a realistic demo size (BENCHMARKS.md).
LONG = os.environ.get("FRAUD_LONG_FAULTS") == "1"
ONE_FILE = ["--customers", "5000" if LONG else "150", "--terminals", "2500" if LONG else "80"]
ONE_FILE += ["--files", "1", "--seed", "3"]
TWO_FILES = ["--customers", "5000" if LONG else "600", "--terminals", "2500" if LONG else "300"]
TWO_FILES += ["--files", "2", "--seed", "3"]
RUN_TIMEOUT_SECONDS = 900


@dataclass
class PipelineRun:
    """`fraud-pipeline run` in a process of its own, its output in a file (a pipe nobody reads
    would stop it once full, and reading it line by line falls behind the run)."""

    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _start(env: dict[str, str], program: str, *arguments: str) -> PipelineRun:
    command = [str(Path(sys.executable).parent / program), *arguments]
    log = Path(env["FRAUD_DATA_DIR"]).parent / f"run-{time.monotonic_ns()}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=output, stderr=subprocess.STDOUT
        )
    return PipelineRun(process, log)


def _pipeline(env: dict[str, str], *arguments: str) -> PipelineRun:
    return _start(env, "fraud-pipeline", "run", *arguments)


def _materialize(env: dict[str, str], asset: str, days: list[str]) -> PipelineRun:
    """The days of one asset from Dagster's command line, as a user recomputes them."""
    selection = ["--select", asset, "--partition-range", f"{days[0]}...{days[-1]}"]
    return _start(
        env, "dagster", "asset", "materialize", "-m", "fraud_assets.definitions", *selection
    )


def _pipeline_here(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *arguments: str) -> None:
    """The same run in this process, with the environment a `_pipeline` process gets."""
    with monkeypatch.context() as scoped:
        for name, value in env.items():
            scoped.setenv(name, value)
        assert cli.main(["run", *arguments]) == 0


def _kill_when(run: PipelineRun, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not ready():
        if run.process.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{run.output()[-4000:]}")
        assert time.monotonic() < deadline, f"no {what} within {RUN_TIMEOUT_SECONDS} s"
        time.sleep(0.05)
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(timeout=60)
    assert run.process.returncode == -signal.SIGKILL


def _versions(store: ObjectStore, asset: str) -> set[str]:
    selector = pafs.FileSelector(store.path(asset, "versions"), allow_not_found=True)
    return {info.base_name for info in store.filesystem.get_file_info(selector)}


def _new_version_appears(store: ObjectStore, asset: str) -> Callable[[], bool]:
    before = _versions(store, asset)
    return lambda: bool(_versions(store, asset) - before)


def published_content(store: ObjectStore) -> dict[str, str]:
    """One digest per asset and day, over the rows in a fixed order: equal digests mean equal
    content, whatever files and versions hold it."""
    digests = {}
    for asset in DATA_ASSETS:
        for day in published_days(store, asset):
            table = read_published(store, asset, [day], columns=None)
            frame = table.to_pandas()
            frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
            text = frame.to_csv(index=False).encode()
            digests[posixpath.join(asset, day)] = hashlib.sha256(text).hexdigest()
    return digests


def _local(tmp_path: Path) -> tuple[dict[str, str], ObjectStore]:
    data = tmp_path / "data"
    # A tiny world with the demo's defect rates: some days quarantine more than 1%.
    env = {
        "FRAUD_ENV": "local",
        "FRAUD_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "FRAUD_MAX_QUARANTINE_SHARE": "0.5",
        "FRAUD_SPARK_CONF": json.dumps(TEST_SPARK_CONFIG),
    }
    return env, ObjectStore(filesystem=pafs.LocalFileSystem(), root=str(data / "warehouse"))


def _seaweedfs(tmp_path: Path, endpoint: str) -> tuple[dict[str, str], ObjectStore]:
    env, _ = _local(tmp_path)
    prefix = f"kill-{tmp_path.name}/"
    env |= {
        "FRAUD_ENV": "services",
        "FRAUD_S3_ENDPOINT_URL": endpoint,
        "FRAUD_S3_BUCKET": BUCKET,
        "FRAUD_S3_LANDING_PREFIX": f"{prefix}landing/",
        "FRAUD_S3_STORAGE_PREFIX": f"{prefix}warehouse/",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "FRAUD_SPARK_MASTER": "local[2]",
        "FRAUD_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/data/mlflow/mlflow.db",
    }
    connection = S3Config.from_settings(
        S3Settings(
            endpoint_url=endpoint,
            bucket=BUCKET,
            landing_prefix="",
            storage_prefix="",
            region="us-east-1",
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            use_s3a=False,
            cache_dir=tmp_path,
        )
    )
    return env, ObjectStore(filesystem=connection.filesystem(), root=f"{BUCKET}/{prefix}warehouse")


def _kill_writes_then_rerun(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], store: ObjectStore
) -> None:
    _pipeline_here(monkeypatch, env, *ONE_FILE, "--skip-models")
    published = published_content(store)
    assert {key.split("/")[0] for key in published} == set(DATA_ASSETS)

    # Cleaned days are rewritten by a forced run of the file; feature days by themselves.
    features = "transaction_features"
    days = sorted(key.split("/")[1] for key in published if key.startswith(f"{features}/"))
    killed = {
        "cleaned_transactions": lambda: _pipeline(env, *ONE_FILE, "--skip-models", "--force"),
        features: lambda: _materialize(env, features, days),
    }
    for asset, start in killed.items():
        run = start()
        _kill_when(run, _new_version_appears(store, asset), f"a new version of {asset}")
        assert published_content(store) == published, f"killed while writing {asset}"

    _pipeline_here(monkeypatch, env, *ONE_FILE, "--skip-models", "--force")
    assert published_content(store) == published, "the re-run's content differs"


def test_kill_9_while_writing_local_data_keeps_the_published_days(tmp_path, monkeypatch):
    _kill_writes_then_rerun(monkeypatch, *_local(tmp_path))


@pytest.mark.s3
def test_kill_9_while_writing_to_seaweedfs_keeps_the_published_days(
    tmp_path, monkeypatch, seaweedfs
):
    _kill_writes_then_rerun(monkeypatch, *_seaweedfs(tmp_path, seaweedfs))


TRIAL_LINE = re.compile(r"trial 1/1 .*mean validation average_precision (\d\.\d+)")


def test_kill_9_while_training_registers_nothing_and_the_rerun_scores_the_same(
    tmp_path, monkeypatch, capfd
):
    env, store = _local(tmp_path)
    env |= SMALL_MODEL_SETTINGS
    # The registry named too: an earlier test's resource may have set mlflow's global one.
    mlflow_store = f"sqlite:///{tmp_path}/data/mlflow/mlflow.db"
    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)

    # The killed run ingests both files first, then trains: the kill lands in its first trial.
    run = _pipeline(env, *TWO_FILES, "--max-evals", "1")
    _kill_when(run, lambda: bool(TRIAL_LINE.search(run.output())), "the first tuning trial")
    killed_score = TRIAL_LINE.search(run.output()).group(1)
    assert not client.search_registered_models(), "a killed run registered a model"
    assert not store.filesystem.get_file_info(store.path("fraud_model", "records")).is_file

    capfd.readouterr()
    _pipeline_here(monkeypatch, env, *TWO_FILES, "--max-evals", "1")
    output = "".join(capfd.readouterr())
    assert TRIAL_LINE.search(output).group(1) == killed_score
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert int(champion.version) == 1
