"""The columns a score is written in, and the samples that profiles and drift are built from.

Training profiles the scores of a new model version and scoring writes and measures them, so
both name the columns from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.sql import DataFrame

SCORE = "score"
ALERT = "alert"
MODEL_VERSION = "model_version"
SCORED_AT = "scored_at"
HISTOGRAM_BINS = 10


def sample_of(frame: DataFrame, rows: int, limit: int, seed: int) -> DataFrame:
    """About `limit` random rows of a frame holding `rows` rows (all of them when fewer)."""
    fraction = min(1.0, limit / max(rows, 1))
    if fraction >= 1.0:
        return frame
    return frame.sample(withReplacement=False, fraction=fraction, seed=seed)


def sampled_columns(
    frame: DataFrame, columns: Sequence[str], rows: int, limit: int, seed: int
) -> dict[str, np.ndarray]:
    """About `limit` random rows of `columns` (of a frame holding `rows` rows) as arrays."""
    table = sample_of(frame.select(*columns), rows, limit, seed).toPandas()
    return {name: table[name].to_numpy(dtype=np.float64) for name in columns}
