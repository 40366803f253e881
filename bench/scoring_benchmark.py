"""Batch scoring: the `scored_transactions` asset against a bare `transform(...).write`.

    uv run python bench/scoring_benchmark.py --source data/bench/quality/seed-42 \
        --rows 5000000 --rounds 2

`--source` is a data folder whose features cover 2019-12-15 .. 2020-01-20: the quality
benchmark's seed-42 folder (`model_benchmark.py data --data-dir data/bench/quality/seed-42
--files 3 --days-per-file 61 --seed 42`). From it the benchmark builds, under `--data-dir`:

- a 30-day feature "file" of about `--rows` rows, published as `transaction_features`: the
  source's days 2019-12-22 .. 2020-01-20 repeated with shifted transaction, customer and
  terminal ids until it holds that many rows;
- a champion in a fresh MLflow store: the XGBoost pipeline of the quality benchmark's best
  trial (seed 42) fitted on 2019-12-15 .. 12-21, with its threshold, bound and profile.

Each round then times, on the same data and in alternating order:

- bare: the champion loaded beforehand, `transform`, the score column and the ids, written
  as parquet partitioned by day (the least a scoring job does);
- asset: the `scored_transactions` asset over the 30 days, as `score_days` runs it: model
  loaded from the registry, scores written as a staged version, the blocking check, drift of
  every input and the score, alert counts, publication.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

TRAIN = ("2019-12-15", "2019-12-21")
FIRST_SCORED = date(2019, 12, 22)
DAYS = 30
PARAMS = {
    "family": "xgboost",
    "colsample_bytree": 0.6315933119342986,
    "learning_rate": 0.09214029234085387,
    "max_depth": 3,
    "n_estimators": 275,
    "subsample": 0.8432996648684546,
    "balance": 0.8848819741254269,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default="data/bench/quality/seed-42")
    parser.add_argument("--data-dir", default="data/bench/scoring")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    os.environ["FRAUD_DATA_DIR"] = str(data_dir)

    import mlflow
    import mlflow.spark
    from dagster import AssetKey, DagsterInstance
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from fraud_assets.common.profiles import build_profile, profile_to_json
    from fraud_assets.common.scores import SCORE, sampled_columns
    from fraud_assets.definitions import build_definitions
    from fraud_assets.features.assets import FEATURES
    from fraud_assets.features.transforms import MODEL_FEATURES, stored_inputs
    from fraud_assets.model import registry
    from fraud_assets.model.alert_rule import AlertRule
    from fraud_assets.model.metrics import EvaluationSet
    from fraud_assets.model.training import fit, with_scores
    from fraud_assets.partitions import range_tags
    from fraud_assets.resources.mlflow import REGISTERED_MODEL
    from fraud_assets.resources.storage import LocalParquetIOManager, LocalStorageRoot
    from fraud_assets.scoring.assets import SCORED
    from fraud_assets.scoring.definitions import score_days
    from fraud_assets.settings import Settings

    settings = Settings.from_env()
    defs = build_definitions(settings)
    resources = defs.resources
    spark = resources["spark"].spark_session
    source = LocalParquetIOManager(
        spark=resources["spark"],
        root=LocalStorageRoot(base_path=str(Path(args.source).resolve() / "warehouse")),
    )
    days = [(FIRST_SCORED + timedelta(days=i)).isoformat() for i in range(DAYS)]
    base = source.read_partitions([FEATURES], days)
    base_rows = base.count()
    copies = math.ceil(args.rows / base_rows)
    shift = {
        name: base.agg(F.max(name)).first()[0] + 1
        for name in ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID")
    }
    repeated = base.crossJoin(spark.range(copies).withColumnRenamed("id", "_copy"))
    for name, step in shift.items():
        repeated = repeated.withColumn(name, F.col(name) + F.col("_copy") * F.lit(step))
    storage = resources["parquet_io_manager"]
    staged = storage.stage([FEATURES], repeated.drop("_copy"), days, "benchmark")
    storage.publish(staged)
    rows = sum(staged.rows.values())
    print(f"features: {rows:,} rows over {DAYS} days ({copies} copies of {base_rows:,})")

    tracking = resources["mlflow_tracking"]
    tracking.activate()
    train = source.read_partitions(
        [FEATURES],
        [(date.fromisoformat(TRAIN[0]) + timedelta(days=i)).isoformat() for i in range(7)],
    )
    model = fit(train, PARAMS, MODEL_FEATURES, seed=42)
    held_out = with_scores(base, {SCORE: model}).select("CUSTOMER_ID", "day", "TX_FRAUD", SCORE)
    table = held_out.toPandas()
    evaluation = EvaluationSet.build(
        table["TX_FRAUD"].to_numpy(),
        table["CUSTOMER_ID"].to_numpy(),
        table["day"].factorize(sort=True)[0],
    )
    threshold = AlertRule().threshold(table[SCORE].to_numpy(), evaluation)
    reference = sampled_columns(train, stored_inputs(MODEL_FEATURES), train.count(), 100_000, 42)
    reference[SCORE] = table[SCORE].to_numpy()
    with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name="benchmark") as run:
        logged = mlflow.spark.log_model(model, artifact_path="model")
        mlflow.log_dict(profile_to_json(build_profile(reference, 42)), registry.PROFILE_ARTIFACT)
    version = str(mlflow.register_model(logged.model_uri, REGISTERED_MODEL).version)
    client = tracking.client()
    registry.record_serving(client, version, threshold, AlertRule().describe(), 0.0)
    registry.promote(client, version, run.info.run_id, "benchmark champion")
    champion = mlflow.spark.load_model(f"models:/{REGISTERED_MODEL}/{version}")

    features = storage.read_partitions([FEATURES], days)
    job = defs.resolve_job_def(score_days.name)

    def bare(round_number: int) -> float:
        out = data_dir / f"bare-{round_number}"
        started = time.perf_counter()
        champion.transform(features).select(
            "TRANSACTION_ID", vector_to_array("probability")[1].alias(SCORE), "day"
        ).write.partitionBy("day").parquet(str(out))
        seconds = time.perf_counter() - started
        shutil.rmtree(out)
        return seconds

    def asset(_: int) -> float:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=DagsterInstance.ephemeral(),
            tags=range_tags(days[0], days[-1]),
            asset_selection=[AssetKey(SCORED)],
        )
        seconds = time.perf_counter() - started
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        print(f"    asset checks: {checks}")
        return seconds

    timings: dict[str, list[float]] = {"bare": [], "asset": []}
    for number in range(args.rounds):
        order = [("bare", bare), ("asset", asset)]
        for name, measure in order if number % 2 == 0 else reversed(order):
            timings[name].append(measure(number))
            print(f"round {number + 1}: {name} {timings[name][-1]:.1f} s", flush=True)
    ratios = [a / b for a, b in zip(timings["asset"], timings["bare"], strict=True)]
    print(f"| {date.today()}, {rows:,} rows, 2 cores | seconds (median) | rows/s |")
    print("|---|---:|---:|")
    for name, values in timings.items():
        middle = statistics.median(values)
        print(f"| {name} | {middle:.1f} | {rows / middle:,.0f} |")
    print(f"ratio asset / bare per round: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
