"""What a data check found, and its form as a Dagster asset check result.

Checks are pure functions over DataFrames that return a CheckOutcome; assets run them on their
staged (not yet published) output, turn the outcomes into blocking AssetCheckResults with
`gate`, and publish only when every one passed. Tests call the functions directly on corrupted
data.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from fraud_assets.errors import DataError


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_results(
    asset: str,
    outcomes: Mapping[str, CheckOutcome],
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
) -> Iterator[AssetCheckResult]:
    """One result per named outcome; text metadata is rendered as Markdown."""
    for name, outcome in outcomes.items():
        yield AssetCheckResult(
            check_name=name,
            asset_key=asset,
            passed=outcome.passed,
            severity=severity,
            description=outcome.description,
            metadata={
                key: MetadataValue.md(value) if isinstance(value, str) else value
                for key, value in outcome.metadata.items()
            },
        )


class ChecksFailedError(DataError, RuntimeError):
    """Blocking checks failed on staged data: nothing was published."""


def gate(
    asset: str, outcomes: Mapping[str, CheckOutcome], discard: Callable[[], None]
) -> Iterator[AssetCheckResult]:
    """The check results; when a blocking one failed, `discard` the staged data and stop the
    step, so the output is never published and the previous data stays what readers see."""
    yield from check_results(asset, outcomes)
    failed = {name: outcome for name, outcome in outcomes.items() if not outcome.passed}
    if failed:
        discard()
        reasons = "; ".join(f"{name}: {outcome.description}" for name, outcome in failed.items())
        raise ChecksFailedError(
            f"{asset}: {len(failed)} blocking check(s) failed on the staged data, so nothing was "
            f"published and readers keep the previous data. {reasons}"
        )
