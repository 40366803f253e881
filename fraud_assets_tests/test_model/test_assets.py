"""Model partitions end to end on the three generated files: candidates, validation and the
champion alias in a real local MLflow store."""

import dataclasses
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow.artifacts
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize
from mlflow import MlflowClient

from fraud_assets.definitions import build_definitions
from fraud_assets.features.assets import feature_assets
from fraud_assets.features.transforms import MODEL_FEATURES
from fraud_assets.model.assets import CANDIDATE, CHAMPION, VALIDATION, model_assets
from fraud_assets.model.registry import champion_version, rollback
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.settings import Settings
from fraud_assets_tests.conftest import local_mlflow

pytestmark = pytest.mark.slow
# The model assets as the definitions build them from the default settings.
MODEL_ASSETS = model_assets(Settings.from_env())
FEATURE_SOURCE = feature_assets(Settings.from_env())[0].to_source_asset()

WEAK = ["TX_DURING_WEEKEND"]
AMOUNT_ONLY = ["TX_AMOUNT"]
PINNED_FOR_LOGISTIC_REGRESSION = ("mlflow", "numpy", "pandas", "pyarrow", "pyspark")


@pytest.fixture(scope="module")
def model_pipeline(tmp_path_factory, file_by_file):
    """The features of the three files, a fresh local MLflow store and Dagster instance."""
    settings, _, _ = file_by_file
    settings = dataclasses.replace(
        settings, mlflow=local_mlflow(tmp_path_factory.mktemp("mlflow"), "fraud_detection_tests")
    )
    resources = build_definitions(settings).resources
    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.registry_uri)
    return resources, client, DagsterInstance.ephemeral()


def _materialize(
    pipeline, partition: str, features: list[str], floor_auc: float = 0.0, only=None
) -> Any:
    resources, _, instance = pipeline
    run_config = {
        "ops": {
            CANDIDATE: {
                "config": {
                    "families": ["logistic_regression"],
                    "features": features,
                    "max_evals": 2,
                    "floor_roc_auc": floor_auc,
                    "floor_average_precision": 0.0,
                }
            },
            VALIDATION: {"config": {"resamples": 300}},
        }
    }
    selection = AssetSelection.assets(*(only or [CANDIDATE, VALIDATION, CHAMPION]))
    if only:
        run_config = {"ops": {}}
    return materialize(
        [FEATURE_SOURCE, *MODEL_ASSETS[:3]],
        selection=selection,
        partition_key=partition,
        resources=resources,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
    )


def _checks(result) -> dict[str, Any]:
    """Check evaluations by name, read from the run's events."""
    evaluations = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {evaluation.check_name: evaluation for evaluation in evaluations}


def _decision(result) -> dict[str, Any]:
    return result.output_for_node(CHAMPION)


def _champion(client: MlflowClient) -> str:
    return str(champion_version(client).version)


def test_champion_lifecycle(model_pipeline, tmp_path):
    _, client, instance = model_pipeline

    first = _materialize(model_pipeline, "2019-10-06", AMOUNT_ONLY)
    assert first.success
    assert {name: check.passed for name, check in _checks(first).items()} == {
        "quality_floor": True,
        "champion_serves": True,
    }
    assert _decision(first)["promoted"]
    assert "first champion" in _decision(first)["reason"]
    assert _champion(client) == "1"
    candidate = first.output_for_node(CANDIDATE)
    assert candidate["version"] == "1" and candidate["test_metrics"]["roc_auc"] > 0.5
    metadata = first.asset_materializations_for_node(CANDIDATE)[0].metadata
    assert metadata["mlflow_run"].value.startswith("http://127.0.0.1:5000/#/experiments/")
    run = client.get_run(candidate["run_id"])
    assert {"test_roc_auc", "test_average_precision", "test_card_precision_at_100"} <= set(
        run.data.metrics
    )
    artifacts = {a.path for a in client.list_artifacts(candidate["run_id"], "plots")}
    assert {"plots/roc_test.png", "plots/pr_test.png", "plots/importances.png"} <= artifacts
    # A logistic regression's requirements, pinned by the pipeline (MLflow's inference would
    # add what its new process happens to import).
    source = client.get_model_version_download_uri(REGISTERED_MODEL, candidate["version"])
    requirements = mlflow.artifacts.download_artifacts(
        f"{source}/requirements.txt", dst_path=str(tmp_path)
    )
    pinned = dict(line.split("==") for line in Path(requirements).read_text().split())
    assert pinned == {name: version(name) for name in PINNED_FOR_LOGISTIC_REGRESSION}
    trials = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{candidate['run_id']}'"
    )
    trial_runs = [t for t in trials if t.info.run_name.startswith("trial")]
    assert len(trial_runs) == 2
    folds = {f"fold_{i}_val_average_precision" for i in range(3)}
    assert all(folds | {"val_average_precision"} <= set(t.data.metrics) for t in trial_runs)
    # One progress line per trial in the run's log.
    progress = [
        entry.user_message
        for entry in instance.all_logs(first.run_id)
        if entry.user_message.startswith("trial ")
    ]
    assert [line.split(":")[0] for line in progress] == [
        "trial 1/2 logistic_regression",
        "trial 2/2 logistic_regression",
    ]
    assert all("over 3 folds" in line and "best so far" in line for line in progress)

    weaker = _materialize(model_pipeline, "2019-10-20", WEAK)
    assert weaker.success
    validation = weaker.output_for_node(VALIDATION)
    assert validation["compared_with"] == "1" and not validation["significant"]
    assert validation["comparisons"]["average_precision"]["difference"]["observed"] < 0
    assert not _decision(weaker)["promoted"]
    assert _champion(client) == "1"

    stronger = _materialize(model_pipeline, "2019-11-05", list(MODEL_FEATURES))
    assert stronger.success
    validation = stronger.output_for_node(VALIDATION)
    assert validation["significant"], validation["summary"]
    assert validation["comparisons"]["average_precision"]["p_value"] < 0.05
    assert _decision(stronger)["promoted"]
    assert _champion(client) == "3"
    assert client.get_model_version("fraud_detector", "3").tags["previous_champion"] == "1"

    # The same decision again, then after a rollback: the alias does not flip twice.
    again = _materialize(model_pipeline, "2019-11-05", [], only=[CHAMPION])
    assert again.success and not _decision(again)["promoted"]
    assert rollback(client) == ("1", "3")
    replayed = _materialize(model_pipeline, "2019-11-05", [], only=[CHAMPION])
    assert replayed.success and not _decision(replayed)["promoted"]
    assert "twice" in _decision(replayed)["reason"]
    assert _champion(client) == "1"


def test_a_candidate_below_the_quality_floor_goes_no_further(model_pipeline):
    _, client, instance = model_pipeline
    versions = len(client.search_model_versions("name = 'fraud_detector'"))
    result = _materialize(model_pipeline, "2019-10-13", AMOUNT_ONLY, floor_auc=0.999)
    assert not result.success
    check = _checks(result)["quality_floor"]
    assert not check.passed
    assert "below the quality floor" in check.description
    assert len(client.search_model_versions("name = 'fraud_detector'")) == versions, (
        "a candidate below the floor is never registered"
    )
    assert result.get_asset_materialization_events() == []
    assert not instance.get_materialized_partitions(AssetKey(VALIDATION), after_cursor=None) & {
        "2019-10-13"
    }
