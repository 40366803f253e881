"""The run-time settings of the ingestion, model and scoring assets and their sensors, as resources.

They are read when a run (or a sensor tick) starts, from the resource's configuration that
`build_definitions(settings)` gives, so two definitions built from two Settings in one process
each keep their own values. A field left unset in an asset's run config takes the value here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from fraud_assets.settings import Settings


class IngestionRules(ConfigurableResource):
    """Settings of the ingestion assets and the landing sensor, read when a run starts."""

    time_origin: str = Field(
        description="Day (YYYY-MM-DD) that tx_time_seconds and tx_time_days count from "
        "(FRAUD_TIME_ORIGIN)."
    )
    file_period_days: int = Field(default=30, description="Days one landed file covers.")
    max_quarantine_share: float = Field(
        default=0.01,
        description="Largest share of a file's or a day's rows that may be quarantined before "
        "the run fails (FRAUD_MAX_QUARANTINE_SHARE).",
    )
    duplicate_lookback_days: int = Field(
        default=37,
        description="Days before a file's period whose cleaned ids a new file's ids are "
        "compared with (FRAUD_DUPLICATE_LOOKBACK_DAYS).",
    )
    file_max_attempts: int = Field(
        default=3,
        description="Runs the landing sensor asks for a version of a file whose runs failed on "
        "something a retry may mend (FRAUD_FILE_MAX_ATTEMPTS).",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestionRules:
        return cls(
            time_origin=settings.feed_time_origin.isoformat(),
            file_period_days=settings.file_period_days,
            max_quarantine_share=settings.max_quarantine_share,
            duplicate_lookback_days=settings.duplicate_lookback_days,
            file_max_attempts=settings.file_max_attempts,
        )

    @property
    def origin(self) -> date:
        return date.fromisoformat(self.time_origin)


# Rule fields named as the run config names them, not as the settings do.
_SETTING_OF_FIELD = {
    "timeout_seconds": "tuning_timeout_seconds",
    "resamples": "bootstrap_resamples",
    "unit": "bootstrap_unit",
    "metric": "promotion_metric",
    "alpha": "promotion_alpha",
}


def _copied(rules: type[ConfigurableResource], *sources: object) -> dict[str, Any]:
    """The value of each field of `rules` from the first of the settings `sources` that has
    it (fields no source has are left to the caller)."""
    values = {}
    for name in rules.model_fields:
        setting = _SETTING_OF_FIELD.get(name, name)
        for source in sources:
            if hasattr(source, setting):
                value = getattr(source, setting)
                values[name] = list(value) if isinstance(value, tuple) else value
                break
    return values


class ModelRules(ConfigurableResource):
    """Windows, tuning budget, promotion rule and alert rule of the model partitions."""

    train_days: int = Field(default=7, description="FRAUD_TRAIN_DAYS")
    delay_days: int = Field(default=7, description="FRAUD_DELAY_DAYS")
    test_days: int = Field(default=7, description="FRAUD_TEST_DAYS")
    validation_days: int = Field(default=7, description="FRAUD_VALIDATION_DAYS")
    tuning_folds: int = Field(default=3, description="FRAUD_TUNING_FOLDS")
    families: list[str] = Field(description="FRAUD_MODEL_FAMILIES")
    max_evals: int = Field(default=8, description="FRAUD_TUNING_MAX_EVALS")
    timeout_seconds: int = Field(default=900, description="FRAUD_TUNING_TIMEOUT_SECONDS")
    seed: int = Field(default=42, description="FRAUD_MODEL_SEED")
    resamples: int = Field(default=1000, description="FRAUD_BOOTSTRAP_RESAMPLES")
    unit: str = Field(default="customer_day", description="FRAUD_BOOTSTRAP_UNIT")
    metric: str = Field(default="average_precision", description="FRAUD_PROMOTION_METRIC")
    alpha: float = Field(default=0.05, description="FRAUD_PROMOTION_ALPHA")
    floor_roc_auc: float = Field(default=0.6, description="FRAUD_FLOOR_ROC_AUC")
    floor_average_precision: float = Field(
        default=0.15, description="FRAUD_FLOOR_AVERAGE_PRECISION"
    )
    alert_max_fpr: float = Field(default=0.05, description="FRAUD_ALERT_MAX_FPR")
    alert_daily_budget: int = Field(default=0, description="FRAUD_ALERT_DAILY_BUDGET")
    partitions_start: str = Field(
        description="FRAUD_PARTITIONS_START: no model partition reads days whose features saw "
        "less than their whole look-back from it"
    )
    train_on_every_file: bool = Field(default=False, description="FRAUD_TRAIN_ON_EVERY_FILE")

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRules:
        return cls(
            **_copied(cls, settings.model, settings.scoring),
            partitions_start=settings.partitions_start.isoformat(),
        )

    @property
    def days_to_cutoff(self) -> int:
        """Days a partition reads up to and including its cut-off (see ModelSettings)."""
        return self.train_days + self.delay_days + self.tuning_folds * self.validation_days


class ScoringRules(ConfigurableResource):
    """How the champion's scores become the alert queue, and when monitoring warns."""

    alert_top_cards: int = Field(default=100, description="FRAUD_ALERT_TOP_CARDS")
    reason_columns: int = Field(default=3, description="FRAUD_ALERT_REASONS")
    drift_psi_threshold: float = Field(default=0.25, description="FRAUD_DRIFT_PSI_THRESHOLD")
    drift_ks_threshold: float = Field(default=0.15, description="FRAUD_DRIFT_KS_THRESHOLD")
    performance_series_days: int = Field(default=28, description="FRAUD_PERFORMANCE_SERIES_DAYS")

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringRules:
        return cls(**_copied(cls, settings.scoring))

    @property
    def reason_names(self) -> tuple[str, ...]:
        return tuple(f"reason_{i + 1}" for i in range(self.reason_columns))
