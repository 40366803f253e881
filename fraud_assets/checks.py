"""What a data check found, and its form as a Dagster asset check result.

Checks are pure functions over DataFrames that return a CheckOutcome; assets turn the outcomes
into blocking AssetCheckResults, and tests call the functions directly on corrupted data.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_results(asset: str, outcomes: Mapping[str, CheckOutcome]) -> Iterator[AssetCheckResult]:
    """One result per named outcome; text metadata is rendered as Markdown."""
    for name, outcome in outcomes.items():
        yield AssetCheckResult(
            check_name=name,
            asset_key=asset,
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR,
            description=outcome.description,
            metadata={
                key: MetadataValue.md(value) if isinstance(value, str) else value
                for key, value in outcome.metadata.items()
            },
        )
