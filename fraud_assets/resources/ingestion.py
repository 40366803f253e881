"""What a landed feed is expected to look like, and how much of it may be bad."""

from __future__ import annotations

from datetime import date

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

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestionRules:
        return cls(
            time_origin=settings.feed_time_origin.isoformat(),
            file_period_days=settings.file_period_days,
            max_quarantine_share=settings.max_quarantine_share,
            duplicate_lookback_days=settings.duplicate_lookback_days,
        )

    @property
    def origin(self) -> date:
        return date.fromisoformat(self.time_origin)
