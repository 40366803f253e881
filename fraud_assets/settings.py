"""Typed configuration, read from the environment in one place.

Every setting has a default that runs locally with nothing set; README.md documents each one.
A field that a variable sets names it in its metadata (`env`); one reader turns the variable's
text into the field's type, so the environment is read by one table, not field by field.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
Configured = TypeVar("Configured")


def from_variable(name: str, default: Any = None) -> Any:
    """A dataclass field that the environment variable `name` sets."""
    return field(default=default, metadata={"env": name})


def _parse(name: str, text: str, kind: Any) -> Any:
    """The value of variable `name` holding `text`, as type `kind`; a clear error otherwise."""
    if isinstance(kind, types.UnionType):
        (kind,) = [option for option in typing.get_args(kind) if option is not type(None)]
    if typing.get_origin(kind) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if kind is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{name}={text!r} is not a boolean; use true or false")
    if kind is date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not a date; use YYYY-MM-DD") from None
    if kind is Path:
        return Path(text).resolve()
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise ValueError(f"{name}={text!r} is not {expected}") from None
    return text


def variable(name: str) -> str | None:
    """The variable's text without surrounding blanks, or None when it is unset or blank."""
    return os.environ.get(name, "").strip() or None


def read_environment(cls: type[Configured], **given: Any) -> Configured:
    """An instance of the dataclass `cls`: `given` values first, then each field whose
    variable is set, the field's default otherwise."""
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for spec in fields(cls):
        name = spec.metadata.get("env")
        if name is None or spec.name in values:
            continue
        text = variable(name)
        if text is not None:
            values[spec.name] = _parse(name, text, hints[spec.name])
    return cls(**values)


@dataclass(frozen=True)
class S3Settings:
    bucket: str = from_variable("FRAUD_S3_BUCKET", "fraud")
    landing_prefix: str = from_variable("FRAUD_S3_LANDING_PREFIX", "landing/")
    storage_prefix: str = from_variable("FRAUD_S3_STORAGE_PREFIX", "warehouse/")
    region: str = "us-east-1"
    endpoint_url: str | None = from_variable("FRAUD_S3_ENDPOINT_URL")
    access_key_id: str | None = from_variable("AWS_ACCESS_KEY_ID")
    secret_access_key: str | None = from_variable("AWS_SECRET_ACCESS_KEY")
    session_token: str | None = from_variable("AWS_SESSION_TOKEN")
    profile: str | None = from_variable("AWS_PROFILE")
    max_attempts: int = from_variable("FRAUD_S3_MAX_ATTEMPTS", 5)
    use_s3a: bool = from_variable("FRAUD_S3_USE_S3A", False)
    cache_dir: Path = from_variable("FRAUD_S3_CACHE_DIR", Path("s3-cache"))


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    registry_uri: str
    experiment: str
    artifact_location: str
    ui_url: str


@dataclass(frozen=True)
class ModelSettings:
    """Time windows (days) of training and evaluation, tuning budget and promotion rule."""

    train_days: int = from_variable("FRAUD_TRAIN_DAYS", 7)
    delay_days: int = from_variable("FRAUD_DELAY_DAYS", 7)
    test_days: int = from_variable("FRAUD_TEST_DAYS", 7)
    validation_days: int = from_variable("FRAUD_VALIDATION_DAYS", 7)
    tuning_folds: int = from_variable("FRAUD_TUNING_FOLDS", 3)
    families: tuple[str, ...] = from_variable(
        "FRAUD_MODEL_FAMILIES", ("logistic_regression", "random_forest", "gbt", "xgboost")
    )
    max_evals: int = from_variable("FRAUD_TUNING_MAX_EVALS", 8)
    tuning_timeout_seconds: int = from_variable("FRAUD_TUNING_TIMEOUT_SECONDS", 900)
    seed: int = from_variable("FRAUD_MODEL_SEED", 42)
    bootstrap_resamples: int = from_variable("FRAUD_BOOTSTRAP_RESAMPLES", 1000)
    bootstrap_unit: str = from_variable("FRAUD_BOOTSTRAP_UNIT", "customer_day")
    promotion_metric: str = from_variable("FRAUD_PROMOTION_METRIC", "average_precision")
    promotion_alpha: float = from_variable("FRAUD_PROMOTION_ALPHA", 0.05)
    floor_roc_auc: float = from_variable("FRAUD_FLOOR_ROC_AUC", 0.6)
    floor_average_precision: float = from_variable("FRAUD_FLOOR_AVERAGE_PRECISION", 0.15)

    def __post_init__(self) -> None:
        if min(self.train_days, self.test_days) < 1 or self.delay_days < 0:
            raise ValueError("FRAUD_TRAIN_DAYS and FRAUD_TEST_DAYS must be >= 1, delay >= 0")
        if self.validation_days < 1 or self.tuning_folds < 1:
            raise ValueError("FRAUD_VALIDATION_DAYS and FRAUD_TUNING_FOLDS must be >= 1")
        if not 0 < self.promotion_alpha < 1:
            raise ValueError("FRAUD_PROMOTION_ALPHA must lie in (0, 1)")

    @property
    def days_to_cutoff(self) -> int:
        """Days a partition reads up to and including its cut-off: the earliest tuning fold's
        training, delay and validation blocks, the folds a validation block apart."""
        return self.train_days + self.delay_days + self.tuning_folds * self.validation_days


