"""The composition root: every domain's definitions, merged, with the resources of the
environment that FRAUD_ENV names (see `fraud_assets.resources.environments`).

Each domain (ingestion <- features <- model <- scoring) brings its assets, checks, jobs,
sensors and schedules, built from the one Settings given here; this module is the only one
that reads the environment for the definitions, so `build_definitions(settings)` decides.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from fraud_assets.features.definitions import feature_definitions
from fraud_assets.ingestion.definitions import ingestion_definitions
from fraud_assets.model.definitions import model_definitions
from fraud_assets.resources.environments import resources_for
from fraud_assets.scoring.definitions import scoring_definitions
from fraud_assets.settings import Settings

DOMAINS = (ingestion_definitions, feature_definitions, model_definitions, scoring_definitions)


def build_definitions(settings: Settings) -> Definitions:
    return Definitions.merge(
        *(domain(settings) for domain in DOMAINS),
        Definitions(
            # One process and one Spark application a run: a process per step would start a
            # new driver (and, on a cluster, new executors) for every asset.
            executor=in_process_executor,
            resources=resources_for(settings),
        ),
    )


defs = build_definitions(Settings.from_env())
