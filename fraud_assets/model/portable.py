"""A model version in a form that scores without Spark: the same probabilities as the Spark
`PipelineModel` it was exported from (to 1e-6), computed on a pandas frame in one vectorised
call, for the streaming scorer and the REST API.

The export holds what the pipeline's stages learned: the derived-feature SQL statement, the
assembled input order, and either the standard scaler and logistic coefficients or the XGBoost
booster. Derived features are computed by their numpy form in `features.transforms`; a model
whose SQL statement is not the one those definitions give today is refused at load time, so a
changed definition can never score with the old model's meaning.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegressionModel
from pyspark.ml.feature import SQLTransformer, StandardScalerModel, VectorAssembler

from fraud_assets.features.transforms import DERIVED_FEATURES, derived_statement
from fraud_assets.model.training import is_xgboost_model

if TYPE_CHECKING:
    from xgboost import Booster

PORTABLE_DIR = "serving"
_SPEC = "model.json"
_BOOSTER = "booster.json"


class NotPortableError(ValueError):
    """The pipeline has a stage the portable scorer does not evaluate."""


@dataclass(frozen=True)
class PortableModel:
    """Scores a frame of stored inputs (doubles) with a model's learned parameters."""

    inputs: tuple[str, ...]
    assembled: tuple[str, ...]
    family: str
    linear: dict[str, Any] | None = None
    booster: Booster | None = None

    def probabilities(self, frame: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """The fraud probability of each row of `frame` (a DataFrame, or arrays by name),
        which holds `inputs`."""
        columns = {name: np.asarray(frame[name], dtype="float64") for name in self.inputs}
        matrix = np.column_stack(
            [
                DERIVED_FEATURES[name].compute(columns)
                if name in DERIVED_FEATURES
                else columns[name]
                for name in self.assembled
            ]
        )
        if self.booster is not None:
            return self.booster.inplace_predict(matrix).astype("float64")
        linear = self.linear or {}
        scaled = (matrix - np.asarray(linear["mean"])) * np.asarray(linear["scale"])
        # A row-wise sum, not a matrix product: BLAS may round a row differently with the
        # batch around it, and a score produced again must be the same score.
        margin = np.sum(scaled * np.asarray(linear["coefficients"]), axis=1) + linear["intercept"]
        return 1.0 / (1.0 + np.exp(-margin))


def export(model: PipelineModel, inputs: list[str]) -> tuple[dict[str, Any], bytes | None]:
    """The JSON spec of a fitted pipeline and, for XGBoost, its booster; raises
    NotPortableError for a family the portable scorer does not evaluate."""
    spec: dict[str, Any] = {"inputs": list(inputs), "derived_sql": None}
    booster = None
    for stage in model.stages:
        if isinstance(stage, SQLTransformer):
            spec["derived_sql"] = stage.getStatement()
        elif isinstance(stage, VectorAssembler):
            spec["assembled"] = list(stage.getInputCols())
        elif isinstance(stage, StandardScalerModel):
            std = stage.std.toArray()
            mean = stage.mean.toArray() if stage.getWithMean() else np.zeros_like(std)
            spec["linear"] = {
                "mean": mean.tolist(),
                "scale": [1.0 / s if s != 0 else 0.0 for s in std]
                if stage.getWithStd()
                else [1.0] * len(std),
            }
        elif isinstance(stage, LogisticRegressionModel):
            spec["family"] = "logistic_regression"
            spec.setdefault(
                "linear", {"mean": [0.0] * stage.numFeatures, "scale": [1.0] * stage.numFeatures}
            )
            spec["linear"]["coefficients"] = stage.coefficients.toArray().tolist()
            spec["linear"]["intercept"] = float(stage.intercept)
        elif is_xgboost_model(stage):
            spec["family"] = "xgboost"
            booster = bytes(stage.get_booster().save_raw("json"))
        else:
            raise NotPortableError(
                f"stage {type(stage).__name__} has no portable form: real-time scoring serves "
                "logistic_regression and xgboost models"
            )
    if "family" not in spec:
        raise NotPortableError("the pipeline has no classifier stage")
    return spec, booster


def log_portable(model: PipelineModel, inputs: list[str]) -> None:
    """Logs the portable form of `model` to the active MLflow run, under PORTABLE_DIR."""
    import mlflow

    spec, booster = export(model, inputs)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / _SPEC).write_text(json.dumps(spec))
        if booster is not None:
            (Path(folder) / _BOOSTER).write_bytes(booster)
        mlflow.log_artifacts(folder, PORTABLE_DIR)


def load_portable(run_id: str) -> PortableModel:
    """The portable model logged to a run; raises NotPortableError when there is none."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=PORTABLE_DIR, dst_path=folder
                )
            )
        except (mlflow.exceptions.MlflowException, OSError) as error:
            raise NotPortableError(
                f"run {run_id} has no portable model under {PORTABLE_DIR}/: re-materialise its "
                f"fraud_model partition, with a logistic_regression or xgboost family ({error})"
            ) from None
        spec = json.loads((local / _SPEC).read_text())
        booster = None
        if spec["family"] == "xgboost":
            from xgboost import Booster

            booster = Booster(model_file=bytearray((local / _BOOSTER).read_bytes()))
            # One row or a few thousand: threads cost more to start than they save.
            booster.set_param({"nthread": 1})
    if spec["derived_sql"] != derived_statement(spec["assembled"]):
        raise NotPortableError(
            f"run {run_id}: the model's derived features ({spec['derived_sql']}) are not "
            "those this code defines; score it in batch, or retrain it with this version"
        )
    return PortableModel(
        inputs=tuple(spec["inputs"]),
        assembled=tuple(spec["assembled"]),
        family=spec["family"],
        linear=spec.get("linear"),
        booster=booster,
    )