@dataclass(frozen=True)
class ScoringSettings:
    """How the champion's scores become alerts, and when monitoring calls for attention."""

    alert_max_fpr: float = from_variable("FRAUD_ALERT_MAX_FPR", 0.05)
    alert_daily_budget: int = from_variable("FRAUD_ALERT_DAILY_BUDGET", 0)
    alert_top_cards: int = from_variable("FRAUD_ALERT_TOP_CARDS", 100)
    reason_columns: int = from_variable("FRAUD_ALERT_REASONS", 3)
    drift_psi_threshold: float = from_variable("FRAUD_DRIFT_PSI_THRESHOLD", 0.25)
    drift_ks_threshold: float = from_variable("FRAUD_DRIFT_KS_THRESHOLD", 0.15)
    performance_series_days: int = from_variable("FRAUD_PERFORMANCE_SERIES_DAYS", 28)
    train_on_every_file: bool = from_variable("FRAUD_TRAIN_ON_EVERY_FILE", False)

    def __post_init__(self) -> None:
        if not 0 < self.alert_max_fpr < 1:
            raise ValueError("FRAUD_ALERT_MAX_FPR must lie in (0, 1), e.g. 0.05 for 5%")
        if self.alert_daily_budget < 0 or self.alert_top_cards < 1:
            raise ValueError("FRAUD_ALERT_DAILY_BUDGET must be >= 0, FRAUD_ALERT_TOP_CARDS >= 1")
        if min(self.drift_psi_threshold, self.drift_ks_threshold) <= 0:
            raise ValueError("FRAUD_DRIFT_PSI_THRESHOLD and FRAUD_DRIFT_KS_THRESHOLD must be > 0")
        if self.performance_series_days < 1:
            raise ValueError("FRAUD_PERFORMANCE_SERIES_DAYS must be >= 1")


