"""A scorer refuses to start on a history that would make its features wrong."""

import pytest
from pyarrow import fs as pafs

from fraud_assets.ingestion.assets import CLEANED
from fraud_assets.resources.storage import ObjectStore
from fraud_assets.serving.history import HistoryError, warmed_state


def test_no_published_day_says_to_ingest_a_file(tmp_path):
    store = ObjectStore(pafs.LocalFileSystem(), str(tmp_path))
    with pytest.raises(HistoryError, match="no published cleaned_transactions day: ingest"):
        warmed_state(store, 3_600)


def test_a_gap_inside_the_look_back_is_named(tmp_path):
    store = ObjectStore(pafs.LocalFileSystem(), str(tmp_path))
    for day in ("2019-09-01", "2019-09-02", "2019-09-05"):
        store.write_json(f"{CLEANED}/partitions/{day}.json", {"version": "v", "files": []})
    with pytest.raises(HistoryError, match=r"lacks 2 days .*2019-09-03, 2019-09-04"):
        warmed_state(store, 3_600)
