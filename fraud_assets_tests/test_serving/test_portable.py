"""The portable scorer gives the Spark pipeline's probabilities to 1e-6, for both families it
serves, and round-trips through an MLflow run; other families are refused by name."""

import mlflow
import numpy as np
import pytest

from fraud_assets.features.transforms import MODEL_FEATURES, stored_inputs
from fraud_assets.model.portable import NotPortableError, export, load_portable, log_portable
from fraud_assets.model.training import fit, with_scores
from fraud_assets.partitions import file_period
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets_tests.conftest import local_mlflow
from fraud_assets_tests.test_features.conftest import FILES, stored_features

pytestmark = pytest.mark.slow

PARAMS = {
    "logistic_regression": {
        "family": "logistic_regression",
        "balance": 0.5,
        "reg_param": 0.01,
        "elastic_net": 0.0,
    },
    "xgboost": {
        "family": "xgboost",
        "balance": 0.5,
        "n_estimators": 30,
        "max_depth": 4,
        "learning_rate": 0.2,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
    },
}


@pytest.fixture(scope="module")
def feature_tables(file_by_file, spark):
    settings, _, _ = file_by_file
    train = stored_features(settings, file_period(FILES[1], 30).partition_keys)
    test = stored_features(settings, file_period(FILES[2], 30).partition_keys)
    return spark.createDataFrame(train), test


@pytest.mark.parametrize("family", sorted(PARAMS))
def test_portable_probabilities_equal_the_spark_pipeline(feature_tables, spark, family, tmp_path):
    train, test = feature_tables
    model = fit(train, PARAMS[family], MODEL_FEATURES, seed=3)
    inputs = stored_inputs(MODEL_FEATURES)
    expected = (
        with_scores(spark.createDataFrame(test), {"score": model})
        .select("TRANSACTION_ID", "score")
        .toPandas()
        .sort_values("TRANSACTION_ID")["score"]
        .to_numpy()
    )
    with mlflow.start_run(experiment_id=experiment(tmp_path)) as run:
        log_portable(model, inputs)
    portable = load_portable(run.info.run_id)
    actual = portable.probabilities(test.sort_values("TRANSACTION_ID"))

    assert portable.family == family
    assert len(actual) == len(expected) > 1_000
    assert np.max(np.abs(actual - expected)) <= 1e-6
    assert 0.0 < actual.mean() < 1.0


def experiment(folder) -> str:
    """A fresh MLflow store under `folder`, active, and its experiment's id."""
    tracking = MlflowResource.from_settings(local_mlflow(folder, "portable"))
    tracking.activate()
    return tracking.experiment_id()


def test_a_family_without_portable_form_is_refused_by_name(feature_tables):
    train, _ = feature_tables
    params = {
        "family": "random_forest",
        "balance": 0.5,
        "num_trees": 5,
        "max_depth": 3,
        "min_instances": 1,
    }
    model = fit(train, params, MODEL_FEATURES, seed=3)
    with pytest.raises(NotPortableError, match="RandomForestClassificationModel"):
        export(model, stored_inputs(MODEL_FEATURES))


def test_a_run_without_portable_model_says_what_to_do(tmp_path):
    with mlflow.start_run(experiment_id=experiment(tmp_path)) as run:
        mlflow.log_param("empty", 1)
    with pytest.raises(NotPortableError, match="re-materialise its fraud_model"):
        load_portable(run.info.run_id)


def test_a_model_whose_derived_features_changed_is_refused(tmp_path):
    spec = {
        "inputs": ["TX_AMOUNT"],
        "assembled": ["TX_AMOUNT", "TX_AMOUNT_OVER_CUSTOMER_1DAY_AVG"],
        "derived_sql": "SELECT *, TX_AMOUNT / 2 AS TX_AMOUNT_OVER_CUSTOMER_1DAY_AVG FROM __THIS__",
        "family": "logistic_regression",
        "linear": {"mean": [0, 0], "scale": [1, 1], "coefficients": [1, 1], "intercept": 0},
    }
    with mlflow.start_run(experiment_id=experiment(tmp_path)) as run:
        mlflow.log_dict(spec, "serving/model.json")
    with pytest.raises(NotPortableError, match="not those this code defines"):
        load_portable(run.info.run_id)
