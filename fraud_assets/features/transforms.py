"""The transaction features as plain PySpark column logic: the reference set (DATA.md §3) and
the extended features that read what the fraud scenarios leave in the data.

Every window count and sum is a difference of two running totals per customer or terminal:
the total up to the transaction (rows ordered by time, then transaction id) minus the total at
the window's far edge (a range frame over seconds from the first row). Both frames are updated
row by row, never re-summed, so the cost does not grow with the window's width. Amounts are
summed as exact decimals, so a total does not depend on where the history read starts: a file
computed on top of the 37 days before it gives the same bits as a recompute of everything.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

SECONDS_PER_DAY = 86_400
CUSTOMER_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_WINDOWS_DAYS = (1, 7, 30)
TERMINAL_DELAY_DAYS = 7
ZSCORE_WINDOWS_DAYS = (7, 30)
# The gap to the previous transaction is capped at the longest customer window, the history
# every computation reads, so a gap never depends on where the read started.
PREVIOUS_GAP_CAP_SECONDS = max(CUSTOMER_WINDOWS_DAYS) * SECONDS_PER_DAY
# Known frauds (t - 37 d, t - 28 d]: a terminal compromised that long ago is no longer.
EARLY_RISK_DAYS = (28, TERMINAL_DELAY_DAYS + max(TERMINAL_WINDOWS_DAYS))
# A spread of amounts under half a cent is no spread: the amounts are equal to the cent.
MIN_AMOUNT_STD = 0.005
LOOKBACK_DAYS = max(max(CUSTOMER_WINDOWS_DAYS), TERMINAL_DELAY_DAYS + max(TERMINAL_WINDOWS_DAYS))
# The age of a terminal's latest known fraud is capped at the look-back, for the same reason.
KNOWN_FRAUD_CAP_SECONDS = LOOKBACK_DAYS * SECONDS_PER_DAY

# Cleaning admits amounts with up to 12 integer and 6 decimal digits; a double holding one
# casts back to it exactly. Squares are kept to 6 decimals, exact for amounts in cents.
_AMOUNT = DecimalType(18, 6)
_SQUARE = DecimalType(38, 6)

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
ZSCORE_FEATURES = tuple(f"CUSTOMER_ID_AMOUNT_ZSCORE_{w}DAY_WINDOW" for w in ZSCORE_WINDOWS_DAYS)
PREVIOUS_GAP_FEATURE = "CUSTOMER_ID_SECONDS_SINCE_PREVIOUS_TX"
EARLY_RISK_FEATURE = f"TERMINAL_ID_RISK_{EARLY_RISK_DAYS[0]}_TO_{EARLY_RISK_DAYS[1]}DAYS_AGO"
KNOWN_FRAUD_AGE_FEATURE = "TERMINAL_ID_SECONDS_SINCE_KNOWN_FRAUD"
EXTENDED_FEATURES = (
    *ZSCORE_FEATURES,
    PREVIOUS_GAP_FEATURE,
    EARLY_RISK_FEATURE,
    KNOWN_FRAUD_AGE_FEATURE,
)
STORED_FEATURES = (*COMPUTED_FEATURES, *EXTENDED_FEATURES)
# Every number of the feature table a model can read: the amount and the stored features.
NUMERIC_COLUMNS = ("TX_AMOUNT", *STORED_FEATURES)
FEATURE_TABLE_COLUMNS = (*KEY_COLUMNS, *STORED_FEATURES, "day")


@dataclass(frozen=True)
class DerivedFeature:
    """A model input computed row by row from stored features, inside the model pipeline.

    It needs no storage of its own and inherits the stored columns' guarantees (incremental,
    equal to a recompute of everything), since it reads nothing but its own row. `expression`
    is the Spark SQL the pipeline evaluates; `compute` is the same on numpy columns, for
    real-time scoring (a test holds the two to the same values).
    """

    expression: str
    inputs: tuple[str, ...]
    compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _ratio(w: int) -> DerivedFeature:
    average = f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"
    return DerivedFeature(
        f"TX_AMOUNT / {average}",
        ("TX_AMOUNT", average),
        lambda c: c["TX_AMOUNT"] / c[average],
    )


def _earlier_ratio(c: Mapping[str, np.ndarray]) -> np.ndarray:
    total = (
        c["CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW"] * c["CUSTOMER_ID_NB_TX_30DAY_WINDOW"]
        - c["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] * c["CUSTOMER_ID_NB_TX_7DAY_WINDOW"]
    )
    count = c["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] - c["CUSTOMER_ID_NB_TX_7DAY_WINDOW"]
    spread = (count > 0) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        average = np.where(spread, total / count, c["CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW"])
    return c["TX_AMOUNT"] / average


# How unusual the amount is for the customer: a compromised card's frauds are several times
# its usual amounts. The customer averages include the transaction itself, so they are > 0.
DERIVED_FEATURES = {f"TX_AMOUNT_OVER_CUSTOMER_{w}DAY_AVG": _ratio(w) for w in CUSTOMER_WINDOWS_DAYS}
# The same against the customer's spending in (t - 30 d, t - 7 d], before a compromise of
# the last week could raise it; the 30-day average when that span holds no positive total.
_EARLIER_TOTAL = (
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW * CUSTOMER_ID_NB_TX_30DAY_WINDOW"
    " - CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW * CUSTOMER_ID_NB_TX_7DAY_WINDOW"
)
_EARLIER_COUNT = "CUSTOMER_ID_NB_TX_30DAY_WINDOW - CUSTOMER_ID_NB_TX_7DAY_WINDOW"
EARLIER_RATIO_FEATURE = "TX_AMOUNT_OVER_CUSTOMER_EARLIER_AVG"
DERIVED_FEATURES[EARLIER_RATIO_FEATURE] = DerivedFeature(
    f"TX_AMOUNT / CASE WHEN {_EARLIER_COUNT} > 0 AND {_EARLIER_TOTAL} > 0 "
    f"THEN ({_EARLIER_TOTAL}) / ({_EARLIER_COUNT}) "
    "ELSE CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW END",
    (
        "TX_AMOUNT",
        "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
        "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
        "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
        "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    ),
    _earlier_ratio,
)


def derived_statement(features: Sequence[str]) -> str | None:
    """The SQL statement that adds the derived ones among `features` (None if there are none)."""
    derived = [name for name in features if name in DERIVED_FEATURES]
    if not derived:
        return None
    columns = ", ".join(f"{DERIVED_FEATURES[name].expression} AS {name}" for name in derived)
    return f"SELECT *, {columns} FROM __THIS__"


# What the quality benchmark (BENCHMARKS.md) showed to help, over three data seeds.
MODEL_FEATURES = (*REFERENCE_FEATURES, *DERIVED_FEATURES, *EXTENDED_FEATURES)


def stored_inputs(features: Sequence[str]) -> list[str]:
    """The stored columns that the given model inputs read, in order, without repeats."""
    columns: list[str] = []
    for name in features:
        needed = DERIVED_FEATURES[name].inputs if name in DERIVED_FEATURES else (name,)
        columns += [column for column in needed if column not in columns]
    return columns


_SECONDS = "_seconds"
_ORDER = (_SECONDS, "TRANSACTION_ID")


def feature_rows(cleaned: DataFrame, days: Sequence[str] | None = None) -> DataFrame:
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
        *EXTENDED_FEATURES,
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
    amount = F.col("TX_AMOUNT").cast(_AMOUNT)
    edges = _with_running_totals(
        frame,
        "CUSTOMER_ID",
        "_customer",
        {"amount": amount, "square": (amount * amount).cast(_SQUARE)},
        list(CUSTOMER_WINDOWS_DAYS),
    )
    features = []
    for w in CUSTOMER_WINDOWS_DAYS:
        count = F.col("_customer_count") - F.col(f"_customer_count_edge_{w}")
        total = F.col("_customer_amount") - F.col(f"_customer_amount_edge_{w}")
        features += [
            count.cast("int").alias(f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"),
            (total.cast("double") / count).alias(f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"),
        ]
        if w in ZSCORE_WINDOWS_DAYS:
            squares = F.col("_customer_square") - F.col(f"_customer_square_edge_{w}")
            zscore = _amount_zscore(count, total, squares)
            features.append(zscore.alias(f"CUSTOMER_ID_AMOUNT_ZSCORE_{w}DAY_WINDOW"))
    previous = F.lag(_SECONDS).over(Window.partitionBy("CUSTOMER_ID").orderBy(*_ORDER))
    gap = F.least(F.col(_SECONDS) - previous, F.lit(PREVIOUS_GAP_CAP_SECONDS))
    features.append(
        F.coalesce(gap, F.lit(PREVIOUS_GAP_CAP_SECONDS)).cast("int").alias(PREVIOUS_GAP_FEATURE)
    )
    return edges.select(*frame.columns, *features)


def _amount_zscore(count: Column, total: Column, squares: Column) -> Column:
    """(amount - mean) / standard deviation of the window's amounts, 0 when they do not spread.

    count * squares - total ** 2 is count ** 2 times the variance, exact in decimals, so equal
    amounts give exactly 0; past the decimals' range it is computed in doubles instead.
    """
    exact = F.try_subtract(
        F.try_multiply(count.cast(DecimalType(20, 0)), squares), F.try_multiply(total, total)
    )
    approximate = count * squares.cast("double") - F.pow(total.cast("double"), 2)
    spread = F.greatest(F.coalesce(exact.cast("double"), approximate), F.lit(0.0))
    std = F.sqrt(spread) / count
    mean = total.cast("double") / count
    return F.when(std >= MIN_AMOUNT_STD, (F.col("TX_AMOUNT") - mean) / std).otherwise(0.0)


def _terminal_windows(frame: DataFrame) -> DataFrame:
    """Per terminal, window (t - delay - w, t - delay]: labels are known a delay later, so
    only transactions at least `delay` old count, and none of the current time."""
    near = TERMINAL_DELAY_DAYS
    edges = _with_running_totals(
        frame,
        "TERMINAL_ID",
        "_terminal",
        {"frauds": F.col("TX_FRAUD").cast("long")},
        sorted({near, *EARLY_RISK_DAYS} | {near + w for w in TERMINAL_WINDOWS_DAYS}),
    )
    features = []
    for w in TERMINAL_WINDOWS_DAYS:
        count, risk = _terminal_risk(near, near + w)
        features += [
            count.cast("int").alias(f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"),
            risk.alias(f"TERMINAL_ID_RISK_{w}DAY_WINDOW"),
        ]
    features.append(_terminal_risk(*EARLY_RISK_DAYS)[1].alias(EARLY_RISK_FEATURE))
    # The latest fraud old enough to be known: recent means the terminal is still compromised.
    fraud_time = F.when(F.col("TX_FRAUD") == 1, F.col(_SECONDS))
    latest = F.max(fraud_time).over(_up_to("TERMINAL_ID", near))
    age = F.least(F.col(_SECONDS) - latest, F.lit(KNOWN_FRAUD_CAP_SECONDS))
    features.append(
        F.coalesce(age, F.lit(KNOWN_FRAUD_CAP_SECONDS)).cast("int").alias(KNOWN_FRAUD_AGE_FEATURE)
    )
    return edges.select(*frame.columns, *features)


def _terminal_risk(near: int, far: int) -> tuple[Column, Column]:
    """Transactions of the terminal in (t - far days, t - near days] and their fraud share
    (0 when there are none)."""
    count = F.col(f"_terminal_count_edge_{near}") - F.col(f"_terminal_count_edge_{far}")
    frauds = F.col(f"_terminal_frauds_edge_{near}") - F.col(f"_terminal_frauds_edge_{far}")
    return count, F.when(count > 0, frauds.cast("double") / count).otherwise(F.lit(0.0))
