"""Feast interop: the generated repository applies, materialises, and its online store
answers each customer's and terminal's values at their latest transaction, as the batch
features hold them."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fraud_assets.definitions import build_definitions
from fraud_assets.partitions import file_period
from fraud_assets.serving.feast_repo import (
    CUSTOMER_VIEW_FEATURES,
    SOURCE_FILE,
    TERMINAL_VIEW_FEATURES,
    write_repo,
)
from fraud_assets_tests.test_features.conftest import FILES

if not os.environ.get("CI"):
    pytest.importorskip("feast", reason="the feast extra is not installed")

pytestmark = pytest.mark.slow


def latest_rows(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per entity, its latest transaction, for entities whose latest second holds one."""
    ordered = frame.sort_values([key, "TX_DATETIME"])
    latest = ordered.groupby(key).tail(1)
    at_latest = ordered.merge(latest[[key, "TX_DATETIME"]], on=[key, "TX_DATETIME"])
    single = at_latest.groupby(key).size()
    return latest[latest[key].isin(single[single == 1].index)].set_index(key)


def test_feast_serves_the_batch_features_online(file_by_file, tmp_path):
    from feast import FeatureStore

    settings, _, _ = file_by_file
    days = file_period(FILES[2], 30).partition_keys
    store = build_definitions(settings).resources["parquet_io_manager"].store()
    repo = write_repo(tmp_path / "repo", store, days)
    feast = [str(Path(sys.executable).parent / "feast")]
    end = (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()
    for command in (["apply"], ["materialize", f"{days[0]}T00:00:00", f"{end}T00:00:00"]):
        run = subprocess.run(feast + command, cwd=repo, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]

    exported = pd.read_parquet(repo / "data" / SOURCE_FILE)
    online = FeatureStore(repo_path=str(repo))
    for key, view, features in (
        ("CUSTOMER_ID", "customer_features", CUSTOMER_VIEW_FEATURES),
        ("TERMINAL_ID", "terminal_features", TERMINAL_VIEW_FEATURES),
    ):
        expected = latest_rows(exported, key).head(25)
        assert len(expected) == 25
        answer = online.get_online_features(
            features=[f"{view}:{name}" for name in features],
            entity_rows=[{key: int(entity)} for entity in expected.index],
        ).to_df()
        answer = answer.set_index(key).loc[expected.index]
        for name in features:
            assert answer[name].tolist() == expected[name].tolist(), name
