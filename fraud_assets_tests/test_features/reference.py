"""A slow, literal pandas version of the feature definitions, to check the Spark ones against.

One transaction at a time, each window selected by its definition, nothing shared between
rows: no running totals, no window frames, nothing clever to get wrong the same way twice.
"""

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fraud_assets.datagen.simulator import (
    FraudState,
    make_population,
    simulate_day,
)

DAY = 86_400
SIMULATION_START = date(2019, 8, 22)
EPOCH = datetime(1970, 1, 1)

CLEANED_SCHEMA = StructType(
    [
        StructField("transaction_id", LongType()),
        StructField("tx_datetime", TimestampType()),
        StructField("customer_id", LongType()),
        StructField("terminal_id", LongType()),
        StructField("tx_amount", DoubleType()),
        StructField("tx_fraud", IntegerType()),
        StructField("day", StringType()),
    ]
)


def reference_features(cleaned: pd.DataFrame) -> pd.DataFrame:
    seconds = (cleaned["tx_datetime"] - EPOCH).dt.total_seconds().astype(np.int64)
    table = cleaned.assign(seconds=seconds)
    by_customer = dict(tuple(table.groupby("customer_id")))
    by_terminal = dict(tuple(table.groupby("terminal_id")))
    rows = []
    for tx in table.itertuples():
        t = tx.seconds
        row = {
            "TRANSACTION_ID": tx.transaction_id,
            "TX_DURING_WEEKEND": int(tx.tx_datetime.weekday() >= 5),
            "TX_DURING_NIGHT": int(tx.tx_datetime.hour <= 6),
        }
        customer = by_customer[tx.customer_id]
        not_later = (customer.seconds < t) | (
            (customer.seconds == t) & (customer.transaction_id <= tx.transaction_id)
        )
        for w in (1, 7, 30):
            window = customer[not_later & (customer.seconds > t - w * DAY)]
            row[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = len(window)
            row[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = window.tx_amount.mean()
            if w in (7, 30):
                std = window.tx_amount.std(ddof=0)
                z = (tx.tx_amount - window.tx_amount.mean()) / std if std >= 0.005 else 0.0
                row[f"CUSTOMER_ID_AMOUNT_ZSCORE_{w}DAY_WINDOW"] = z
        earlier = customer[not_later & (customer.transaction_id != tx.transaction_id)]
        gap = t - earlier.seconds.max() if len(earlier) else 30 * DAY
        row["CUSTOMER_ID_SECONDS_SINCE_PREVIOUS_TX"] = min(gap, 30 * DAY)
        terminal = by_terminal[tx.terminal_id]
        for w in (1, 7, 30):
            window = terminal[
                (terminal.seconds > t - (7 + w) * DAY) & (terminal.seconds <= t - 7 * DAY)
            ]
            row[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = len(window)
            row[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = window.tx_fraud.mean() if len(window) else 0
        early = terminal[(terminal.seconds > t - 37 * DAY) & (terminal.seconds <= t - 28 * DAY)]
        row["TERMINAL_ID_RISK_28_TO_37DAYS_AGO"] = early.tx_fraud.mean() if len(early) else 0
        known = terminal[(terminal.seconds <= t - 7 * DAY) & (terminal.tx_fraud == 1)]
        age = t - known.seconds.max() if len(known) else 37 * DAY
        row["TERMINAL_ID_SECONDS_SINCE_KNOWN_FRAUD"] = min(age, 37 * DAY)
        rows.append(row)
    return pd.DataFrame(rows)


def simulated_cleaned(days: int, customers: int, terminals: int, seed: int) -> pd.DataFrame:
    """Clean transactions of the simulator's first days, with the cleaned table's columns."""
    rng = np.random.default_rng(seed)
    population = make_population(customers, terminals, rng)
    state = FraudState()
    frames, next_id = [], 0
    for offset in range(days):
        day = SIMULATION_START + timedelta(days=offset)
        tx = simulate_day(day, population, state, rng, start=SIMULATION_START)
        ids = np.arange(next_id, next_id + len(tx))
        next_id += len(tx)
        frames.append(
            pd.DataFrame(
                {
                    "transaction_id": ids,
                    "tx_datetime": pd.Timestamp(SIMULATION_START)
                    + pd.to_timedelta(tx.seconds, "s"),
                    "customer_id": tx.customer_id,
                    "terminal_id": tx.terminal_id,
                    "tx_amount": np.round(tx.amount, 2),
                    "tx_fraud": (tx.scenario > 0).astype(np.int32),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    return table.assign(day=table.tx_datetime.dt.strftime("%Y-%m-%d"))


def edge_cases(first_id: int, start: datetime) -> pd.DataFrame:
    """Transactions placed on the definitions' edges, for a customer and a terminal of their own.

    Customer 900001: three transactions in the same second whose ids are not in input order,
    others exactly 1, 7 and 30 days later (just outside a window) and one second earlier than
    that (just inside). Terminal 900001: frauds exactly 7 and 8 days (and a second) before
    later transactions, at the edges of the delayed windows.
    """
    moments = [
        (0, 5, 0), (0, 3, 1), (0, 4, 0),
        (DAY - 1, 6, 0), (DAY, 7, 0),
        (7 * DAY - 1, 8, 1), (7 * DAY, 9, 0),
        (8 * DAY, 10, 0), (8 * DAY + 1, 11, 0),
        (30 * DAY, 12, 1), (30 * DAY + 1, 13, 0),
        (37 * DAY, 14, 0), (37 * DAY + 1, 15, 0), (38 * DAY, 16, 0),
    ]  # fmt: skip
    amounts = [10.5, 0.123456, 99.99, 12.0, 7.25, 1000.0, 3.5, 42.0, 1.01, 18.75, 2.5, 6.0,
               0.01, 123456.78]  # fmt: skip
    times = [pd.Timestamp(start) + pd.Timedelta(seconds=offset) for offset, _, _ in moments]
    table = pd.DataFrame(
        {
            "transaction_id": [first_id + order for _, order, _ in moments],
            "tx_datetime": times,
            "customer_id": 900_001,
            "terminal_id": 900_001,
            "tx_amount": amounts,
            "tx_fraud": np.array([fraud for _, _, fraud in moments], dtype=np.int32),
        }
    )
    return table.assign(day=table.tx_datetime.dt.strftime("%Y-%m-%d"))


def to_spark(spark: SparkSession, cleaned: pd.DataFrame) -> DataFrame:
    columns = [field.name for field in CLEANED_SCHEMA.fields]
    return spark.createDataFrame(cleaned[columns], CLEANED_SCHEMA)
