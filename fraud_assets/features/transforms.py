"""The reference transaction features (DATA.md §3) as plain PySpark column logic.

Every window count and sum is a difference of two running totals per customer or terminal:
the total up to the transaction (rows ordered by time, then transaction id) minus the total at
the window's far edge (a range frame over seconds from the first row). Both frames are updated
row by row, never re-summed, so the cost does not grow with the window's width. Amounts are
summed as exact decimals, so a total does not depend on where the history read starts: a file
computed on top of the 37 days before it gives the same bits as a recompute of everything.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

SECONDS_PER_DAY = 86_400
CUSTOMER_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_DELAY_DAYS = 7
LOOKBACK_DAYS = max(max(CUSTOMER_WINDOWS_DAYS), TERMINAL_DELAY_DAYS + max(TERMINAL_WINDOWS_DAYS))

# Cleaning admits amounts with up to 12 integer and 6 decimal digits; a double holding one
# casts back to it exactly.
_AMOUNT = DecimalType(18, 6)

KEY_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
)
CALENDAR_FEATURES = ("TX_DURING_WEEKEND", "TX_DURING_NIGHT")
CUSTOMER_FEATURES = tuple(
    f"CUSTOMER_ID_{kind}_{w}DAY_WINDOW"
    for w in CUSTOMER_WINDOWS_DAYS
    for kind in ("NB_TX", "AVG_AMOUNT")
)
TERMINAL_FEATURES = tuple(
    f"TERMINAL_ID_{kind}_{w}DAY_WINDOW" for w in TERMINAL_WINDOWS_DAYS for kind in ("NB_TX", "RISK")
)
COMPUTED_FEATURES = (*CALENDAR_FEATURES, *CUSTOMER_FEATURES, *TERMINAL_FEATURES)
# The 15 inputs of the reference models: the amount and the 14 computed features.
REFERENCE_FEATURES = ("TX_AMOUNT", *COMPUTED_FEATURES)
FEATURE_TABLE_COLUMNS = (*KEY_COLUMNS, *COMPUTED_FEATURES, "day")


@dataclass(frozen=True)
class DerivedFeature:
    """A model input computed row by row from stored features, inside the model pipeline.

    It needs no storage of its own and inherits the stored columns' guarantees (incremental,
    equal to a recompute of everything), since it reads nothing but its own row.
    """

    expression: str
    inputs: tuple[str, ...]


# How unusual the amount is for the customer: a compromised card's frauds are several times
# its usual amounts. The customer averages include the transaction itself, so they are > 0.
DERIVED_FEATURES = {
    f"TX_AMOUNT_OVER_CUSTOMER_{w}DAY_AVG": DerivedFeature(
        f"TX_AMOUNT / CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW",
        ("TX_AMOUNT", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"),
    )
    for w in CUSTOMER_WINDOWS_DAYS
}
MODEL_FEATURES = (*REFERENCE_FEATURES, *DERIVED_FEATURES)


def stored_inputs(features: Sequence[str]) -> list[str]:
    """The stored columns that the given model inputs read, in order, without repeats."""
    columns: list[str] = []
    for name in features:
        needed = DERIVED_FEATURES[name].inputs if name in DERIVED_FEATURES else (name,)
        columns += [column for column in needed if column not in columns]
    return columns


_SECONDS = "_seconds"
_ORDER = (_SECONDS, "TRANSACTION_ID")


def reference_features(cleaned: DataFrame, days: Sequence[str] | None = None) -> DataFrame:
    """The feature rows of the cleaned transactions whose `day` is in `days` (all if None).

    Every row of `cleaned` serves as history, so it must hold the LOOKBACK_DAYS before the
    first of `days` for the values to be complete.
    """
    prepared = cleaned.select(
        F.col("transaction_id").alias("TRANSACTION_ID"),
        F.col("customer_id").alias("CUSTOMER_ID"),
        F.col("terminal_id").alias("TERMINAL_ID"),
        F.col("tx_amount").alias("TX_AMOUNT"),
        F.col("tx_fraud").alias("TX_FRAUD"),
        "day",
        # Wall-clock seconds: timestamps hold the written local time as if it were UTC. The
        # timestamp itself is rebuilt from them at the end, one column less to shuffle.
        F.unix_seconds(F.col("tx_datetime")).alias(_SECONDS),
    )
    with_terminal = _terminal_windows(prepared)
    if days is not None:
        # The customer windows reach back less far than the terminal ones.
        first = date.fromisoformat(min(days)) - timedelta(days=max(CUSTOMER_WINDOWS_DAYS))
        with_terminal = with_terminal.where(F.col("day") >= first.isoformat())
    with_customer = _customer_windows(with_terminal)
    if days is not None:
        with_customer = with_customer.where(F.col("day").isin(list(days)))
    return with_customer.select(
        "TRANSACTION_ID",
        F.timestamp_seconds(F.col(_SECONDS)).alias("TX_DATETIME"),
        *KEY_COLUMNS[2:],
        *_calendar_flags(F.col(_SECONDS)),
        *CUSTOMER_FEATURES,
        *TERMINAL_FEATURES,
        "day",
    )


def _calendar_flags(seconds: Column) -> list[Column]:
    """Weekend (Saturday, Sunday) and night (hour <= 6) of the written wall-clock time."""
    weekday_from_monday = F.pmod(F.floor(seconds / SECONDS_PER_DAY) + 3, 7)
    hour = F.floor(F.pmod(seconds, SECONDS_PER_DAY) / 3_600)
    return [
        (weekday_from_monday >= 5).cast("int").alias("TX_DURING_WEEKEND"),
        (hour <= 6).cast("int").alias("TX_DURING_NIGHT"),
    ]


def _running(entity: str) -> Window:
    """Up to and including the current row, ties in time ordered by transaction id."""
    return (
        Window.partitionBy(entity)
        .orderBy(*_ORDER)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )


def _up_to(entity: str, days_before: int) -> Window:
    """Every row at or before `days_before` days before the current row's time."""
    return (
        Window.partitionBy(entity)
        .orderBy(_SECONDS)
        .rangeBetween(Window.unboundedPreceding, -days_before * SECONDS_PER_DAY)
    )


