import mlflow
import pytest
from mlflow import MlflowClient

from fraud_assets.model.registry import (
    PREVIOUS_TAG,
    NoChampionError,
    RollbackError,
    champion_version,
    decide,
    evidence_used,
    promote,
    record_serving,
    reference_profile,
    rollback,
    serving,
)
from fraud_assets.resources.mlflow import REGISTERED_MODEL


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    """A real local registry with three versions of fraud_detector and no champion."""
    store = f"sqlite:///{tmp_path}/mlflow.db"
    registry = MlflowClient(tracking_uri=store, registry_uri=store)
    registry.create_registered_model(REGISTERED_MODEL)
    for index in range(3):
        source = tmp_path / f"model-{index}"
        source.mkdir()
        registry.create_model_version(REGISTERED_MODEL, str(source))
    return registry


def _decide(candidate, champion, compared_with, significant, used, summary, **more):
    return decide(candidate, champion, compared_with, significant, used, summary, True, **more)


def test_decisions():
    first = _decide("1", None, None, False, False, "no champion")
    assert first.promote and "first champion" in first.reason
    assert not _decide("2", "2", "1", True, False, "").promote
    assert _decide("2", "1", "1", True, False, "p = 0.001").promote
    kept = _decide("2", "1", "1", False, False, "p = 0.4")
    assert not kept.promote and "p = 0.4" in kept.reason
    replayed = _decide("2", "1", "1", True, True, "p = 0.001")
    assert not replayed.promote and "twice" in replayed.reason
    moved = _decide("3", "2", "1", True, False, "p = 0.001")
    assert not moved.promote and "re-materialise model_validation" in moved.reason


def test_the_floor_is_decided_even_without_a_champion():
    below = decide("1", None, None, False, False, "no champion", floor_passed=False)
    assert not below.promote and "quality floor" in below.reason


def _significant_gain(candidate_cutoff: str, champion_cutoff: str, **more):
    """Version 3 significantly beats champion 2 (which it was compared with)."""
    return _decide(
        "3",
        "2",
        "2",
        True,
        False,
        "p = 0.001",
        candidate_cutoff=candidate_cutoff,
        champion_cutoff=champion_cutoff,
        **more,
    )


def test_an_older_cutoff_never_replaces_a_newer_champion_unless_asked():
    older = _significant_gain("2019-10-06", "2019-11-05")
    assert not older.promote and "allow_older_cutoff" in older.reason
    assert _significant_gain("2019-10-06", "2019-11-05", allow_older_cutoff=True).promote
    assert _significant_gain("2019-11-05", "2019-10-06").promote


def test_a_crash_between_tags_and_alias_leaves_a_consistent_registry(client, monkeypatch):
    promote(client, "1", "validation-a", "first")
    moving = client.set_registered_model_alias

    def crash(*args, **kwargs):
        raise ConnectionError("registry went away")

    # Fault injection: the process dies after the history tags, before the alias moves.
    monkeypatch.setattr(client, "set_registered_model_alias", crash)
    with pytest.raises(ConnectionError):
        promote(client, "2", "validation-b", "better")
    assert str(champion_version(client).version) == "1"
    assert not evidence_used(client, "2", "validation-b"), "the promotion never happened"
    with pytest.raises(RollbackError, match="first champion"):
        rollback(client)

    monkeypatch.setattr(client, "set_registered_model_alias", moving)
    again = _decide("2", "1", "1", True, evidence_used(client, "2", "validation-b"), "p = 0.01")
    assert again.promote
    promote(client, "2", "validation-b", again.reason)
    assert evidence_used(client, "2", "validation-b")
    assert rollback(client) == ("1", "2")
    assert evidence_used(client, "2", "validation-b"), "rolled back: the evidence stays used"


def test_promotion_keeps_history_and_rollback_walks_it_back(client):
    assert champion_version(client) is None
    assert promote(client, "1", "validation-a", "first") is None
    assert promote(client, "2", "validation-b", "better") == "1"
    assert promote(client, "3", "validation-c", "better again") == "2"
    assert str(champion_version(client).version) == "3"
    assert client.get_model_version(REGISTERED_MODEL, "3").tags[PREVIOUS_TAG] == "2"
    assert evidence_used(client, "3", "validation-c")
    assert not evidence_used(client, "3", "validation-other")

    assert rollback(client) == ("2", "3")
    assert str(champion_version(client).version) == "2"
    assert rollback(client) == ("1", "2")
    with pytest.raises(RollbackError, match="first champion"):
        rollback(client)
    assert str(champion_version(client).version) == "1"


def test_rollback_without_a_champion_is_refused(client):
    with pytest.raises(RollbackError, match="no champion alias"):
        rollback(client)


def test_a_used_evidence_does_not_promote_again_after_a_rollback(client):
    promote(client, "1", "validation-a", "first")
    promote(client, "2", "validation-b", "better")
    rollback(client)
    replay = _decide("2", "1", "1", True, evidence_used(client, "2", "validation-b"), "p = 0.001")
    assert not replay.promote


def test_scoring_needs_a_champion_that_knows_its_threshold(client):
    with pytest.raises(NoChampionError, match="has no champion alias yet"):
        serving(client)
    promote(client, "1", "validation-run", "first champion")
    with pytest.raises(NoChampionError, match="re-materialise model_validation"):
        serving(client)
    record_serving(client, "1", 0.42, "false positive rate under 5.0%", 0.61)
    found = serving(client)
    assert (found.version, found.threshold, found.average_precision_lower_bound) == (
        "1",
        0.42,
        0.61,
    )
    assert found.model_uri == f"models:/{REGISTERED_MODEL}/1"
    assert serving(client, "1") == found
    # Its run logged no reference profile: drift cannot be measured, and the error says why.
    mlflow.set_tracking_uri(client.tracking_uri)
    with pytest.raises(NoChampionError, match="re-materialise fraud_model"):
        reference_profile(found)
