"""The stack's run folder, credentials and processes: start, stop and status in order.

Every service listens on 127.0.0.1 only; ports come from FRAUD_STACK_* (README). PIDs, logs,
data and generated credentials live in one run folder (FRAUD_STACK_DIR, default
$FRAUD_DATA_DIR/stack). Starting what already runs, or stopping what is stopped, does nothing.
"""

import contextlib
import functools
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fraud_assets.common.ports import port_answers
from fraud_assets.settings import Settings, StackSettings

DATABASES = ("dagster", "mlflow")
DATABASE_USER = "fraud"
MLFLOW_BUCKET = "mlflow"
_START_TIMEOUT_SECONDS = 300.0
_STOP_TIMEOUT_SECONDS = 30.0


class StackError(RuntimeError):
    """A service could not be started or stopped; the message says which and where its log is."""


def _log(message: str) -> None:
    print(f"[fraud-stack] {message}", flush=True)


def _pid_alive(pid: int, send: Callable[[int, int], None] = os.kill) -> bool:
    """Whether a process (or, with `os.killpg`, a process group) still exists."""
    try:
        send(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Credentials:
    """Generated on first start and kept (mode 600) in the run folder; never printed by start."""

    access_key: str
    secret_key: str
    database_password: str

    @classmethod
    def load_or_create(cls, run_dir: Path) -> "Credentials":
        path = run_dir / "credentials.env"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            values = {
                "AWS_ACCESS_KEY_ID": f"fraud-{secrets.token_hex(4)}",
                "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
                "FRAUD_STACK_POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            }
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.writelines(f"{name}={value}\n" for name, value in values.items())
        values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return cls(
            access_key=values["AWS_ACCESS_KEY_ID"],
            secret_key=values["AWS_SECRET_ACCESS_KEY"],
            database_password=values["FRAUD_STACK_POSTGRES_PASSWORD"],
        )

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "FRAUD_STACK_POSTGRES_PASSWORD": self.database_password,
        }


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    start: Callable[["Stack"], None]
    stop: Callable[["Stack"], None] | None = None
    # The others keep their data in it, so it stops after them.
    is_store: bool = False


class Stack:
    def __init__(self, settings: Settings) -> None:
        if settings.stack is None:
            raise StackError("settings carry no stack section")
        self.settings = settings
        self.ports: StackSettings = settings.stack
        self.run_dir = self.ports.run_dir
        self.logs = self.run_dir / "logs"
        self.pids = self.run_dir / "pids"
        self.bucket = settings.s3.bucket

    # -- what the pipeline needs to reach the stack -------------------------------------------

    @functools.cached_property
    def credentials(self) -> Credentials:
        return Credentials.load_or_create(self.run_dir)

    def database_uri(self, database: str) -> str:
        """psycopg2 named explicitly: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3,
        which dagster-postgres's queries do not run on."""
        password = self.credentials.database_password
        return (
            f"postgresql+psycopg2://{DATABASE_USER}:{password}@{self.ports.host}:"
            f"{self.ports.postgres_port}/{database}"
        )

    def pipeline_environment(self) -> dict[str, str]:
        """What a process of the pipeline needs to use the stack (FRAUD_ENV=services)."""
        return {
            "FRAUD_ENV": "services",
            "FRAUD_DATA_DIR": str(self.settings.data_dir),
            "FRAUD_STACK_DIR": str(self.run_dir),
            **{name: str(port) for name, port in self.ports.ports().items()},
            "FRAUD_S3_BUCKET": self.bucket,
            "FRAUD_S3_ENDPOINT_URL": self.ports.s3_endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.ports.s3_endpoint,
            "FRAUD_MLFLOW_TRACKING_URI": self.ports.mlflow_uri,
            "FRAUD_SPARK_MASTER": self.ports.spark_master,
            "DAGSTER_HOME": str(self.dagster_home),
            "FRAUD_STACK_DAGSTER_DATABASE_URL": self.database_uri("dagster"),
            **self.credentials.environment(),
        }

    @property
    def dagster_home(self) -> Path:
        return self.run_dir / "dagster_home"

    # -- processes ----------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        path = self._pid_file(name)
        if not path.exists():
            return None
        pid = int(path.read_text().strip() or 0)
        return pid if pid and _pid_alive(pid) else None

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        """Start a service in its own process group, its output in logs/<name>.log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            restore_signals=True,
        )
        log.close()
        self._pid_file(name).write_text(str(process.pid))

    def wait_for(self, name: str, ready: Callable[[], bool], spawned: bool = True) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not ready():
            if spawned and self.pid(name) is None:
                raise StackError(f"{name} exited while starting; see {self.logs / name}.log")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{name} did not answer within {_START_TIMEOUT_SECONDS:.0f} s; see "
                    f"{self.logs / name}.log"
                )
            time.sleep(0.5)

    def terminate(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
            while _pid_alive(pid, os.killpg) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid_alive(pid, os.killpg):
                _log(f"{name} ignored SIGTERM for {_STOP_TIMEOUT_SECONDS:.0f} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)

    # -- lifecycle ----------------------------------------------------------------------------

    def services(self) -> list[Service]:
        from fraud_assets.stack import services as s

        ports = self.ports
        return [
            Service("seaweedfs", ports.s3_port, s.start_seaweedfs, is_store=True),
            Service(
                "postgres", ports.postgres_port, s.start_postgres, s.stop_postgres, is_store=True
            ),
            Service("mlflow", ports.mlflow_port, s.start_mlflow),
            Service("spark-master", ports.spark_master_port, s.start_spark_master),
            Service("spark-worker", ports.spark_worker_ui_port, s.start_spark_worker),
            Service("dagster-daemon", 0, s.start_dagster_daemon),
            Service("dagster-webserver", ports.dagster_port, s.start_dagster_webserver),
        ]

    def running(self, service: Service) -> bool:
        if service.name == "postgres":
            return port_answers(service.port, self.ports.host)
        alive = self.pid(service.name) is not None
        return alive and (service.port == 0 or port_answers(service.port, self.ports.host))

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for service in self.services():
            if self.running(service):
                _log(f"{service.name}: already running")
                continue
            if service.port and port_answers(service.port, self.ports.host):
                raise StackError(
                    f"port {service.port} for {service.name} is taken by another program; "
                    f"choose another with the FRAUD_STACK_* port settings (README)"
                )
            begun = time.monotonic()
            _log(f"{service.name}: starting")
            service.start(self)
            _log(f"{service.name}: up in {time.monotonic() - begun:.1f} s")
        _log(f"stack up in {time.monotonic() - started:.1f} s; run folder {self.run_dir}")

    def stop(self) -> None:
        """Stops the services that use the stores side by side, then the stores: each takes
        seconds to shut down cleanly, and none of them waits for another."""
        services = list(reversed(self.services()))
        users = [service for service in services if not service.is_store]
        stores = [service for service in services if service.is_store]
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            for wave in (users, stores):
                list(pool.map(self._stop_service, wave))

    def _stop_service(self, service: Service) -> None:
        if service.stop is not None:
            if not self.running(service):
                return
            service.stop(self)
        elif self.pid(service.name) is not None:
            self.terminate(service.name)
        else:
            self._pid_file(service.name).unlink(missing_ok=True)
            return
        _log(f"{service.name}: stopped")

    def status(self) -> dict[str, bool]:
        return {service.name: self.running(service) for service in self.services()}

    def addresses(self) -> dict[str, str]:
        ports, host = self.ports, self.ports.host
        return {
            "seaweedfs": ports.s3_endpoint,
            "postgres": f"{host}:{ports.postgres_port}",
            "mlflow": ports.mlflow_uri,
            "spark-master": f"{ports.spark_master} (UI http://{host}:{ports.spark_master_ui_port})",
            "spark-worker": f"http://{host}:{ports.spark_worker_ui_port}",
            "dagster-daemon": "-",
            "dagster-webserver": ports.dagster_url,
        }
