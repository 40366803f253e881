"""The registered model `fraud_detector`, its `champion` alias, promotion and rollback.

Promotion history lives on the model versions as tags: the version a promotion replaced
(`previous_champion`), the evidence it was based on (`promotion_evidence`, the validation run)
and why. A rollback follows `previous_champion` one step back, so repeated rollbacks walk the
history. The evidence tag makes a decision idempotent: the same validation never moves the
alias twice, even after a rollback.

Tags are written before the alias moves, so a crash between the two leaves the old champion in
place with its own history intact, and the decision is simply made again: evidence counts as
used only once the version holds (or held and was rolled back from) the alias on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fraud_assets.errors import DataError
from fraud_assets.resources.mlflow import REGISTERED_MODEL

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
PREVIOUS_TAG = "previous_champion"
EVIDENCE_TAG = "promotion_evidence"
REASON_TAG = "promotion_reason"
PROMOTED_AT_TAG = "promoted_at"
ROLLED_BACK_AT_TAG = "rolled_back_at"
ROLLED_BACK_EVIDENCE_TAG = "rolled_back_evidence"
CUTOFF_TAG = "dagster.partition"
# What a version serves with, written by model_validation before it can become champion.
THRESHOLD_TAG = "alert_threshold"
ALERT_RULE_TAG = "alert_rule"
AP_LOWER_BOUND_TAG = "validation_average_precision_ci_low"
# The candidate run's summary of its training window, which drift is measured against.
PROFILE_ARTIFACT = "monitoring/reference_profile.json"


class RollbackError(RuntimeError):
    """There is no earlier champion to go back to."""


def champion_version(client: MlflowClient, name: str = REGISTERED_MODEL) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


@dataclass(frozen=True)
class Serving:
    """A version as scoring uses it: where its model and training run are, and its alert
    threshold and validation interval."""

    version: str
    run_id: str
    cutoff: str | None
    threshold: float
    alert_rule: str
    average_precision_lower_bound: float | None

    @property
    def model_uri(self) -> str:
        return f"models:/{REGISTERED_MODEL}/{self.version}"


class NoChampionError(DataError, RuntimeError):
    """Scoring was asked for, but no version holds the champion alias or it cannot serve."""


def serving(client: MlflowClient, version: str | None = None) -> Serving:
    """The champion (or the given version) with what it needs to serve."""
    found = client.get_model_version(REGISTERED_MODEL, version) if version else None
    found = found or champion_version(client)
    if found is None:
        raise NoChampionError(
            f"{REGISTERED_MODEL} has no {CHAMPION} alias yet: materialise a model partition "
            "(job train_model, or `fraud-pipeline run`) before scoring"
        )
    tags = found.tags
    if THRESHOLD_TAG not in tags:
        raise NoChampionError(
            f"version {found.version} of {REGISTERED_MODEL} has no {THRESHOLD_TAG} tag: "
            "re-materialise model_validation for its partition "
            f"({tags.get(CUTOFF_TAG, 'unknown')}) so that its alert threshold is chosen"
        )
    lower = tags.get(AP_LOWER_BOUND_TAG)
    return Serving(
        version=str(found.version),
        run_id=found.run_id,
        cutoff=tags.get(CUTOFF_TAG),
        threshold=float(tags[THRESHOLD_TAG]),
        alert_rule=tags.get(ALERT_RULE_TAG, ""),
        average_precision_lower_bound=float(lower) if lower else None,
    )


def reference_profile(version: Serving) -> dict[str, Any]:
    """The profile of the version's training window that drift and reasons compare with."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{PROFILE_ARTIFACT}")
    except (MlflowException, OSError) as error:
        raise NoChampionError(
            f"version {version.version} of {REGISTERED_MODEL} has no {PROFILE_ARTIFACT} in "
            f"its run {version.run_id}: re-materialise fraud_model for its partition "
            f"({version.cutoff or 'unknown'}) to log it ({error})"
        ) from None


def record_serving(
    client: MlflowClient, version: str, threshold: float, rule: str, lower_bound: float
) -> None:
    for key, value in {
        THRESHOLD_TAG: repr(threshold),
        ALERT_RULE_TAG: rule,
        AP_LOWER_BOUND_TAG: repr(lower_bound),
    }.items():
        client.set_model_version_tag(REGISTERED_MODEL, version, key, value)


