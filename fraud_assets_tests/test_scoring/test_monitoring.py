"""Thresholds, profiles, drift, reasons and realized performance, by hand and against scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fraud_assets.common.profiles import (
    ColumnProfile,
    Drift,
    build_profile,
    drift,
    profile_from_json,
    profile_to_json,
    reasons,
)
from fraud_assets.common.scores import MODEL_VERSION
from fraud_assets.model.alert_rule import AlertRule, threshold_for_budget
from fraud_assets.model.metrics import EvaluationSet
from fraud_assets.scoring.checks import drift_outcome, performance_outcome, queue_outcome
from fraud_assets.scoring.monitoring import realized_performance, sparkline
from fraud_assets.scoring.report import performance_rows


def test_a_daily_budget_leaves_a_tie_at_the_limit_out_whole():
    scores = np.array([0.9, 0.8, 0.8, 0.5, 0.1])
    assert (scores >= threshold_for_budget(scores, days=1, daily_budget=2)).sum() == 1
    assert (scores >= threshold_for_budget(scores, days=1, daily_budget=3)).sum() == 3
    assert (scores >= threshold_for_budget(scores, days=1, daily_budget=9)).sum() == 5
    # Two days of budget 2 allow four alerts in all.
    assert (scores >= threshold_for_budget(scores, days=2, daily_budget=2)).sum() == 4


def test_the_fpr_threshold_is_the_most_permissive_under_the_rate():
    rng = np.random.default_rng(0)
    labels = (rng.random(5_000) < 0.05).astype(float)
    scores = np.round(rng.normal(labels * 2, 1), 2)
    evaluation = EvaluationSet.build(labels, np.arange(5_000), np.zeros(5_000))
    threshold = AlertRule(max_fpr=0.05).threshold(scores, evaluation)
    negatives = scores[labels == 0]
    assert (negatives >= threshold).mean() < 0.05
    lower = scores[scores < threshold].max()
    assert (negatives >= lower).mean() >= 0.05
    budget = AlertRule(daily_budget=100).threshold(scores, evaluation)
    assert (scores >= budget).sum() <= 100
    assert "100 alerts a day" in AlertRule(daily_budget=100).describe()


def test_psi_by_hand_and_ks_as_scipy():
    reference = ColumnProfile(edges=[1.0], shares=[0.5, 0.5], mean=1.0, std=1.0, sample=[0, 2])
    actual = np.array([1.0, 1e-4])
    expected = np.array([0.5, 0.5])
    by_hand = float(((actual - expected) * np.log(actual / expected)).sum())
    assert reference.psi(np.array([0.1, 0.2, 0.3])) == pytest.approx(by_hand)
    assert reference.psi(np.array([0.5, 1.5])) == pytest.approx(0.0)
    values = np.array([0.5, 1.0, 3.0])
    statistic, p_value = reference.ks(values)
    expected_ks = stats.ks_2samp([0, 2], values)
    assert (statistic, p_value) == pytest.approx((expected_ks.statistic, expected_ks.pvalue))


def test_drift_is_small_for_the_same_world_and_large_for_a_changed_one():
    rng = np.random.default_rng(1)
    amount = rng.gamma(2.0, 30.0, 50_000)
    flag = (rng.random(50_000) < 0.2).astype(float)
    profile = build_profile({"TX_AMOUNT": amount, "TX_DURING_NIGHT": flag}, seed=3)
    assert profile["TX_DURING_NIGHT"].edges == [0.0, 1.0]
    same = drift(profile, {"TX_AMOUNT": rng.gamma(2.0, 30.0, 5_000), "TX_DURING_NIGHT": flag})
    assert max(d.psi for d in same) < 0.01 and max(d.ks_statistic for d in same) < 0.05
    changed = drift(profile, {"TX_AMOUNT": 3 * rng.gamma(2.0, 30.0, 5_000)})
    assert [d.column for d in changed] == ["TX_AMOUNT"]
    assert changed[0].psi > 1 and changed[0].ks_statistic > 0.4
    assert profile_from_json(profile_to_json(profile)) == profile


def test_drift_outcome_names_the_drifting_days_and_columns():
    calm = [Drift("TX_AMOUNT", 0.02, 0.03, 0.5)]
    loud = [Drift("TX_AMOUNT", 1.4, 0.5, 1e-30), Drift("TX_DURING_NIGHT", 0.01, 0.02, 0.9)]
    passed = drift_outcome({"2019-11-01": calm}, 0.25, 0.15)
    assert passed.passed and passed.metadata["days_drifting"] == 0
    failed = drift_outcome({"2019-11-01": calm, "2019-11-02": loud}, 0.25, 0.15)
    assert not failed.passed and "1 of 2 days" in failed.description
    assert "TX_AMOUNT" in failed.description and "TX_DURING_NIGHT" not in failed.description
    assert "2019-11-02" in next(k for k in failed.metadata if k.startswith("top_drifting"))


def test_reasons_name_the_inputs_furthest_from_training():
    profile = {
        "TX_AMOUNT": ColumnProfile([50.0], [0.5, 0.5], mean=50.0, std=10.0, sample=[50.0]),
        "TX_DURING_NIGHT": ColumnProfile([1.0], [0.8, 0.2], mean=0.2, std=0.4, sample=[0.0]),
        "CONSTANT": ColumnProfile([1.0], [0.0, 1.0], mean=1.0, std=0.0, sample=[1.0]),
    }
    rows = pd.DataFrame({"TX_AMOUNT": [150.0, 52.0], "TX_DURING_NIGHT": [0.0, 1.0], "CONSTANT": 1})
    found = reasons(profile, rows, 2)
    assert found[0] == ["TX_AMOUNT = 150 (+10.0 sd)", "TX_DURING_NIGHT = 0 (-0.5 sd)"]
    assert found[1][0] == "TX_DURING_NIGHT = 1 (+2.0 sd)"


def test_realized_performance_by_hand():
    measured = realized_performance(
        scores=np.array([0.9, 0.8, 0.3, 0.1]),
        labels=np.array([1, 0, 1, 0]),
        customers=np.array([1, 2, 3, 4]),
        day_index=np.zeros(4, dtype=int),
        alerts=np.array([True, True, False, False]),
        top_k=2,
    )
    assert measured.roc_auc == pytest.approx(0.75)
    assert measured.average_precision == pytest.approx((1 + 2 / 3) / 2)
    assert measured.card_precision_at_k == pytest.approx(0.5)
    assert (measured.precision_at_threshold, measured.recall_at_threshold) == (0.5, 0.5)
    assert (measured.transactions, measured.frauds, measured.alerts) == (4, 2, 2)


def _cards(day: str, customers: list[int], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": day,
            "CUSTOMER_ID": customers,
            "max_score": scores,
            "rank": range(1, len(customers) + 1),
        }
    )


def test_the_queue_check_fails_on_a_repeated_card_a_missing_day_or_too_many():
    good = _cards("2019-11-01", [7, 3], [0.9, 0.4])
    assert queue_outcome(good, {"2019-11-01"}, k=2).passed
    assert not queue_outcome(_cards("2019-11-01", [7, 7], [0.9, 0.4]), set(), 2).passed
    assert not queue_outcome(good, {"2019-11-01", "2019-11-02"}, 2).passed
    assert not queue_outcome(good, {"2019-11-01"}, k=1).passed
    assert not queue_outcome(_cards("2019-11-01", [7, 3], [0.4, 0.9]), set(), 2).passed


def test_the_performance_check_warns_below_the_validation_bound_only_with_a_full_week():
    rows = pd.DataFrame(
        {
            "day": ["2019-11-06", "2019-11-12"],
            MODEL_VERSION: ["3", "3"],
            "rolling_days": [1, 7],
            "rolling_average_precision": [0.1, 0.55],
        }
    )
    assert performance_outcome(rows, {"3": 0.5}, 7).passed
    below = performance_outcome(rows, {"3": 0.6}, 7)
    assert not below.passed and "2019-11-12: 0.5500 < 0.6000" in below.description
    unknown = performance_outcome(rows, {"3": None}, 7)
    assert unknown.passed and "record no validation interval" in unknown.description


def test_sparkline_spans_the_range_and_leaves_gaps():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▄█"
    assert sparkline([0.2, float("nan"), 0.2]) == "▁ ▁"
    assert sparkline([]) == ""


def test_performance_rows_measure_each_day_and_the_week_ending_on_it():
    rng = np.random.default_rng(4)
    days = ["2019-11-01", "2019-11-02"]
    table = pd.DataFrame(
        {
            "day": np.repeat(days, 200),
            "CUSTOMER_ID": np.tile(np.arange(200), 2),
            "TX_FRAUD": (rng.random(400) < 0.1).astype(int),
            "score": rng.random(400),
            "alert": rng.random(400) < 0.2,
            MODEL_VERSION: np.repeat(["2", "3"], 200),
        }
    )
    table.loc[table["TX_FRAUD"] == 1, "score"] += 0.5
    rows = performance_rows(table, days, k=10, trailing_days=7)
    assert list(rows["rolling_days"]) == [1, 2] and list(rows[MODEL_VERSION]) == ["2", "3"]
    second = table[table["day"] == days[1]]
    alone = realized_performance(
        second["score"].to_numpy(),
        second["TX_FRAUD"].to_numpy(),
        second["CUSTOMER_ID"].to_numpy(),
        np.zeros(200, dtype=int),
        second["alert"].to_numpy(),
        10,
    )
    assert rows.loc[1, "average_precision"] == pytest.approx(alone.average_precision)
    assert rows.loc[0, "rolling_average_precision"] == pytest.approx(
        rows.loc[0, "average_precision"]
    )
    assert rows.loc[1, "rolling_transactions"] == 400
