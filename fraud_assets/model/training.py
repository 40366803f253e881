"""Time-based splits, Spark ML pipelines of the four model families, scoring and importances.

A pipeline holds the feature assembly (and scaling, for logistic regression) with the model,
so a stored model scores a features table in one `transform`. Class imbalance is handled by a
weight column: frauds weigh (negatives / positives) ** balance, with `balance` tuned.
"""

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.metadata import packages_distributions, version
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import (
    GBTClassifier,
    LogisticRegression,
    LogisticRegressionModel,
    RandomForestClassifier,
)
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_assets.features.transforms import derived_statement, stored_inputs
from fraud_assets.model.metrics import EvaluationSet

LABEL = "TX_FRAUD"
WEIGHT = "class_weight"
FAMILIES = ("logistic_regression", "random_forest", "gbt", "xgboost")
EVALUATION_COLUMNS = ("TRANSACTION_ID", "CUSTOMER_ID", "day", LABEL)
_ASSEMBLED, _SCALED = "features", "scaled_features"

# xgboost.spark logs its full parameter set at INFO on every fit.
for _name in ("SparkXGBClassifier", "XGBoost-PySpark"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _days(first: date, count: int) -> list[str]:
    return [(first + timedelta(days=offset)).isoformat() for offset in range(count)]


@dataclass(frozen=True)
class Fold:
    """One prequential tuning fold: training days, then (after the delay) validation days."""

    train: list[str]
    validation: list[str]


@dataclass(frozen=True)
class TimeSplit:
    """Days of a model partition, named after its cut-off (the last training day): training
    days, the delay while labels are not yet known, then the test days.

    Tuning is prequential, as in the handbook: fold 0 trains `train_days` and validates on the
    `validation_days` ending at the cut-off, after a delay; each further fold is the same
    shifted a validation block earlier. No fold reads a day after the cut-off.
    """

    cutoff: date
    train_days: int
    delay_days: int
    test_days: int
    validation_days: int
    tuning_folds: int

    @property
    def train(self) -> list[str]:
        return _days(self.cutoff - timedelta(days=self.train_days - 1), self.train_days)

    @property
    def folds(self) -> list[Fold]:
        folds = []
        for index in range(self.tuning_folds):
            last = self.cutoff - timedelta(days=index * self.validation_days)
            validation_first = last - timedelta(days=self.validation_days - 1)
            train_first = validation_first - timedelta(days=self.delay_days + self.train_days)
            folds.append(
                Fold(
                    _days(train_first, self.train_days),
                    _days(validation_first, self.validation_days),
                )
            )
        return folds

    @property
    def test(self) -> list[str]:
        return _days(self.cutoff + timedelta(days=self.delay_days + 1), self.test_days)

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.folds[-1].train[0])

    @property
    def last_day(self) -> date:
        return self.cutoff + timedelta(days=self.delay_days + self.test_days)

    def describe(self) -> dict[str, str]:
        described = {"train": f"{self.train[0]}..{self.train[-1]}"}
        for index, fold in enumerate(self.folds):
            described[f"fold_{index}_train"] = f"{fold.train[0]}..{fold.train[-1]}"
            described[f"fold_{index}_validation"] = f"{fold.validation[0]}..{fold.validation[-1]}"
        described["test"] = f"{self.test[0]}..{self.test[-1]}"
        return described


def unseen_customer_rows(
    features: DataFrame, known_from: str, block: Sequence[str], delay_days: int
) -> DataFrame:
    """The rows of the `block` days whose customer had no fraud known by then.

    A fraud on day d is known from day d + delay_days + 1 on; frauds count from `known_from`.
    This removes cards already known as compromised, as operators would have blocked them.
    """
    frauds = (
        features.where((F.col(LABEL) == 1) & F.col("day").between(known_from, max(block)))
        .groupBy("CUSTOMER_ID")
        .agg(F.min("day").alias("_first_fraud_day"))
    )
    known_by = F.date_sub(F.to_date("day"), delay_days + 1)
    return (
        features.where(F.col("day").isin(list(block)))
        .join(frauds, "CUSTOMER_ID", "left")
        .where(F.col("_first_fraud_day").isNull() | (F.to_date("_first_fraud_day") > known_by))
        .drop("_first_fraud_day")
    )


def positive_weight(frame: DataFrame, balance: float) -> float:
    counts = {row[LABEL]: row["count"] for row in frame.groupBy(LABEL).count().collect()}
    negatives, positives = counts.get(0, 0), counts.get(1, 0)
    if not positives or not negatives:
        raise ValueError(
            f"the training rows need both classes; found {positives} frauds and "
            f"{negatives} genuine transactions"
        )
    return float((negatives / positives) ** balance)


def training_frame(frame: DataFrame, features: Sequence[str], weight: float) -> DataFrame:
    """The stored inputs of the features as doubles, the label, and the class weight column."""
    return frame.select(
        *[F.col(name).cast("double").alias(name) for name in stored_inputs(features)],
        F.col(LABEL).cast("double").alias(LABEL),
        F.when(F.col(LABEL) == 1, F.lit(weight)).otherwise(F.lit(1.0)).alias(WEIGHT),
    )


