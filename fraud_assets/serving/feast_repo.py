"""A Feast feature repository over the published features, for teams that serve features
with Feast (the `feast` extra: `uv sync --extra feast`).

Entities are the customer and the terminal; each has a feature view of the features that
belong to it (`features.transforms`: the customer windows, z-scores and gap; the terminal's
delayed windows, early risk and known-fraud age), read from one parquet file exported from
`transaction_features`. An online lookup gives an entity's values at its latest transaction.

    uv run python -m fraud_assets.serving.feast_repo OUT_DIR --days 2019-10-21..2019-11-19
    cd OUT_DIR && uv run feast apply && uv run feast materialize-incremental $(date -u +%FT%T)
"""

import argparse
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fraud_assets.features.assets import FEATURES
from fraud_assets.features.transforms import (
    CUSTOMER_FEATURES,
    EARLY_RISK_FEATURE,
    KNOWN_FRAUD_AGE_FEATURE,
    LOOKBACK_DAYS,
    PREVIOUS_GAP_FEATURE,
    TERMINAL_FEATURES,
    ZSCORE_FEATURES,
)
from fraud_assets.resources.storage import ObjectStore, read_published

CUSTOMER_VIEW_FEATURES = (*CUSTOMER_FEATURES, *ZSCORE_FEATURES, PREVIOUS_GAP_FEATURE)
TERMINAL_VIEW_FEATURES = (*TERMINAL_FEATURES, EARLY_RISK_FEATURE, KNOWN_FRAUD_AGE_FEATURE)
EXPORT_COLUMNS = [
    "TRANSACTION_ID",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_DATETIME",
    *CUSTOMER_VIEW_FEATURES,
    *TERMINAL_VIEW_FEATURES,
]
SOURCE_FILE = "transaction_features.parquet"

_STORE_YAML = """project: fraud_assets
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

_DEFINITIONS = '''"""Feast objects of fraud_assets' features."""

from fraud_assets.serving.feast_repo import definitions

(
    customer,
    terminal,
    customer_features,
    terminal_features,
) = definitions({source!r})
'''


def definitions(source_path: str) -> tuple:
    """The customer and terminal entities and their feature views over `source_path`."""
    from feast import Entity, FeatureView, Field, FileSource
    from feast.types import Float64, Int64
    from feast.value_type import ValueType

    customer = Entity(name="customer", join_keys=["CUSTOMER_ID"], value_type=ValueType.INT64)
    terminal = Entity(name="terminal", join_keys=["TERMINAL_ID"], value_type=ValueType.INT64)
    source = FileSource(
        name="transaction_features", path=source_path, timestamp_field="TX_DATETIME"
    )

    def view(name: str, entity, features: tuple[str, ...]) -> FeatureView:
        return FeatureView(
            name=name,
            entities=[entity],
            # A value older than the longest look-back no longer describes the entity.
            ttl=timedelta(days=LOOKBACK_DAYS),
            schema=[
                Field(name=feature, dtype=Int64 if _is_count(feature) else Float64)
                for feature in features
            ],
            source=source,
        )

    return (
        customer,
        terminal,
        view("customer_features", customer, CUSTOMER_VIEW_FEATURES),
        view("terminal_features", terminal, TERMINAL_VIEW_FEATURES),
    )


def _is_count(feature: str) -> bool:
    return "_NB_TX_" in feature or "_SECONDS_" in feature


def export_features(store: ObjectStore, days: list[str], path: Path) -> int:
    """Writes the published features of `days` to one parquet file; returns its rows."""
    table = read_published(store, FEATURES, days, EXPORT_COLUMNS)
    if table is None:
        raise ValueError(f"{FEATURES} has no published day among {days[0]}..{days[-1]}")
    casts = {name: pa.int64() for name in EXPORT_COLUMNS if _is_count(name) or name.endswith("_ID")}
    fields = [pa.field(field.name, casts.get(field.name, field.type)) for field in table.schema]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.cast(pa.schema(fields)), path)
    return table.num_rows


def write_repo(folder: Path, store: ObjectStore, days: list[str]) -> Path:
    """A Feast repository in `folder` over the features of `days`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    source = (folder / "data" / SOURCE_FILE).resolve()
    export_features(store, days, source)
    (folder / "feature_store.yaml").write_text(_STORE_YAML)
    (folder / "features.py").write_text(_DEFINITIONS.format(source=str(source)))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--days", required=True, help="FIRST..LAST (ISO dates)")
    args = parser.parse_args(argv)
    from fraud_assets.resources.environments import resources_for
    from fraud_assets.settings import Settings

    store = resources_for(Settings.from_env())["parquet_io_manager"].store()
    first, last = (date.fromisoformat(day) for day in args.days.split(".."))
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    write_repo(args.folder, store, days)
    print(f"Feast repository in {args.folder}: run `feast apply` there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
