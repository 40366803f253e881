from datetime import date
from importlib.metadata import version

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_assets.features.transforms import stored_inputs
from fraud_assets.model.metrics import evaluate
from fraud_assets.model.sensors import cutoff_for
from fraud_assets.model.training import (
    FAMILIES,
    TimeSplit,
    collect_scores,
    feature_importances,
    fit,
    model_requirements,
    unseen_customer_rows,
)
from fraud_assets.model.tuning import mean_over_folds, search_space, tune
from fraud_assets.settings import ModelSettings

FEATURES = ["signal", "noise"]


def test_time_split_days():
    split = TimeSplit(
        date(2019, 10, 31), train_days=7, delay_days=7, test_days=7, validation_days=7,
        tuning_folds=3,
    )  # fmt: skip
    assert split.train == [f"2019-10-{d}" for d in range(25, 32)]
    assert split.test[0] == "2019-11-08" and split.test[-1] == "2019-11-14"
    # Fold 0 validates on the week ending at the cut-off, after training two weeks earlier;
    # each later fold is the same a week earlier.
    latest, _, earliest = split.folds
    assert (latest.train[0], latest.train[-1]) == ("2019-10-11", "2019-10-17")
    assert (latest.validation[0], latest.validation[-1]) == ("2019-10-25", "2019-10-31")
    assert (earliest.train[0], earliest.train[-1]) == ("2019-09-27", "2019-10-03")
    assert (earliest.validation[0], earliest.validation[-1]) == ("2019-10-11", "2019-10-17")
    assert (split.first_day, split.last_day) == (date(2019, 9, 27), date(2019, 11, 14))
    days_read = (split.cutoff - split.first_day).days + 1
    assert days_read == ModelSettings().days_to_cutoff == 35
    assert all(fold.validation[-1] <= split.cutoff.isoformat() for fold in split.folds)


def test_cutoff_waits_for_a_full_look_back():
    model = ModelSettings()
    earliest = date(2019, 9, 27)
    assert cutoff_for(date(2019, 11, 14), model, earliest) == date(2019, 10, 31)
    assert cutoff_for(date(2019, 11, 13), model, earliest) is None


def test_known_compromised_customers_leave_the_test_block(spark):
    rows = [
        # customer 1: fraud on the first training day, known long before the test.
        (1, "2019-10-01", 1),
        (1, "2019-10-20", 0),
        # customer 2: fraud on 10-12, known from 10-20 with a 7-day delay.
        (2, "2019-10-12", 1),
        (2, "2019-10-19", 0),
        (2, "2019-10-20", 0),
        # customer 3: never defrauded.
        (3, "2019-10-20", 0),
    ]
    frame = spark.createDataFrame(rows, "CUSTOMER_ID int, day string, TX_FRAUD int")
    kept = unseen_customer_rows(frame, "2019-10-01", ["2019-10-19", "2019-10-20"], 7)
    assert sorted(tuple(r) for r in kept.select("CUSTOMER_ID", "day").collect()) == [
        (2, "2019-10-19"),
        (3, "2019-10-20"),
    ]


@pytest.fixture(scope="module")
def separable(spark):
    rng = np.random.default_rng(0)
    labels = (rng.random(3000) < 0.1).astype(int)
    signal = labels * 2.0 + rng.normal(size=3000)
    rows = [
        (i, i % 300, f"2019-10-{1 + i % 5:02d}", float(s), float(rng.normal()), int(y))
        for i, (s, y) in enumerate(zip(signal, labels, strict=True))
    ]
    return spark.createDataFrame(
        rows,
        "TRANSACTION_ID long, CUSTOMER_ID int, day string, signal double, noise double, "
        "TX_FRAUD int",
    ).cache()


PARAMS = {
    "logistic_regression": {"reg_param": 0.01, "elastic_net": 0.0},
    "random_forest": {"num_trees": 10, "max_depth": 4, "min_instances": 1},
    "gbt": {"max_iter": 5, "max_depth": 3, "step_size": 0.1},
    "xgboost": {
        "n_estimators": 20,
        "max_depth": 3,
        "learning_rate": 0.2,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_learns_the_signal(separable, family):
    model = fit(separable, {"family": family, "balance": 0.5, **PARAMS[family]}, FEATURES, 1)
    table, evaluation = collect_scores(separable, {"score": model})
    scores = table["score"].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert evaluate(scores, evaluation)["roc_auc"] > 0.8
    importances = feature_importances(model, FEATURES)
    assert sum(importances.values()) == pytest.approx(1.0)
    assert importances["signal"] > importances["noise"]
    pinned = dict(requirement.split("==") for requirement in model_requirements(model))
    assert pinned["pyspark"] == version("pyspark") and pinned["pyarrow"] == version("pyarrow")
    assert any(name.startswith("xgboost") for name in pinned) == (family == "xgboost")


@pytest.mark.slow
def test_tuning_keeps_the_best_mean_over_folds_and_survives_a_failing_trial(separable):
    seen = []
    folds = [
        (separable.where(F.col("day") < last_fit), separable.where(F.col("day") == validation))
        for last_fit, validation in (("2019-10-04", "2019-10-05"), ("2019-10-03", "2019-10-04"))
    ]
    # "missing" is no column: every trial on it fails and is recorded, not raised.
    with pytest.raises(RuntimeError, match="every tuning trial failed"):
        tune(folds, ["missing"], ["logistic_regression"], 2, 60, 1, seen.append)
    assert len(seen) == 2 and all(trial.error for trial in seen)
    result = tune(folds, FEATURES, ["logistic_regression"], 3, 120, 1, seen.append)
    assert len(result.trials) == 3 and seen[-3:] == result.trials
    for trial in result.trials:
        per_fold = [m["average_precision"] for m in trial.fold_metrics]
        assert len(per_fold) == 2 and trial.objective == pytest.approx(np.mean(per_fold))
    assert result.best.objective == max(t.objective for t in result.trials)


def test_a_fold_without_frauds_leaves_the_mean_to_the_others():
    folds = [{"average_precision": 0.5}, {"average_precision": float("nan")}]
    assert mean_over_folds(folds) == {"average_precision": 0.5}
    assert np.isnan(mean_over_folds(folds[1:])["average_precision"])


def test_unknown_families_are_refused():
    with pytest.raises(ValueError, match="not among"):
        search_space(["svm"])


def test_stored_inputs_of_derived_features():
    assert stored_inputs(["TX_AMOUNT", "TX_AMOUNT_OVER_CUSTOMER_7DAY_AVG", "TX_DURING_NIGHT"]) == [
        "TX_AMOUNT",
        "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
        "TX_DURING_NIGHT",
    ]


@pytest.mark.slow
def test_a_model_computes_its_derived_inputs_from_stored_columns(spark):
    rng = np.random.default_rng(3)
    usual = rng.uniform(10, 100, 2000)
    fraud = (rng.random(2000) < 0.1).astype(int)
    # Frauds spend several times the customer's usual amount; the amount alone says little.
    amount = usual * np.where(fraud == 1, rng.uniform(3, 6, 2000), rng.uniform(0.5, 1.5, 2000))
    rows = [
        (i, i % 50, "2019-10-01", float(a), float(u), int(y))
        for i, (a, u, y) in enumerate(zip(amount, usual, fraud, strict=True))
    ]
    frame = spark.createDataFrame(
        rows,
        "TRANSACTION_ID long, CUSTOMER_ID int, day string, TX_AMOUNT double, "
        "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW double, TX_FRAUD int",
    )
    params = {"family": "logistic_regression", "balance": 0.0, "reg_param": 0.0, "elastic_net": 0}
    model = fit(frame, params, ["TX_AMOUNT_OVER_CUSTOMER_30DAY_AVG"], 1)
    table, evaluation = collect_scores(frame, {"score": model})
    assert evaluate(table["score"].to_numpy(), evaluation)["roc_auc"] > 0.95
