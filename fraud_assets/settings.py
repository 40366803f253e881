"""Typed configuration, read from the environment in one place.

Every setting has a default that runs locally with nothing set; README.md documents each one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean; use true or false")


def _env_number(name: str, default: float, kind: type) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ValueError(f"{name}={value!r} is not {expected}") from None


def _env_int(name: str, default: int) -> int:
    return int(_env_number(name, default, int))


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None
    bucket: str
    landing_prefix: str
    storage_prefix: str
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    use_s3a: bool
    cache_dir: Path
    session_token: str | None = None
    profile: str | None = None
    max_attempts: int = 5


def _env_date(name: str) -> date | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    return tuple(item.strip() for item in value.split(",") if item.strip())


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

    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7
    validation_days: int = 7
    tuning_folds: int = 3
    families: tuple[str, ...] = ("logistic_regression", "random_forest", "gbt", "xgboost")
    max_evals: int = 8
    tuning_timeout_seconds: int = 900
    seed: int = 42
    bootstrap_resamples: int = 1000
    bootstrap_unit: str = "customer_day"
    promotion_metric: str = "average_precision"
    promotion_alpha: float = 0.05
    floor_roc_auc: float = 0.6
    floor_average_precision: float = 0.15

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

    @classmethod
    def from_env(cls) -> ModelSettings:
        defaults = cls()
        return cls(
            train_days=_env_int("FRAUD_TRAIN_DAYS", defaults.train_days),
            delay_days=_env_int("FRAUD_DELAY_DAYS", defaults.delay_days),
            test_days=_env_int("FRAUD_TEST_DAYS", defaults.test_days),
            validation_days=_env_int("FRAUD_VALIDATION_DAYS", defaults.validation_days),
            tuning_folds=_env_int("FRAUD_TUNING_FOLDS", defaults.tuning_folds),
            families=_env_list("FRAUD_MODEL_FAMILIES", defaults.families),
            max_evals=_env_int("FRAUD_TUNING_MAX_EVALS", defaults.max_evals),
            tuning_timeout_seconds=_env_int(
                "FRAUD_TUNING_TIMEOUT_SECONDS", defaults.tuning_timeout_seconds
            ),
            seed=_env_int("FRAUD_MODEL_SEED", defaults.seed),
            bootstrap_resamples=_env_int("FRAUD_BOOTSTRAP_RESAMPLES", defaults.bootstrap_resamples),
            bootstrap_unit=_env("FRAUD_BOOTSTRAP_UNIT", defaults.bootstrap_unit),
            promotion_metric=_env("FRAUD_PROMOTION_METRIC", defaults.promotion_metric),
            promotion_alpha=_env_float("FRAUD_PROMOTION_ALPHA", defaults.promotion_alpha),
            floor_roc_auc=_env_float("FRAUD_FLOOR_ROC_AUC", defaults.floor_roc_auc),
            floor_average_precision=_env_float(
                "FRAUD_FLOOR_AVERAGE_PRECISION", defaults.floor_average_precision
            ),
        )


@dataclass(frozen=True)
class ScoringSettings:
    """How the champion's scores become alerts, and when monitoring calls for attention."""

    alert_max_fpr: float = 0.05
    alert_daily_budget: int = 0
    alert_top_cards: int = 100
    reason_columns: int = 3
    drift_psi_threshold: float = 0.25
    drift_ks_threshold: float = 0.15
    performance_series_days: int = 28
    train_on_every_file: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.alert_max_fpr < 1:
            raise ValueError("FRAUD_ALERT_MAX_FPR must lie in (0, 1), e.g. 0.05 for 5%")
        if self.alert_daily_budget < 0 or self.alert_top_cards < 1:
            raise ValueError("FRAUD_ALERT_DAILY_BUDGET must be >= 0, FRAUD_ALERT_TOP_CARDS >= 1")
        if min(self.drift_psi_threshold, self.drift_ks_threshold) <= 0:
            raise ValueError("FRAUD_DRIFT_PSI_THRESHOLD and FRAUD_DRIFT_KS_THRESHOLD must be > 0")
        if self.performance_series_days < 1:
            raise ValueError("FRAUD_PERFORMANCE_SERIES_DAYS must be >= 1")

    @classmethod
    def from_env(cls) -> ScoringSettings:
        defaults = cls()
        return cls(
            alert_max_fpr=_env_float("FRAUD_ALERT_MAX_FPR", defaults.alert_max_fpr),
            alert_daily_budget=_env_int("FRAUD_ALERT_DAILY_BUDGET", defaults.alert_daily_budget),
            alert_top_cards=_env_int("FRAUD_ALERT_TOP_CARDS", defaults.alert_top_cards),
            reason_columns=_env_int("FRAUD_ALERT_REASONS", defaults.reason_columns),
            drift_psi_threshold=_env_float(
                "FRAUD_DRIFT_PSI_THRESHOLD", defaults.drift_psi_threshold
            ),
            drift_ks_threshold=_env_float("FRAUD_DRIFT_KS_THRESHOLD", defaults.drift_ks_threshold),
            performance_series_days=_env_int(
                "FRAUD_PERFORMANCE_SERIES_DAYS", defaults.performance_series_days
            ),
            train_on_every_file=_env_bool(
                "FRAUD_TRAIN_ON_EVERY_FILE", defaults.train_on_every_file
            ),
        )


