"""Which failures a retry can mend.

Every asset that reads or writes storage carries the retry policy of `transient_retry_policy`:
a store that is briefly down or returns errors is tried again with exponential backoff (after
the clients' own retries), and the run goes on. An error in the data or the configuration is a
`DataError`: it fails the step at once, whatever its retry policy, because running again would
only fail again.
"""

from collections.abc import Sequence

from dagster import Backoff, Failure, Jitter, RetryPolicy

from fraud_assets.settings import Settings


class DataError(Failure):
    """Wrong data, a missing input or a misconfiguration: not retried."""

    def __init__(self, message: str = "", metadata: dict | None = None) -> None:
        super().__init__(description=message, metadata=metadata, allow_retries=False)


class IncompleteInputError(DataError, RuntimeError):
    """Days a computation reads hold data in a landed file but none is published."""


def unpublished_days(asset: str, missing: Sequence[str], needed_by: str) -> str:
    """What to say when `needed_by` reads days of `asset` that are not published: how many,
    their span and the first of them (a gap inside a span shows)."""
    days = sorted(missing)
    named = ", ".join(days[:5]) + (", ..." if len(days) > 5 else "")
    return (
        f"{needed_by}: {asset} lacks {len(days)} days that are not materialised "
        f"({days[0]}..{days[-1]}), namely {named}; ingest the files that cover them first"
    )


def transient_retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.step_max_retries,
        delay=settings.step_retry_delay_seconds,
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )
