"""The history an online state starts from: the latest published cleaned days."""

import logging
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa

from fraud_assets.errors import unpublished_days
from fraud_assets.features.transforms import LOOKBACK_DAYS
from fraud_assets.ingestion.assets import CLEANED
from fraud_assets.resources.storage import ObjectStore, published_days, read_published
from fraud_assets.serving.state import OnlineFeatures

logger = logging.getLogger(__name__)

_COLUMNS = ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]


class HistoryError(RuntimeError):
    """The published days cannot give the online features their whole look-back."""


def history_rows(store: ObjectStore, until: str | None = None) -> pd.DataFrame:
    """Cleaned rows of the LOOKBACK_DAYS + 1 days up to `until` (default: the latest
    published day), with `seconds`, the written wall-clock time as the features read it."""
    days = published_days(store, CLEANED)
    if until is not None:
        days = [day for day in days if day <= until]
    if not days:
        return pd.DataFrame(columns=[*_COLUMNS, "seconds"])
    last = date.fromisoformat(days[-1])
    first = max(last - timedelta(days=LOOKBACK_DAYS), date.fromisoformat(days[0]))
    wanted = [day for day in days if day >= first.isoformat()]
    expected = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    missing = sorted(set(expected) - set(wanted))
    if missing:
        raise HistoryError(
            unpublished_days(CLEANED, missing, f"the online look-back of {days[-1]}")
        )
    table = read_published(store, CLEANED, wanted, _COLUMNS)
    if table is None:
        return pd.DataFrame(columns=[*_COLUMNS, "seconds"])
    # Timestamps hold the written wall-clock time as UTC instants, in whole seconds.
    times = table["tx_datetime"]
    seconds = times.cast(pa.timestamp("s", tz=times.type.tz)).cast(pa.int64())
    frame = table.drop(["tx_datetime"]).to_pandas()
    frame["seconds"] = seconds.to_numpy()
    logger.info("history: %d cleaned rows of %s..%s", len(frame), wanted[0], wanted[-1])
    return frame


def warmed_state(
    store: ObjectStore, lateness_seconds: int, until: str | None = None
) -> OnlineFeatures:
    """A state warmed from the look-back up to `until`; raises HistoryError when no cleaned
    day is published, since features without their history would be wrong."""
    rows = history_rows(store, until)
    if rows.empty:
        raise HistoryError(
            f"no published {CLEANED} day{f' up to {until}' if until else ''}: ingest a file "
            "first (fraud-pipeline run, or a file in the landing zone for the sensor)"
        )
    state = OnlineFeatures(lateness_seconds)
    state.warm(rows)
    return state
