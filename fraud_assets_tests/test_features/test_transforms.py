from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features.transforms import (
    EARLY_RISK_FEATURE,
    FEATURE_TABLE_COLUMNS,
    KNOWN_FRAUD_AGE_FEATURE,
    LOOKBACK_DAYS,
    PREVIOUS_GAP_FEATURE,
    REFERENCE_FEATURES,
    STORED_FEATURES,
    feature_rows,
)
from fraud_assets_tests.test_features import reference

# A Saturday, one second before 07:00: the edges of the weekend and night flags are crossed.
EDGES_START = datetime(2019, 8, 24, 6, 59, 59)
EDGES_FIRST_ID = 10_000_000
DAY = 86_400


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    simulated = reference.simulated_cleaned(days=45, customers=40, terminals=150, seed=3)
    edges = reference.edge_cases(EDGES_FIRST_ID, EDGES_START)
    return pd.concat([simulated, edges], ignore_index=True)


@pytest.fixture(scope="module")
def expected(cleaned: pd.DataFrame) -> pd.DataFrame:
    return reference.reference_features(cleaned).set_index("TRANSACTION_ID").sort_index()


def _computed(spark, cleaned: pd.DataFrame, days=None) -> pd.DataFrame:
    # Shuffled input: nothing may depend on the order rows arrive in.
    shuffled = cleaned.sample(frac=1.0, random_state=11)
    frame = feature_rows(reference.to_spark(spark, shuffled), days)
    assert tuple(frame.columns) == FEATURE_TABLE_COLUMNS
    return frame.toPandas().set_index("TRANSACTION_ID").sort_index()


def _assert_same_features(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.index) == list(expected.index)
    for name in STORED_FEATURES:
        np.testing.assert_allclose(
            actual[name].to_numpy(dtype=float),
            expected[name].to_numpy(dtype=float),
            rtol=1e-12,
            atol=1e-9,
            err_msg=name,
        )


def test_reference_set_is_the_amount_and_fourteen_computed_features():
    assert len(REFERENCE_FEATURES) == 15
    assert REFERENCE_FEATURES[0] == "TX_AMOUNT"
    assert LOOKBACK_DAYS == 37


def test_spark_features_equal_the_literal_definitions(spark, cleaned, expected):
    actual = _computed(spark, cleaned)
    _assert_same_features(actual, expected)
    keys = cleaned.set_index("transaction_id").sort_index()
    assert (actual["CUSTOMER_ID"] == keys["customer_id"]).all()
    assert (actual["TX_AMOUNT"] == keys["tx_amount"]).all()
    assert (actual["day"] == keys["day"]).all()


def test_edges_have_the_values_their_definitions_give(spark, cleaned):
    edges = _computed(spark, cleaned).query("CUSTOMER_ID == 900001")
    first = EDGES_FIRST_ID
    at = edges.loc
    # Same second: each holds itself and the lower ids, not the later ones.
    assert [at[first + order, "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] for order in (3, 4, 5)] == [1, 2, 3]
    assert at[first + 3, "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == pytest.approx(0.123456, abs=1e-12)
    # One second short of a day is inside the window, a whole day is outside.
    assert at[first + 6, "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 4
    assert at[first + 7, "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert at[first + 12, "CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 7
    # The terminal sees the three transactions of the first second exactly 7 days on, with
    # their one fraud; 8 days on they have left the 1-day window, where two others now are.
    assert at[first + 9, "TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 3
    assert at[first + 9, "TERMINAL_ID_RISK_1DAY_WINDOW"] == pytest.approx(1 / 3, abs=1e-12)
    assert at[first + 10, "TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 2
    assert at[first + 10, "TERMINAL_ID_RISK_1DAY_WINDOW"] == 0.0
    assert at[first + 10, "TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 5
    assert at[first + 5, "TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 0
    assert at[first + 5, "TERMINAL_ID_RISK_30DAY_WINDOW"] == 0.0
    assert at[first + 5, "TX_DURING_WEEKEND"] == 1 and at[first + 5, "TX_DURING_NIGHT"] == 1
    assert at[first + 6, "TX_DURING_NIGHT"] == 1
    assert at[first + 11, "TX_DURING_NIGHT"] == 0


def test_extended_features_at_their_edges(spark, cleaned):
    edges = _computed(spark, cleaned).query("CUSTOMER_ID == 900001")
    first = EDGES_FIRST_ID
    at = edges.loc
    # A lone amount does not spread; the second of two lies one deviation above their mean.
    assert at[first + 3, "CUSTOMER_ID_AMOUNT_ZSCORE_7DAY_WINDOW"] == 0.0
    assert at[first + 4, "CUSTOMER_ID_AMOUNT_ZSCORE_7DAY_WINDOW"] == pytest.approx(1.0, abs=1e-9)
    # The first transaction has no previous one within the cap; ties in time are 0 apart.
    gaps = {order: at[first + order, PREVIOUS_GAP_FEATURE] for order in (3, 4, 12, 14, 16)}
    assert gaps == {3: 30 * DAY, 4: 0, 12: 22 * DAY - 1, 14: 7 * DAY - 1, 16: DAY - 1}
    # (t - 37 d, t - 28 d]: at 30 days it holds the first second's three (one fraud) and the
    # two of the first day; at 38 days the transaction made exactly 1 day in has left it.
    assert at[first + 12, EARLY_RISK_FEATURE] == pytest.approx(1 / 5, abs=1e-12)
    assert at[first + 14, EARLY_RISK_FEATURE] == pytest.approx(1 / 6, abs=1e-12)
    assert at[first + 16, EARLY_RISK_FEATURE] == pytest.approx(1 / 4, abs=1e-12)
    # The latest fraud at least 7 days old (frauds at 0, 7 d - 1 s and 30 d): none a second
    # before day 7, the first second's at exactly day 7, then the later ones in turn.
    ages = {order: at[first + order, KNOWN_FRAUD_AGE_FEATURE] for order in (8, 9, 12, 16)}
    assert ages == {8: 37 * DAY, 9: 7 * DAY, 12: 23 * DAY + 1, 16: 8 * DAY}


def test_selected_days_use_the_history_before_them(spark, cleaned, expected):
    last_days = sorted(cleaned.day.unique())[-5:]
    actual = _computed(spark, cleaned, last_days)
    assert set(actual["day"]) == set(last_days)
    _assert_same_features(actual, expected.loc[actual.index])