@dataclass(frozen=True)
class RealtimeSettings:
    """The streaming scorer's broker and topics, and what both real-time scorers share."""

    bootstrap_servers: str = "127.0.0.1:9092"
    input_topic: str = "transactions"
    scores_topic: str = "transaction-scores"
    alerts_topic: str = "transaction-alerts"
    dead_letter_topic: str = "transactions-dead-letter"
    group_id: str = "fraud-stream"
    batch_size: int = 5_000
    checkpoint_seconds: float = 30.0
    champion_check_seconds: float = 30.0
    lateness_seconds: int = 3_600
    stream_metrics_port: int = 9108

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
        defaults = cls()
        return cls(
            bootstrap_servers=_env("FRAUD_KAFKA_BOOTSTRAP_SERVERS", defaults.bootstrap_servers),
            input_topic=_env("FRAUD_STREAM_INPUT_TOPIC", defaults.input_topic),
            scores_topic=_env("FRAUD_STREAM_SCORES_TOPIC", defaults.scores_topic),
            alerts_topic=_env("FRAUD_STREAM_ALERTS_TOPIC", defaults.alerts_topic),
            dead_letter_topic=_env("FRAUD_STREAM_DEAD_LETTER_TOPIC", defaults.dead_letter_topic),
            group_id=_env("FRAUD_STREAM_GROUP_ID", defaults.group_id),
            batch_size=_env_int("FRAUD_STREAM_BATCH_SIZE", defaults.batch_size),
            checkpoint_seconds=_env_float(
                "FRAUD_STREAM_CHECKPOINT_SECONDS", defaults.checkpoint_seconds
            ),
            champion_check_seconds=_env_float(
                "FRAUD_CHAMPION_CHECK_SECONDS", defaults.champion_check_seconds
            ),
            lateness_seconds=_env_int("FRAUD_ONLINE_LATENESS_SECONDS", defaults.lateness_seconds),
            stream_metrics_port=_env_int("FRAUD_STREAM_METRICS_PORT", defaults.stream_metrics_port),
        )


ENVIRONMENTS = ("local", "services", "prod")
# What FRAUD_ENV=prod cannot guess: each names the system it points at.
PROD_REQUIRED = ("FRAUD_S3_BUCKET", "FRAUD_SPARK_MASTER", "FRAUD_MLFLOW_TRACKING_URI")