def build_pipeline(params: Mapping[str, Any], features: Sequence[str], seed: int) -> Pipeline:
    """Derived inputs, assembly (+ scaling) and the classifier of `params["family"]`."""
    family = params["family"]
    stages: list = []
    statement = derived_statement(features)
    if statement:
        stages.append(SQLTransformer(statement=statement))
    stages.append(VectorAssembler(inputCols=list(features), outputCol=_ASSEMBLED))
    if family == "logistic_regression":
        stages += [
            StandardScaler(inputCol=_ASSEMBLED, outputCol=_SCALED, withMean=True, withStd=True),
            LogisticRegression(
                featuresCol=_SCALED,
                labelCol=LABEL,
                weightCol=WEIGHT,
                regParam=float(params["reg_param"]),
                elasticNetParam=float(params["elastic_net"]),
                maxIter=100,
            ),
        ]
    elif family == "random_forest":
        stages.append(
            RandomForestClassifier(
                featuresCol=_ASSEMBLED,
                labelCol=LABEL,
                weightCol=WEIGHT,
                numTrees=int(params["num_trees"]),
                maxDepth=int(params["max_depth"]),
                minInstancesPerNode=int(params["min_instances"]),
                seed=seed,
            )
        )
    elif family == "gbt":
        stages.append(
            GBTClassifier(
                featuresCol=_ASSEMBLED,
                labelCol=LABEL,
                weightCol=WEIGHT,
                maxIter=int(params["max_iter"]),
                maxDepth=int(params["max_depth"]),
                stepSize=float(params["step_size"]),
                seed=seed,
            )
        )
    elif family == "xgboost":
        from xgboost.spark import SparkXGBClassifier

        stages.append(
            SparkXGBClassifier(
                features_col=_ASSEMBLED,
                label_col=LABEL,
                weight_col=WEIGHT,
                n_estimators=int(params["n_estimators"]),
                max_depth=int(params["max_depth"]),
                learning_rate=float(params["learning_rate"]),
                subsample=float(params["subsample"]),
                colsample_bytree=float(params["colsample_bytree"]),
                random_state=seed,
                verbosity=0,
                verbose=False,
                # One xgboost worker per Spark core available to the job.
                num_workers=SparkSession.getActiveSession().sparkContext.defaultParallelism,
            )
        )
    else:
        raise ValueError(f"unknown model family {family!r}; use one of {FAMILIES}")
    return Pipeline(stages=stages)


def fit(
    frame: DataFrame, params: Mapping[str, Any], features: Sequence[str], seed: int
) -> PipelineModel:
    weight = positive_weight(frame, float(params["balance"]))
    return build_pipeline(params, features, seed).fit(training_frame(frame, features, weight))


def with_scores(frame: DataFrame, models: Mapping[str, PipelineModel]) -> DataFrame:
    """`frame` plus one fraud-probability column per named model."""
    for name, model in models.items():
        columns = frame.columns
        frame = model.transform(frame).select(
            *columns, vector_to_array("probability")[1].alias(name)
        )
    return frame


def collect_scores(
    frame: DataFrame, models: Mapping[str, PipelineModel]
) -> tuple[pd.DataFrame, EvaluationSet]:
    """Scores of every model on the same rows, as arrays, with their evaluation set."""
    scored = with_scores(frame, models).select(*EVALUATION_COLUMNS, *models)
    table = scored.toPandas()
    if table.empty:
        raise ValueError("there are no rows to evaluate the models on")
    _, day_index = np.unique(table["day"].to_numpy(), return_inverse=True)
    evaluation = EvaluationSet.build(
        table[LABEL].to_numpy(), table["CUSTOMER_ID"].to_numpy(), day_index
    )
    return table, evaluation


# Scoring a Spark model through MLflow's pyfunc hands it pandas frames over Arrow.
_SCORING_PACKAGES = ("pyspark", "numpy", "pandas", "pyarrow")


def model_requirements(model: PipelineModel) -> list[str]:
    """The distributions that load and score `model`, pinned to this environment: those of its
    stages' modules (xgboost for an XGBoost stage) and what MLflow's pyfunc scores it with.
    Handed to MLflow, which otherwise exports every dependency of a uv project it runs in
    (149 pins), or else loads the model again with Spark in a new process to see what it
    imports: 15-23 s for each logged model on 2 cores, against 1-4 s with them given
    (BENCHMARKS.md)."""
    distributions = packages_distributions()
    modules = {type(stage).__module__.split(".")[0] for stage in model.stages}
    names = {name for module in modules for name in distributions.get(module, [module])}
    return [f"{name}=={version(name)}" for name in sorted(names | set(_SCORING_PACKAGES))]


def is_xgboost_model(stage: object) -> bool:
    """Whether `stage` is a fitted XGBoost classifier, without loading xgboost for the other
    families: such a stage exists only once its module is loaded."""
    module = sys.modules.get("xgboost.spark")
    return module is not None and isinstance(stage, module.SparkXGBClassifierModel)


def feature_importances(model: PipelineModel, features: Sequence[str]) -> dict[str, float]:
    """Importance of each feature, summing to 1: impurity gain for trees, gain for XGBoost,
    the absolute coefficient on standardised features for logistic regression."""
    classifier = model.stages[-1]
    if isinstance(classifier, LogisticRegressionModel):
        values = np.abs(classifier.coefficients.toArray())
    elif is_xgboost_model(classifier):
        gains = classifier.get_booster().get_score(importance_type="total_gain")
        values = np.array([gains.get(f"f{index}", 0.0) for index in range(len(features))])
    else:
        values = classifier.featureImportances.toArray()
    total = values.sum()
    shares = values / total if total > 0 else values
    return {name: float(share) for name, share in zip(features, shares, strict=True)}
