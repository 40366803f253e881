"""Model benchmarks: the paired bootstrap's speed, training time and what the models reach.

    uv run python bench/model_benchmark.py bootstrap --rows 1000000 --resamples 1000
    uv run python bench/model_benchmark.py data --data-dir data/bench/model-210d --files 7
    uv run python bench/model_benchmark.py training --data-dir data/bench/model-210d \
        --cutoff 2020-03-04

`bootstrap` times B paired resamples of two models on synthetic scores, per resampling unit.
`data` runs `fraud-pipeline run --skip-models` on its own data folder (generated files with
the realistic defect rates, ingestion, features). `training` materialises one model partition
(candidate, validation, decision) on stored features through the real assets and prints the
candidate's test-block metrics, its tuning and training time and the peak memory.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fraud_assets.model.bootstrap import paired_bootstrap
from fraud_assets.model.metrics import EvaluationSet

ROOT = Path(__file__).resolve().parent.parent


def bootstrap(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    rows = args.rows
    days = rng.integers(0, 7, rows)
    customers = rng.integers(0, args.customers, rows)
    labels = (rng.random(rows) < 0.008).astype(float)
    champion = labels + rng.normal(size=rows)
    candidate = 1.1 * labels + rng.normal(size=rows)
    started = time.perf_counter()
    evaluation = EvaluationSet.build(labels, customers, days)
    setup = time.perf_counter() - started
    print(f"{rows:,} rows, {evaluation.units:,} customer-days; set-up {setup:.1f} s")
    for unit in ("customer_day", "transaction"):
        started = time.perf_counter()
        result = paired_bootstrap(
            champion, candidate, evaluation, resamples=args.resamples, unit=unit
        )
        seconds = time.perf_counter() - started
        ap = result.comparisons["average_precision"]
        print(
            f"B={args.resamples} by {unit}: {seconds:.1f} s "
            f"(AP difference {ap.difference.observed:+.4f} +- {ap.difference.std:.4f}, "
            f"p = {ap.p_value:.3g})"
        )


def data(args: argparse.Namespace) -> None:
    """Generated files (realistic defect rates) through ingestion and features, no models."""
    environment = {**os.environ, "FRAUD_DATA_DIR": str(Path(args.data_dir).resolve())}
    command = ["fraud-pipeline", "run", "--skip-models", "--defect-scale", "1"]
    command += ["--customers", str(args.customers), "--terminals", str(args.terminals)]
    command += ["--files", str(args.files), "--seed", str(args.seed)]
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True)
    print(f"data and features: {time.perf_counter() - started:.0f} s")


def training(args: argparse.Namespace) -> None:
    """One model partition (candidate, validation, decision) on stored features.

    The windows are settings read when the package is imported, so they are set first.
    """
    data_dir = Path(args.data_dir).resolve()
    os.environ.update(
        {
            "FRAUD_DATA_DIR": str(data_dir),
            "FRAUD_STORAGE_DIR": str(Path(args.storage_dir or data_dir / "warehouse").resolve()),
            "FRAUD_TRAIN_DAYS": str(args.train_days),
            "FRAUD_VALIDATION_DAYS": str(args.validation_days),
        }
    )
    from dagster import DagsterInstance, materialize
    from ingest_benchmark import PeakMemory

    from fraud_assets.definitions import build_definitions
    from fraud_assets.features.assets import transaction_features
    from fraud_assets.model.assets import CANDIDATE, champion_model, fraud_model, model_validation
    from fraud_assets.settings import Settings

    settings = Settings.from_env()
    config = {"max_evals": args.max_evals, "timeout_seconds": args.timeout}
    if args.families:
        config["families"] = args.families.split(",")
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = materialize(
            [transaction_features.to_source_asset(), fraud_model, model_validation, champion_model],
            partition_key=args.cutoff,
            resources=build_definitions(settings).resources,
            instance=DagsterInstance.ephemeral(),
            run_config={"ops": {CANDIDATE: {"config": config}}},
            raise_on_error=False,
        )
    seconds = time.perf_counter() - started
    record = result.output_for_node(CANDIDATE)
    metrics = record["test_metrics"]
    print(
        f"cut-off {args.cutoff}, window {record['days']}: {record['train_rows']:,} training rows, "
        f"{record['trials']} trials, candidate {record['seconds']:.0f} s, all three assets "
        f"{seconds:.0f} s, peak RSS {memory.peak / 1e9:.2f} GB"
    )
    print(f"best: {record['params']}")
    print(
        f"test AUC {metrics['roc_auc']:.3f}  AP {metrics['average_precision']:.3f}  "
        f"CP@100 {metrics['card_precision_at_100']:.3f}  precision/recall/F1 at FPR<5% "
        f"{metrics['precision_at_fpr']:.3f}/{metrics['recall_at_fpr']:.3f}/"
        f"{metrics['f1_at_fpr']:.3f} on {record['test_rows']:,} rows"
    )
    print(f"success: {result.success}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap")
    boot.add_argument("--rows", type=int, default=1_000_000)
    boot.add_argument("--customers", type=int, default=100_000)
    boot.add_argument("--resamples", type=int, default=1000)
    boot.set_defaults(handler=bootstrap)
    generate = commands.add_parser("data")
    generate.add_argument("--data-dir", required=True)
    generate.add_argument("--customers", type=int, default=5000)
    generate.add_argument("--terminals", type=int, default=10000)
    generate.add_argument("--files", type=int, default=7)
    generate.add_argument("--seed", type=int, default=42)
    generate.set_defaults(handler=data)
    train = commands.add_parser("training")
    train.add_argument("--data-dir", required=True)
    train.add_argument("--storage-dir", default=None, help="features storage root")
    train.add_argument("--cutoff", required=True, help="model partition (last training day)")
    train.add_argument("--train-days", type=int, default=7)
    train.add_argument("--validation-days", type=int, default=2)
    train.add_argument("--max-evals", type=int, default=12)
    train.add_argument("--timeout", type=int, default=3600)
    train.add_argument("--families", default=None, help="comma-separated; default all")
    train.set_defaults(handler=training)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
