"""Which days the scoring sensors ask for, and the alias watch, on a real local registry."""

from dagster import SensorResult, SkipReason, build_sensor_context, instance_for_test
from mlflow import MlflowClient

from fraud_assets.model.registry import promote
from fraud_assets.resources.mlflow import REGISTERED_MODEL, MlflowResource
from fraud_assets.scoring.sensors import champion_alias_watch, days_to_measure, days_to_score


def test_days_to_score_are_the_unscored_days_after_the_cutoff():
    features = {"2019-11-04", "2019-11-05", "2019-11-06", "2019-11-07"}
    assert days_to_score(features, {"2019-11-06"}, "2019-11-05") == ["2019-11-07"]
    assert days_to_score(features, set(), None) == sorted(features)


def test_days_to_measure_wait_for_the_labels_delay():
    scored = {f"2019-11-{d:02d}" for d in range(6, 20)}
    features = {f"2019-11-{d:02d}" for d in range(1, 20)}
    assert days_to_measure(scored, {"2019-11-06"}, features, 7) == [
        f"2019-11-{d:02d}" for d in range(7, 13)
    ]
    assert days_to_measure(scored, set(), set(), 7) == []


def test_the_alias_watch_observes_the_alias_only_when_it_moved(tmp_path):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = MlflowResource(tracking_uri=store, registry_uri=store)
    client = MlflowClient(store, store)
    client.create_registered_model(REGISTERED_MODEL)
    for index in range(2):
        source = tmp_path / f"model-{index}"
        source.mkdir()
        client.create_model_version(REGISTERED_MODEL, str(source))

    def watch(instance):
        context = build_sensor_context(instance=instance, resources={"mlflow_tracking": tracking})
        result = champion_alias_watch(context)
        if isinstance(result, SensorResult):
            for event in result.asset_events:
                instance.report_runless_asset_event(event)
        return result

    with instance_for_test() as instance:
        first = watch(instance)
        assert isinstance(first, SensorResult)
        assert first.asset_events[0].tags["dagster/data_version"] == "none"
        assert isinstance(watch(instance), SkipReason)
        promote(client, "2", "validation-run", "first champion")
        moved = watch(instance)
        assert isinstance(moved, SensorResult)
        assert moved.asset_events[0].tags["dagster/data_version"] == "2"
        assert isinstance(watch(instance), SkipReason)
