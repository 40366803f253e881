"""The code location the backfill test loads, as `dagster dev` loads the project's own: its
settings come from the environment the test sets before the first import."""

from fraud_assets.definitions import build_definitions
from fraud_assets.settings import Settings

defs = build_definitions(Settings.from_env())
