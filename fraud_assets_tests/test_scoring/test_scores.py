"""The alert queue's ranking and the observed score histogram, on a tiny Spark frame."""

from pyspark.sql import functions as F

from fraud_assets.scoring.scores import score_metrics, top_cards


def test_top_cards_rank_by_highest_score_then_customer(spark):
    rows = [
        # day, customer, transaction, score, alert
        ("2019-11-01", 1, 10, 0.2, False),
        ("2019-11-01", 1, 11, 0.9, True),
        ("2019-11-01", 2, 12, 0.9, True),
        ("2019-11-01", 3, 13, 0.5, False),
        ("2019-11-02", 3, 14, 0.1, False),
    ]
    scored = spark.createDataFrame(
        rows, "day string, CUSTOMER_ID long, TRANSACTION_ID long, score double, alert boolean"
    ).withColumn("model_version", F.lit("4"))
    cards = {
        (r["day"], r["rank"]): r for r in top_cards(scored, k=2).orderBy("day", "rank").collect()
    }
    assert sorted(cards) == [("2019-11-01", 1), ("2019-11-01", 2), ("2019-11-02", 1)]
    first = cards[("2019-11-01", 1)]
    assert first["CUSTOMER_ID"] == 1 and first["max_score"] == 0.9
    assert first["transaction_ids"] == [11, 10] and first["top_transaction_id"] == 11
    assert (first["alerted_transactions"], first["transactions"]) == (1, 2)
    assert cards[("2019-11-01", 2)]["CUSTOMER_ID"] == 2


def test_the_score_histogram_counts_every_row_once(spark):
    scored = spark.createDataFrame(
        [(0.0, False), (0.05, False), (0.95, True), (1.0, True)], "score double, alert boolean"
    )
    metrics = score_metrics()
    observed = scored.select(*[F.expr(sql).alias(name) for name, sql in metrics.items()]).first()
    assert observed["score_bin_0"] == 2 and observed["score_bin_9"] == 2
    assert sum(observed[f"score_bin_{i}"] for i in range(10)) == observed["scored_rows"] == 4
    assert observed["alerts"] == 2 and observed["null_scores"] == 0
