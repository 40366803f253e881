"""Batch scoring as pure PySpark: a feature DataFrame in, scores and the alert queue out.

Scoring is one `transform` of the champion's pipeline and one projection, so writing the scores
is a single pass over the features; everything else reads what was written.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_assets.common.scores import ALERT, HISTOGRAM_BINS, MODEL_VERSION, SCORE, SCORED_AT

SCORED_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    SCORE,
    ALERT,
    MODEL_VERSION,
    SCORED_AT,
    "day",
)


def score_rows(
    features: DataFrame,
    model: PipelineModel,
    threshold: float,
    version: str,
    scored_at: datetime,
) -> DataFrame:
    """Every feature row with the model's fraud probability, whether it raises an alert
    (score >= threshold), the model version and when it was scored."""
    score = vector_to_array("probability")[1]
    return model.transform(features).select(
        "TRANSACTION_ID",
        "TX_DATETIME",
        "CUSTOMER_ID",
        "TERMINAL_ID",
        "TX_AMOUNT",
        score.alias(SCORE),
        (score >= F.lit(threshold)).alias(ALERT),
        F.lit(version).alias(MODEL_VERSION),
        F.lit(scored_at).cast("timestamp").alias(SCORED_AT),
        "day",
    )


def score_metrics() -> dict[str, str]:
    """Aggregates observed while the scores are written: rows, alerts, the score's range and
    its histogram in HISTOGRAM_BINS equal bins of [0, 1]."""
    bins = {
        f"score_bin_{i}": f"sum(CASE WHEN least(floor({SCORE} * {HISTOGRAM_BINS}), "
        f"{HISTOGRAM_BINS - 1}) = {i} THEN 1 ELSE 0 END)"
        for i in range(HISTOGRAM_BINS)
    }
    return {
        "alerts": f"sum(CASE WHEN {ALERT} THEN 1 ELSE 0 END)",
        "scored_rows": "count(1)",
        "null_scores": f"sum(CASE WHEN {SCORE} IS NULL OR isnan({SCORE}) THEN 1 ELSE 0 END)",
        "score_min": f"min({SCORE})",
        "score_max": f"max({SCORE})",
        **bins,
    }


def top_cards(scored: DataFrame, k: int) -> DataFrame:
    """Per day, the k cards with the highest score (ties by customer id): the score, the card's
    transactions that day from the highest score down, and how many raised an alert."""
    ranked_ids = F.transform(
        F.sort_array(F.collect_list(F.struct((-F.col(SCORE)).alias("order"), "TRANSACTION_ID"))),
        lambda item: item["TRANSACTION_ID"],
    )
    cards = scored.groupBy("day", "CUSTOMER_ID").agg(
        F.max(SCORE).alias("max_score"),
        ranked_ids.alias("transaction_ids"),
        F.sum(F.col(ALERT).cast("int")).alias("alerted_transactions"),
        F.count(F.lit(1)).alias("transactions"),
        F.max(MODEL_VERSION).alias(MODEL_VERSION),
    )
    order = Window.partitionBy("day").orderBy(F.desc("max_score"), "CUSTOMER_ID")
    return (
        cards.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= k)
        .withColumn("top_transaction_id", F.col("transaction_ids")[0])
    )