@dataclass(frozen=True)
class StackSettings:
    """Where `fraud-stack` (infra/stack.sh) keeps its services: one run folder, loopback ports.

    FRAUD_ENV=services reads its endpoints from here, so the stack and the pipeline agree.
    """

    run_dir: Path
    seaweedfs_base_port: int = 18300
    postgres_port: int = 15432
    mlflow_port: int = 15000
    spark_master_port: int = 17077
    spark_master_ui_port: int = 18080
    spark_worker_ui_port: int = 18081
    dagster_port: int = 13000
    spark_worker_cores: int = 2
    spark_worker_memory: str = "4g"
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
        return {
            "FRAUD_STACK_SEAWEEDFS_BASE_PORT": self.seaweedfs_base_port,
            "FRAUD_STACK_POSTGRES_PORT": self.postgres_port,
            "FRAUD_STACK_MLFLOW_PORT": self.mlflow_port,
            "FRAUD_STACK_SPARK_MASTER_PORT": self.spark_master_port,
            "FRAUD_STACK_SPARK_MASTER_UI_PORT": self.spark_master_ui_port,
            "FRAUD_STACK_SPARK_WORKER_UI_PORT": self.spark_worker_ui_port,
            "FRAUD_STACK_DAGSTER_PORT": self.dagster_port,
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
        defaults = cls(run_dir=data_dir / "stack")
        return cls(
            run_dir=Path(_env("FRAUD_STACK_DIR", str(defaults.run_dir))).resolve(),
            spark_worker_cores=_env_int("FRAUD_STACK_SPARK_WORKER_CORES", os.cpu_count() or 1),
            spark_worker_memory=_env("FRAUD_STACK_SPARK_WORKER_MEMORY", "4g"),
            **{
                field_name: _env_int(env_name, getattr(defaults, field_name))
                for env_name, field_name in _STACK_PORT_FIELDS.items()
            },
        )


_STACK_PORT_FIELDS = {
    "FRAUD_STACK_SEAWEEDFS_BASE_PORT": "seaweedfs_base_port",
    "FRAUD_STACK_POSTGRES_PORT": "postgres_port",
    "FRAUD_STACK_MLFLOW_PORT": "mlflow_port",
    "FRAUD_STACK_SPARK_MASTER_PORT": "spark_master_port",
    "FRAUD_STACK_SPARK_MASTER_UI_PORT": "spark_master_ui_port",
    "FRAUD_STACK_SPARK_WORKER_UI_PORT": "spark_worker_ui_port",
    "FRAUD_STACK_DAGSTER_PORT": "dagster_port",
}


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
        missing = [name for name in PROD_REQUIRED if not os.environ.get(name, "").strip()]
        if missing:
            raise ValueError(
                f"FRAUD_ENV=prod reads its systems from the environment; set {', '.join(missing)}"
                " (README, Deploying)"
            )
    return {}


@dataclass(frozen=True)
class Settings:
    environment: str
    data_dir: Path
    landing_dir: Path
    storage_dir: Path
    partitions_start: date
    file_period_days: int
    spark_master: str
    spark_driver_memory: str
    s3: S3Settings
    mlflow: MlflowSettings
    model: ModelSettings = field(default_factory=ModelSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)
    spark_conf: dict[str, str] = field(default_factory=dict)
    sensor_interval_seconds: int = 30
    time_origin: date | None = None
    max_quarantine_share: float = 0.01
    duplicate_lookback_days: int = 37
    version_grace_hours: float = 24.0
    stack: StackSettings | None = None
    spark_ui: bool = False
    step_max_retries: int = 3
    file_max_attempts: int = 3
    step_retry_delay_seconds: float = 10.0

    @property
    def uses_s3(self) -> bool:
        return self.environment != "local"

    @property
    def feed_time_origin(self) -> date:
        """The day the feed's tx_time_seconds / tx_time_days count from."""
        return self.time_origin or self.partitions_start

    @classmethod
    def from_env(cls) -> Settings:
        environment = _env("FRAUD_ENV", "local")
        if environment not in ENVIRONMENTS:
            raise ValueError(
                f"FRAUD_ENV={environment!r} is unknown; use one of {', '.join(ENVIRONMENTS)}"
            )
        data_dir = Path(_env("FRAUD_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
        stack = StackSettings.from_env(data_dir)
        assumed = _environment_defaults(environment, stack)
        spark_conf_text = _env("FRAUD_SPARK_CONF", "{}")
        try:
            spark_conf = {str(k): str(v) for k, v in json.loads(spark_conf_text).items()}
        except (json.JSONDecodeError, AttributeError):
            raise ValueError(
                f"FRAUD_SPARK_CONF must be a JSON object of Spark settings, got {spark_conf_text!r}"
            ) from None
        tracking_uri = _env(
            "FRAUD_MLFLOW_TRACKING_URI",
            assumed.get("FRAUD_MLFLOW_TRACKING_URI", f"sqlite:///{data_dir}/mlflow/mlflow.db"),
        )
        remote_tracking = tracking_uri.startswith(("http://", "https://"))
        period = _env_int("FRAUD_FILE_PERIOD_DAYS", 30)
        if period < 1:
            raise ValueError("FRAUD_FILE_PERIOD_DAYS must be at least 1")
        max_quarantine_share = _env_float("FRAUD_MAX_QUARANTINE_SHARE", 0.01)
        if not 0 <= max_quarantine_share <= 1:
            raise ValueError("FRAUD_MAX_QUARANTINE_SHARE must lie in [0, 1], e.g. 0.01 for 1%")
        grace_hours = _env_float("FRAUD_VERSION_GRACE_HOURS", 24.0)
        if grace_hours < 0:
            raise ValueError("FRAUD_VERSION_GRACE_HOURS must be >= 0")
        return cls(
            environment=environment,
            data_dir=data_dir,
            landing_dir=Path(_env("FRAUD_LANDING_DIR", str(data_dir / "landing"))).resolve(),
            storage_dir=Path(_env("FRAUD_STORAGE_DIR", str(data_dir / "warehouse"))).resolve(),
            partitions_start=_env_date("FRAUD_PARTITIONS_START") or date(2019, 8, 22),
            file_period_days=period,
            spark_master=_env("FRAUD_SPARK_MASTER", assumed.get("FRAUD_SPARK_MASTER", "local[*]")),
            spark_driver_memory=_env("FRAUD_SPARK_DRIVER_MEMORY", "2g"),
            spark_conf=spark_conf,
            s3=S3Settings(
                endpoint_url=os.environ.get("FRAUD_S3_ENDPOINT_URL")
                or assumed.get("FRAUD_S3_ENDPOINT_URL"),
                bucket=_env("FRAUD_S3_BUCKET", "fraud"),
                landing_prefix=_env("FRAUD_S3_LANDING_PREFIX", "landing/"),
                storage_prefix=_env("FRAUD_S3_STORAGE_PREFIX", "warehouse/"),
                region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1")),
                access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
                secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
                session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
                profile=os.environ.get("AWS_PROFILE") or None,
                max_attempts=_env_int("FRAUD_S3_MAX_ATTEMPTS", 5),
                use_s3a=_env_bool("FRAUD_S3_USE_S3A", False),
                cache_dir=Path(_env("FRAUD_S3_CACHE_DIR", str(data_dir / "s3-cache"))).resolve(),
            ),
            mlflow=MlflowSettings(
                tracking_uri=tracking_uri,
                registry_uri=_env("FRAUD_MLFLOW_REGISTRY_URI", tracking_uri),
                experiment=_env("FRAUD_MLFLOW_EXPERIMENT", "fraud_detection"),
                artifact_location=_env(
                    "FRAUD_MLFLOW_ARTIFACTS",
                    "" if remote_tracking else str(data_dir / "mlflow" / "artifacts"),
                ),
                ui_url=_env(
                    "FRAUD_MLFLOW_UI_URL",
                    tracking_uri if remote_tracking else "http://127.0.0.1:5000",
                ),
            ),
            model=ModelSettings.from_env(),
            scoring=ScoringSettings.from_env(),
            realtime=RealtimeSettings.from_env(),
            sensor_interval_seconds=_env_int("FRAUD_SENSOR_INTERVAL_SECONDS", 30),
            time_origin=_env_date("FRAUD_TIME_ORIGIN"),
            max_quarantine_share=max_quarantine_share,
            duplicate_lookback_days=_env_int("FRAUD_DUPLICATE_LOOKBACK_DAYS", 37),
            version_grace_hours=grace_hours,
            stack=stack,
            spark_ui=_env_bool("FRAUD_SPARK_UI", False),
            step_max_retries=_env_int("FRAUD_STEP_MAX_RETRIES", 3),
            file_max_attempts=_env_int("FRAUD_FILE_MAX_ATTEMPTS", 3),
            step_retry_delay_seconds=_env_float("FRAUD_STEP_RETRY_DELAY_SECONDS", 10.0),
        )
