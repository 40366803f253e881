"""The online features equal the batch ones: every file of the shared three, replayed line by
line through validation and the online state, gives exactly the values stored in
transaction_features (same definitions, ties by transaction id, window edges)."""

import dataclasses
from collections import deque

import numpy as np
import pandas as pd
import pytest

from fraud_assets.definitions import build_definitions
from fraud_assets.features.transforms import SECONDS_PER_DAY, STORED_FEATURES, TERMINAL_DELAY_DAYS
from fraud_assets.partitions import file_period
from fraud_assets.serving.history import history_rows
from fraud_assets.serving.lines import Transaction, in_time_order, line_parser
from fraud_assets.serving.state import OnlineFeatures, feature_frame
from fraud_assets_tests.test_features.conftest import FILES, stored_features

pytestmark = pytest.mark.slow

DELAY = TERMINAL_DELAY_DAYS * SECONDS_PER_DAY


def replay(settings, name: str, state: OnlineFeatures, labels_later: bool) -> pd.DataFrame:
    """The file's transactions through `state` in time order; with `labels_later`, each
    label is withheld and folded in once the delay has passed, as a label feed brings it."""
    parse = line_parser(settings.feed_time_origin)
    ids, values = [], []
    due: deque[tuple[int, int, int]] = deque()
    with open(settings.landing_dir / name, "rb") as handle:
        lines = handle.read().splitlines()[1:]
    for raw in in_time_order(lines):
        parsed = parse(raw)
        if not isinstance(parsed, Transaction):
            continue
        if labels_later:
            while due and due[0][0] <= parsed.seconds:
                _, transaction_id, label = due.popleft()
                state.fold_labels({transaction_id: label})
            due.append((parsed.seconds + DELAY, parsed.transaction_id, parsed.fraud))
            parsed = dataclasses.replace(parsed, fraud=None)
        features = state.add(parsed)
        if isinstance(features, tuple):
            ids.append(parsed.transaction_id)
            values.append(features)
    frame = feature_frame(values)
    frame.insert(0, "TRANSACTION_ID", ids)
    return frame.sort_values("TRANSACTION_ID", ignore_index=True)


@pytest.mark.parametrize(
    ("index", "labels_later"),
    [(0, False), (2, False), (2, True)],
    ids=["first", "third", "third-labels-later"],
)
def test_replaying_a_file_online_gives_the_batch_features(file_by_file, index, labels_later):
    settings, _, _ = file_by_file
    days = file_period(FILES[index], 30).partition_keys
    store = build_definitions(settings).resources["parquet_io_manager"].store()
    before = (pd.Timestamp(days[0]) - pd.Timedelta(days=1)).date().isoformat()
    history = history_rows(store, until=before) if index else history_rows(store, until="")
    state = OnlineFeatures()
    state.warm(history)

    online = replay(settings, FILES[index], state, labels_later)
    if labels_later:
        assert state.size().pending_labels < len(online) // 4
    batch = stored_features(settings, days)

    assert len(online) == len(batch) > 1_000
    assert online["TRANSACTION_ID"].tolist() == batch["TRANSACTION_ID"].tolist()
    for name in STORED_FEATURES:
        expected = batch[name].to_numpy(dtype="float64")
        actual = online[name].to_numpy(dtype="float64")
        differing = np.flatnonzero(expected != actual)
        assert differing.size == 0, (
            f"{name}: {differing.size} values differ, e.g. transaction "
            f"{batch['TRANSACTION_ID'][differing[0]]}: batch {expected[differing[0]]!r}, "
            f"online {actual[differing[0]]!r}"
        )
