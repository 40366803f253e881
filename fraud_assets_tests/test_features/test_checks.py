import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_assets.features import checks
from fraud_assets.features.transforms import feature_rows
from fraud_assets_tests.test_features import reference


@pytest.fixture(scope="module")
def cleaned(spark) -> DataFrame:
    table = reference.simulated_cleaned(days=10, customers=30, terminals=150, seed=9)
    return reference.to_spark(spark, table).cache()


@pytest.fixture(scope="module")
def features(cleaned) -> DataFrame:
    return feature_rows(cleaned).cache()


def _one_row_changed(features: DataFrame, column: str, value) -> DataFrame:
    first = features.agg(F.min("TRANSACTION_ID")).first()[0]
    changed = F.when(F.col("TRANSACTION_ID") == first, F.lit(value)).otherwise(F.col(column))
    return features.withColumn(column, changed.cast(features.schema[column].dataType))


def _value_checks(features: DataFrame) -> dict[str, checks.CheckOutcome]:
    profile = checks.feature_profile(features)
    return {
        "flags": checks.flags_are_binary(profile),
        "counts": checks.window_counts_in_range(profile),
        "risks": checks.risks_within_unit_interval(profile),
        "extended": checks.extended_features_in_range(profile),
        "nulls": checks.no_nulls(profile),
    }


def test_a_sound_table_passes_every_check(cleaned, features):
    assert checks.one_row_per_transaction(cleaned, features).passed
    assert all(outcome.passed for outcome in _value_checks(features).values())


def test_a_lost_or_repeated_transaction_fails_and_is_named(cleaned, features):
    lost_id = features.agg(F.max("TRANSACTION_ID")).first()[0]
    lost = checks.one_row_per_transaction(
        cleaned, features.where(F.col("TRANSACTION_ID") != lost_id)
    )
    assert not lost.passed and lost.metadata["days_broken"] == 1
    assert f"| {lost_id} | 1 | 0 |" in lost.metadata["unmatched_ids"]

    repeated = checks.one_row_per_transaction(cleaned, features.union(features.limit(1)))
    assert not repeated.passed


def test_a_swapped_id_fails_though_the_count_is_right(cleaned, features):
    swapped = _one_row_changed(features, "TRANSACTION_ID", 10**12)
    outcome = checks.one_row_per_transaction(cleaned, swapped)
    assert not outcome.passed


@pytest.mark.parametrize(
    ("column", "value", "failing"),
    [
        ("TX_DURING_NIGHT", 2, "flags"),
        ("CUSTOMER_ID_NB_TX_7DAY_WINDOW", 0, "counts"),
        ("TERMINAL_ID_NB_TX_1DAY_WINDOW", -1, "counts"),
        ("TERMINAL_ID_RISK_7DAY_WINDOW", 1.5, "risks"),
        ("TERMINAL_ID_RISK_30DAY_WINDOW", float("nan"), "risks"),
        ("CUSTOMER_ID_AMOUNT_ZSCORE_7DAY_WINDOW", float("inf"), "extended"),
        ("CUSTOMER_ID_AMOUNT_ZSCORE_30DAY_WINDOW", float("nan"), "extended"),
        ("CUSTOMER_ID_SECONDS_SINCE_PREVIOUS_TX", -1, "extended"),
        ("TERMINAL_ID_RISK_28_TO_37DAYS_AGO", 1.01, "extended"),
        ("TERMINAL_ID_SECONDS_SINCE_KNOWN_FRAUD", 37 * 86_400 + 1, "extended"),
        ("TERMINAL_ID_SECONDS_SINCE_KNOWN_FRAUD", 7 * 86_400 - 1, "extended"),
        ("TX_AMOUNT", None, "nulls"),
        ("CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW", None, "nulls"),
    ],
)
def test_each_value_check_fails_on_its_defect(features, column, value, failing):
    outcomes = _value_checks(_one_row_changed(features, column, value))
    assert {name for name, outcome in outcomes.items() if not outcome.passed} == {failing}
    assert column in outcomes[failing].description
