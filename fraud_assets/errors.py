"""Which failures a retry can mend.

Every asset that reads or writes storage carries `TRANSIENT_RETRY`: a store that is briefly
down or returns errors is tried again with exponential backoff (after the clients' own
retries), and the run goes on. An error in the data or the configuration is a `DataError`: it
fails the step at once, whatever its retry policy, because running again would only fail again.
"""

from dagster import Backoff, Failure, Jitter, RetryPolicy

from fraud_assets.settings import Settings


class DataError(Failure):
    """Wrong data, a missing input or a misconfiguration: not retried."""

    def __init__(self, message: str = "", metadata: dict | None = None) -> None:
        super().__init__(description=message, metadata=metadata, allow_retries=False)


def transient_retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.step_max_retries,
        delay=settings.step_retry_delay_seconds,
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )


TRANSIENT_RETRY = transient_retry_policy(Settings.from_env())
