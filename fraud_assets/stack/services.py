"""How each service of the stack starts (and PostgreSQL stops): commands, readiness, set-up.

Secrets go to services through their environment, never on a command line (`ps` shows those).
"""

import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from fraud_assets.common.ports import port_answers
from fraud_assets.partitions import POOL_SETTINGS, set_pool_limits
from fraud_assets.settings import PROJECT_ROOT
from fraud_assets.stack.core import (
    DATABASE_USER,
    DATABASES,
    MLFLOW_BUCKET,
    Stack,
    StackError,
)

SEAWEEDFS_PORT_OFFSETS = {
    "master.port": 0,
    "volume.port": 1,
    "filer.port": 2,
    "webdav.port": 4,
    "admin.port": 5,
    "master.port.grpc": 10,
    "volume.port.grpc": 11,
    "filer.port.grpc": 12,
    "admin.port.grpc": 15,
    "s3.port": 33,
    "s3.port.grpc": 34,
    "s3.port.iceberg": 35,
    "s3.port.lance": 36,
}


def executable(name: str) -> str:
    """A tool installed with the project (beside this Python) or on PATH."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        raise StackError(f"`{name}` is not installed: run `uv sync` in {PROJECT_ROOT}")
    return found


def _http_ok(url: str) -> bool:
    # HTTPException: a server still starting, or a probe connected to itself, which reads
    # back its own request line as the reply.
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


# -- SeaweedFS --------------------------------------------------------------------------------


def start_seaweedfs(stack: Stack) -> None:
    data = stack.run_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    base = stack.ports.seaweedfs_base_port
    host = stack.ports.host
    command = [
        executable("weed"),
        "mini",
        f"-dir={data}",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-bucket={stack.bucket}",
        "-admin.ui=false",
        *[f"-{flag}={base + offset}" for flag, offset in SEAWEEDFS_PORT_OFFSETS.items()],
    ]
    stack.spawn("seaweedfs", command, env=stack.credentials.environment())
    client = _s3_client(stack)

    def bucket_ready() -> bool:
        try:
            client.head_bucket(Bucket=stack.bucket)
        except Exception:
            return False
        return True

    stack.wait_for("seaweedfs", bucket_ready)
    existing = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    for bucket in (stack.bucket, MLFLOW_BUCKET):
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def _s3_client(stack: Stack):
    import boto3
    from botocore.config import Config

    credentials = stack.credentials
    return boto3.client(
        "s3",
        endpoint_url=stack.ports.s3_endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """Debian's server (/usr/lib/postgresql/N/bin), or one on PATH (Homebrew, other Linux)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    on_path = shutil.which("initdb")
    found = candidates[-1] if candidates else on_path
    if found is None:
        raise StackError(
            "no PostgreSQL server found: install it (Debian/Ubuntu: `apt-get install "
            "postgresql`, macOS: `brew install postgresql@16`)"
        )
    return Path(found).parent


def _server_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise StackError("running as root needs `runuser` to start PostgreSQL as `postgres`")
    return [runuser, "-u", "postgres", "--"]


def _as_server_user(paths: list[Path]) -> None:
    if os.geteuid() != 0:
        return
    import pwd

    account = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def _postgres_paths(stack: Stack) -> tuple[Path, Path, Path]:
    return (
        stack.run_dir / "postgres",
        stack.run_dir / "postgres-socket",
        stack.logs / "postgres.log",
    )


def _check_reachable(stack: Stack, prefix: list[str]) -> None:
    if prefix and subprocess.run([*prefix, "test", "-x", str(stack.run_dir)]).returncode != 0:
        raise StackError(
            f"the `postgres` user cannot reach {stack.run_dir}; set FRAUD_STACK_DIR to a folder "
            "whose parents it may enter (e.g. under /tmp or /srv)"
        )


def start_postgres(stack: Stack) -> None:
    data, socket_dir, log = _postgres_paths(stack)
    bin_dir = postgres_bin()
    prefix = _server_user()
    _check_reachable(stack, prefix)
    stack.logs.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(exist_ok=True)
    log.touch()
    _as_server_user([socket_dir, log])
    password = stack.credentials.database_password
    if not (data / "PG_VERSION").exists():
        data.mkdir(mode=0o700, exist_ok=True)
        password_file = stack.run_dir / "postgres-password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        _as_server_user([data, password_file])
        try:
            _run(
                [
                    *prefix,
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    DATABASE_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                "initdb",
                log,
            )
        finally:
            password_file.unlink(missing_ok=True)
    # Dagster's run storage stamps rows with CURRENT_TIMESTAMP in columns without a zone and
    # reads them back as UTC; a server in the host's zone would make a just-created run look
    # hours old, and run monitoring would fail it as not started in time.
    options = (
        f"-c listen_addresses={stack.ports.host} -p {stack.ports.postgres_port} -k {socket_dir}"
        " -c timezone=UTC"
    )
    _run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ],
        "pg_ctl start",
        log,
    )
    stack.wait_for(
        "postgres", lambda: port_answers(stack.ports.postgres_port, stack.ports.host), False
    )
    with _database(stack, "postgres") as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        existing = {row[0] for row in cursor.fetchall()}
        for database in DATABASES:
            if database not in existing:
                cursor.execute(f'CREATE DATABASE "{database}"')


def stop_postgres(stack: Stack) -> None:
    data, _, log = _postgres_paths(stack)
    if not (data / "postmaster.pid").exists():
        return
    _run(
        [
            *_server_user(),
            str(postgres_bin() / "pg_ctl"),
            "-D",
            str(data),
            "-m",
            "fast",
            "-w",
            "stop",
        ],
        "pg_ctl stop",
        log,
    )


@contextlib.contextmanager
def _database(stack: Stack, name: str) -> Iterator:
    import psycopg2

    connection = psycopg2.connect(
        host=stack.ports.host,
        port=stack.ports.postgres_port,
        user=DATABASE_USER,
        password=stack.credentials.database_password,
        dbname=name,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def _run(command: list[str], what: str, log: Path) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{what} failed: {result.stderr.strip() or result.stdout.strip()}; {log}")


# -- MLflow -----------------------------------------------------------------------------------


def start_mlflow(stack: Stack) -> None:
    host, port = stack.ports.host, stack.ports.mlflow_port
    command = [executable("mlflow"), "server", "--host", host, "--port", str(port)]
    command += ["--workers", "1", "--serve-artifacts"]
    env = {
        **stack.credentials.environment(),
        "MLFLOW_BACKEND_STORE_URI": stack.database_uri("mlflow"),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{MLFLOW_BUCKET}/",
        "MLFLOW_S3_ENDPOINT_URL": stack.ports.s3_endpoint,
        # The job runner and its workers take ~1 GB and serve nothing the pipeline uses.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    stack.spawn("mlflow", command, env=env)
    stack.wait_for("mlflow", lambda: _http_ok(f"http://{host}:{port}/health"))


# -- Spark standalone -------------------------------------------------------------------------


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _spark_environment(stack: Stack) -> dict[str, str]:
    return {
        # The master's and worker's web UIs and RPC bind to this address only.
        "SPARK_LOCAL_IP": stack.ports.host,
        "SPARK_LOG_DIR": str(stack.logs),
        "SPARK_WORKER_DIR": str(stack.run_dir / "spark-work"),
        "PYSPARK_PYTHON": sys.executable,
    }


def start_spark_master(stack: Stack) -> None:
    ports = stack.ports
    command = [_spark_class(), "org.apache.spark.deploy.master.Master", "--host", ports.host]
    command += ["--port", str(ports.spark_master_port)]
    command += ["--webui-port", str(ports.spark_master_ui_port)]
    stack.spawn("spark-master", command, env=_spark_environment(stack))
    stack.wait_for("spark-master", lambda: port_answers(ports.spark_master_port, ports.host))


def start_spark_worker(stack: Stack) -> None:
    ports = stack.ports
    command = [_spark_class(), "org.apache.spark.deploy.worker.Worker", "--host", ports.host]
    command += ["--webui-port", str(ports.spark_worker_ui_port)]
    command += ["--cores", str(ports.spark_worker_cores)]
    command += ["--memory", ports.spark_worker_memory]
    command += ["--work-dir", str(stack.run_dir / "spark-work"), ports.spark_master]
    stack.spawn("spark-worker", command, env=_spark_environment(stack))
    master_state = f"http://{ports.host}:{ports.spark_master_ui_port}/json/"

    def registered() -> bool:
        try:
            with urllib.request.urlopen(master_state, timeout=2) as response:
                return json.load(response).get("aliveworkers", 0) > 0
        except (OSError, ValueError):
            return False

    stack.wait_for("spark-worker", registered)


# -- Dagster ----------------------------------------------------------------------------------


def dagster_yaml(stack: Stack) -> str:
    return f"""\
# The services-mode instance (written by fraud-stack): runs, events and schedules in
# PostgreSQL; the daemon launches queued runs. The database URL (with its password) comes
# from the environment.
storage:
  postgres:
    postgres_url:
      env: FRAUD_STACK_DAGSTER_DATABASE_URL
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
# A run whose worker died (killed, out of memory) is marked failed and frees its pools.
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
{POOL_SETTINGS}"""


def _prepare_dagster_home(stack: Stack) -> None:
    home = stack.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml(stack))
    environment = stack.pipeline_environment()
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        set_pool_limits(home)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _workspace() -> str:
    return str(PROJECT_ROOT / "workspace.yaml")


def start_dagster_daemon(stack: Stack) -> None:
    _prepare_dagster_home(stack)
    command = [executable("dagster-daemon"), "run", "-w", _workspace()]
    stack.spawn("dagster-daemon", command, env=stack.pipeline_environment())
    log = stack.logs / "dagster-daemon.log"
    # The daemon names its daemons once the instance and the code location have loaded.
    stack.wait_for("dagster-daemon", lambda: b"SensorDaemon" in log.read_bytes())


def start_dagster_webserver(stack: Stack) -> None:
    ports = stack.ports
    command = [executable("dagster-webserver"), "-h", ports.host, "-p", str(ports.dagster_port)]
    command += ["-w", _workspace()]
    stack.spawn("dagster-webserver", command, env=stack.pipeline_environment())
    stack.wait_for("dagster-webserver", lambda: _http_ok(f"{ports.dagster_url}/server_info"))