@dataclass(frozen=True)
class RealtimeSettings:
    """The streaming scorer's broker and topics, and what both real-time scorers share."""

    bootstrap_servers: str = from_variable("FRAUD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    input_topic: str = from_variable("FRAUD_STREAM_INPUT_TOPIC", "transactions")
    scores_topic: str = from_variable("FRAUD_STREAM_SCORES_TOPIC", "transaction-scores")
    alerts_topic: str = from_variable("FRAUD_STREAM_ALERTS_TOPIC", "transaction-alerts")
    dead_letter_topic: str = from_variable(
        "FRAUD_STREAM_DEAD_LETTER_TOPIC", "transactions-dead-letter"
    )
    group_id: str = from_variable("FRAUD_STREAM_GROUP_ID", "fraud-stream")
    batch_size: int = from_variable("FRAUD_STREAM_BATCH_SIZE", 5_000)
    checkpoint_seconds: float = from_variable("FRAUD_STREAM_CHECKPOINT_SECONDS", 30.0)
    champion_check_seconds: float = from_variable("FRAUD_CHAMPION_CHECK_SECONDS", 30.0)
    lateness_seconds: int = from_variable("FRAUD_ONLINE_LATENESS_SECONDS", 3_600)
    stream_metrics_port: int = from_variable("FRAUD_STREAM_METRICS_PORT", 9108)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.checkpoint_seconds <= 0 or self.champion_check_seconds <= 0:
            raise ValueError(
                "FRAUD_STREAM_BATCH_SIZE must be >= 1, FRAUD_STREAM_CHECKPOINT_SECONDS and "
                "FRAUD_CHAMPION_CHECK_SECONDS > 0"
            )
        if self.lateness_seconds < 0:
            raise ValueError("FRAUD_ONLINE_LATENESS_SECONDS must be >= 0")

    @classmethod
    def from_env(cls) -> RealtimeSettings:
        return read_environment(cls)


ENVIRONMENTS = ("local", "services", "prod")
# What FRAUD_ENV=prod cannot guess: each names the system it points at.
PROD_REQUIRED = ("FRAUD_S3_BUCKET", "FRAUD_SPARK_MASTER", "FRAUD_MLFLOW_TRACKING_URI")


@dataclass(frozen=True)
class StackSettings:
    """Where `fraud-stack` (infra/stack.sh) keeps its services: one run folder, loopback ports.

    FRAUD_ENV=services reads its endpoints from here, so the stack and the pipeline agree.
    """

    run_dir: Path = from_variable("FRAUD_STACK_DIR", Path("stack"))
    seaweedfs_base_port: int = from_variable("FRAUD_STACK_SEAWEEDFS_BASE_PORT", 18300)
    postgres_port: int = from_variable("FRAUD_STACK_POSTGRES_PORT", 15432)
    mlflow_port: int = from_variable("FRAUD_STACK_MLFLOW_PORT", 15000)
    spark_master_port: int = from_variable("FRAUD_STACK_SPARK_MASTER_PORT", 17077)
    spark_master_ui_port: int = from_variable("FRAUD_STACK_SPARK_MASTER_UI_PORT", 18080)
    spark_worker_ui_port: int = from_variable("FRAUD_STACK_SPARK_WORKER_UI_PORT", 18081)
    dagster_port: int = from_variable("FRAUD_STACK_DAGSTER_PORT", 13000)
    spark_worker_cores: int = from_variable("FRAUD_STACK_SPARK_WORKER_CORES", os.cpu_count() or 1)
    spark_worker_memory: str = from_variable("FRAUD_STACK_SPARK_WORKER_MEMORY", "4g")
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        ports = self.ports()
        for name, port in ports.items():
            if not 1024 <= port <= 65535 - 40:
                raise ValueError(f"{name}={port} is not a port in 1024-65495")
        taken: dict[int, str] = {}
        for name, port in ports.items():
            if port in taken:
                raise ValueError(f"{name} and {taken[port]} both ask for port {port}")
            taken[port] = name
        seaweed = range(self.seaweedfs_base_port, self.seaweedfs_base_port + 41)
        for name, port in ports.items():
            if port in seaweed and name != "FRAUD_STACK_SEAWEEDFS_BASE_PORT":
                raise ValueError(
                    f"{name}={port} lies in SeaweedFS's ports {seaweed.start}-{seaweed.stop - 1} "
                    "(FRAUD_STACK_SEAWEEDFS_BASE_PORT + 0..40)"
                )

    def ports(self) -> dict[str, int]:
        """Each port by the variable that sets it."""
        return {
            spec.metadata["env"]: getattr(self, spec.name)
            for spec in fields(self)
            if spec.name.endswith("_port")
        }

    @property
    def s3_port(self) -> int:
        """SeaweedFS opens its services on the base port + 0..40; S3 is + 33."""
        return self.seaweedfs_base_port + 33

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def spark_master(self) -> str:
        return f"spark://{self.host}:{self.spark_master_port}"

    @property
    def dagster_url(self) -> str:
        return f"http://{self.host}:{self.dagster_port}"

    @classmethod
    def from_env(cls, data_dir: Path) -> StackSettings:
        run_dir = Path(variable("FRAUD_STACK_DIR") or data_dir / "stack").resolve()
        return read_environment(cls, run_dir=run_dir)


def _environment_defaults(environment: str, stack: StackSettings) -> dict[str, str]:
    """The endpoints a mode assumes when they are not set: none locally and in prod, the
    stack's in services mode."""
    if environment == "services":
        return {
            "FRAUD_S3_ENDPOINT_URL": stack.s3_endpoint,
            "FRAUD_SPARK_MASTER": stack.spark_master,
            "FRAUD_MLFLOW_TRACKING_URI": stack.mlflow_uri,
        }
    if environment == "prod":
        missing = [name for name in PROD_REQUIRED if variable(name) is None]
        if missing:
            raise ValueError(
                f"FRAUD_ENV=prod reads its systems from the environment; set {', '.join(missing)}"
                " (README, Deploying)"
            )
    return {}


def _mlflow_settings(data_dir: Path, assumed: dict[str, str]) -> MlflowSettings:
    tracking_uri = variable("FRAUD_MLFLOW_TRACKING_URI") or assumed.get(
        "FRAUD_MLFLOW_TRACKING_URI", f"sqlite:///{data_dir}/mlflow/mlflow.db"
    )
    remote = tracking_uri.startswith(("http://", "https://"))
    return MlflowSettings(
        tracking_uri=tracking_uri,
        registry_uri=variable("FRAUD_MLFLOW_REGISTRY_URI") or tracking_uri,
        experiment=variable("FRAUD_MLFLOW_EXPERIMENT") or "fraud_detection",
        artifact_location=variable("FRAUD_MLFLOW_ARTIFACTS")
        or ("" if remote else str(data_dir / "mlflow" / "artifacts")),
        ui_url=variable("FRAUD_MLFLOW_UI_URL")
        or (tracking_uri if remote else "http://127.0.0.1:5000"),
    )


def _spark_conf(text: str | None) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in json.loads(text or "{}").items()}
    except (json.JSONDecodeError, AttributeError):
        raise ValueError(
            f"FRAUD_SPARK_CONF must be a JSON object of Spark settings, got {text!r}"
        ) from None