def cutoff_of(version: ModelVersion | None) -> str | None:
    """The cut-off day (model partition) a registered version was trained for."""
    return version.tags.get(CUTOFF_TAG) if version is not None else None


def decide(
    candidate: str,
    champion: str | None,
    compared_with: str | None,
    significant: bool,
    evidence_already_used: bool,
    summary: str,
    floor_passed: bool,
    candidate_cutoff: str | None = None,
    champion_cutoff: str | None = None,
    allow_older_cutoff: bool = False,
) -> Decision:
    """Whether the candidate version takes the alias; `summary` states the test's outcome."""
    if champion == candidate:
        return Decision(False, f"version {candidate} is already the champion")
    if not floor_passed:
        return Decision(False, f"version {candidate} did not pass the quality floor")
    if evidence_already_used:
        return Decision(
            False,
            f"this validation already promoted version {candidate} once; the alias is not "
            "moved twice on the same evidence",
        )
    if champion is None:
        return Decision(True, f"first champion: version {candidate} passed the quality floor")
    if compared_with != champion:
        return Decision(
            False,
            f"the champion changed since validation (compared with version {compared_with}, "
            f"now {champion}); re-materialise model_validation for this partition",
        )
    older = candidate_cutoff and champion_cutoff and candidate_cutoff < champion_cutoff
    if older and not allow_older_cutoff:
        return Decision(
            False,
            f"version {candidate} was trained on cut-off {candidate_cutoff}, before the "
            f"champion's {champion_cutoff}: an older model never replaces a newer one unless "
            "champion_model's config says allow_older_cutoff",
        )
    if significant:
        return Decision(True, f"significant improvement over version {champion}: {summary}")
    return Decision(False, f"no significant improvement over version {champion}: {summary}")


def promote(
    client: MlflowClient,
    version: str,
    evidence: str,
    reason: str,
    name: str = REGISTERED_MODEL,
) -> str | None:
    """Move the alias to `version`; returns the version it replaced.

    The history tags go first: a crash before the alias moves leaves the champion as it was,
    and one after leaves a champion whose `previous_champion` a rollback can follow.
    """
    current = champion_version(client, name)
    previous = str(current.version) if current else None
    tags = {
        PREVIOUS_TAG: previous or "",
        EVIDENCE_TAG: evidence,
        REASON_TAG: reason,
        PROMOTED_AT_TAG: datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHAMPION, version)
    return previous


def evidence_used(
    client: MlflowClient, version: str, evidence: str, name: str = REGISTERED_MODEL
) -> bool:
    """Whether this evidence already gave `version` the alias (it holds it, or held it and was
    rolled back); tags of a promotion that crashed before the alias moved do not count."""
    tags = client.get_model_version(name, version).tags
    if tags.get(EVIDENCE_TAG) != evidence:
        return False
    current = champion_version(client, name)
    holds = current is not None and str(current.version) == str(version)
    return holds or tags.get(ROLLED_BACK_EVIDENCE_TAG) == evidence


def rollback(client: MlflowClient, name: str = REGISTERED_MODEL) -> tuple[str, str]:
    """Give the alias back to the champion before the current one: (restored, replaced).

    The replaced version is tagged first, so a crash before the alias moves leaves a champion
    that a second rollback still takes back, and its evidence never promotes it again.
    """
    current = champion_version(client, name)
    if current is None:
        raise RollbackError(f"{name} has no {CHAMPION} alias to roll back")
    previous = current.tags.get(PREVIOUS_TAG)
    if not previous:
        raise RollbackError(
            f"version {current.version} of {name} was the first champion; none came before it"
        )
    replaced = str(current.version)
    client.set_model_version_tag(
        name, replaced, ROLLED_BACK_AT_TAG, datetime.now(UTC).isoformat(timespec="seconds")
    )
    client.set_model_version_tag(
        name, replaced, ROLLED_BACK_EVIDENCE_TAG, current.tags.get(EVIDENCE_TAG, "")
    )
    client.set_registered_model_alias(name, CHAMPION, previous)
    return previous, replaced