def _total_at_edge(total: str, count: str, window: Window) -> Column:
    """A running total at the last row of `window` (0 when it is empty). The running count
    rises by one per row, so it finds that row whatever the order of ties inside the frame."""
    return F.coalesce(F.max_by(total, count).over(window), F.lit(0))


def _with_running_totals(
    frame: DataFrame, entity: str, prefix: str, summed: dict[str, Column], edge_days: list[int]
) -> DataFrame:
    """Adds, per `entity`, the running count `{prefix}_count` and running sums
    `{prefix}_{name}`, and the value of each at every edge `d` days back (`..._edge_{d}`)."""
    running = _running(entity)
    count = f"{prefix}_count"
    totals = frame.select(
        "*",
        F.count(F.lit(1)).over(running).alias(count),
        *[F.sum(value).over(running).alias(f"{prefix}_{name}") for name, value in summed.items()],
    )
    names = [count, *(f"{prefix}_{name}" for name in summed)]
    return totals.select(
        "*",
        *[
            _total_at_edge(name, count, _up_to(entity, d)).alias(f"{name}_edge_{d}")
            for d in edge_days
            for name in names
        ],
    )


def _customer_windows(frame: DataFrame) -> DataFrame:
    """Per customer, window (t - w, t]: the current transaction, the earlier ones with the same
    time and a lower id, and those after t - w."""
    edges = _with_running_totals(
        frame,
        "CUSTOMER_ID",
        "_customer",
        {"amount": F.col("TX_AMOUNT").cast(_AMOUNT)},
        list(CUSTOMER_WINDOWS_DAYS),
    )
    features = []
    for w in CUSTOMER_WINDOWS_DAYS:
        count = F.col("_customer_count") - F.col(f"_customer_count_edge_{w}")
        amount = F.col("_customer_amount") - F.col(f"_customer_amount_edge_{w}")
        features += [
            count.cast("int").alias(f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"),
            (amount.cast("double") / count).alias(f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"),
        ]
    return edges.select(*frame.columns, *features)


def _terminal_windows(frame: DataFrame) -> DataFrame:
    """Per terminal, window (t - delay - w, t - delay]: labels are known a delay later, so
    only transactions at least `delay` old count, and none of the current time."""
    near = TERMINAL_DELAY_DAYS
    edges = _with_running_totals(
        frame,
        "TERMINAL_ID",
        "_terminal",
        {"frauds": F.col("TX_FRAUD").cast("long")},
        sorted({near} | {near + w for w in TERMINAL_WINDOWS_DAYS}),
    )
    features = []
    for w in TERMINAL_WINDOWS_DAYS:
        far = near + w
        count = F.col(f"_terminal_count_edge_{near}") - F.col(f"_terminal_count_edge_{far}")
        frauds = F.col(f"_terminal_frauds_edge_{near}") - F.col(f"_terminal_frauds_edge_{far}")
        features += [
            count.cast("int").alias(f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"),
            F.when(count > 0, frauds.cast("double") / count)
            .otherwise(F.lit(0.0))
            .alias(f"TERMINAL_ID_RISK_{w}DAY_WINDOW"),
        ]
    return edges.select(*frame.columns, *features)