@dataclass(frozen=True)
class Settings:
    environment: str
    data_dir: Path
    landing_dir: Path
    storage_dir: Path
    spark_master: str
    s3: S3Settings
    mlflow: MlflowSettings
    partitions_start: date = from_variable("FRAUD_PARTITIONS_START", date(2019, 8, 22))
    file_period_days: int = from_variable("FRAUD_FILE_PERIOD_DAYS", 30)
    spark_driver_memory: str = from_variable("FRAUD_SPARK_DRIVER_MEMORY", "2g")
    model: ModelSettings = field(default_factory=ModelSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)
    spark_conf: dict[str, str] = field(default_factory=dict)
    sensor_interval_seconds: int = from_variable("FRAUD_SENSOR_INTERVAL_SECONDS", 30)
    time_origin: date | None = from_variable("FRAUD_TIME_ORIGIN")
    max_quarantine_share: float = from_variable("FRAUD_MAX_QUARANTINE_SHARE", 0.01)
    duplicate_lookback_days: int = from_variable("FRAUD_DUPLICATE_LOOKBACK_DAYS", 37)
    version_grace_hours: float = from_variable("FRAUD_VERSION_GRACE_HOURS", 24.0)
    stack: StackSettings | None = None
    spark_ui: bool = from_variable("FRAUD_SPARK_UI", False)
    step_max_retries: int = from_variable("FRAUD_STEP_MAX_RETRIES", 3)
    file_max_attempts: int = from_variable("FRAUD_FILE_MAX_ATTEMPTS", 3)
    step_retry_delay_seconds: float = from_variable("FRAUD_STEP_RETRY_DELAY_SECONDS", 10.0)

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(
                f"FRAUD_ENV={self.environment!r} is unknown; use one of {', '.join(ENVIRONMENTS)}"
            )
        if self.file_period_days < 1:
            raise ValueError("FRAUD_FILE_PERIOD_DAYS must be at least 1")
        if not 0 <= self.max_quarantine_share <= 1:
            raise ValueError("FRAUD_MAX_QUARANTINE_SHARE must lie in [0, 1], e.g. 0.01 for 1%")
        if self.version_grace_hours < 0:
            raise ValueError("FRAUD_VERSION_GRACE_HOURS must be >= 0")

    @property
    def uses_s3(self) -> bool:
        return self.environment != "local"

    @property
    def feed_time_origin(self) -> date:
        """The day the feed's tx_time_seconds / tx_time_days count from."""
        return self.time_origin or self.partitions_start

    @classmethod
    def from_env(cls) -> Settings:
        environment = variable("FRAUD_ENV") or "local"
        data_dir = Path(variable("FRAUD_DATA_DIR") or PROJECT_ROOT / "data").resolve()
        stack = StackSettings.from_env(data_dir)
        assumed = _environment_defaults(environment, stack)
        s3 = read_environment(
            S3Settings,
            region=variable("AWS_REGION") or variable("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=variable("FRAUD_S3_ENDPOINT_URL") or assumed.get("FRAUD_S3_ENDPOINT_URL"),
            cache_dir=Path(variable("FRAUD_S3_CACHE_DIR") or data_dir / "s3-cache").resolve(),
        )
        return read_environment(
            cls,
            environment=environment,
            data_dir=data_dir,
            landing_dir=Path(variable("FRAUD_LANDING_DIR") or data_dir / "landing").resolve(),
            storage_dir=Path(variable("FRAUD_STORAGE_DIR") or data_dir / "warehouse").resolve(),
            spark_master=variable("FRAUD_SPARK_MASTER")
            or assumed.get("FRAUD_SPARK_MASTER", "local[*]"),
            spark_conf=_spark_conf(variable("FRAUD_SPARK_CONF")),
            s3=s3,
            mlflow=_mlflow_settings(data_dir, assumed),
            model=read_environment(ModelSettings),
            scoring=read_environment(ScoringSettings),
            realtime=read_environment(RealtimeSettings),
            stack=stack,
        )
