"""Model benchmarks: the paired bootstrap's speed, and what the pipeline's models reach.

    uv run python bench/model_benchmark.py bootstrap --rows 1000000 --resamples 1000
    uv run python bench/model_benchmark.py pipeline --customers 5000 --terminals 10000 --files 7

`bootstrap` times B resamples of two models on synthetic scores (one run per resampling
unit). `pipeline` runs `fraud-pipeline run` on its own data folder (generated data with the
realistic defect rates, ingestion, features, one model partition per file) and prints each
candidate's test-block metrics, tuning time and the champion decisions.
"""

import argparse
import json
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


def pipeline(args: argparse.Namespace) -> None:
    data = Path(args.data_dir or ROOT / "data" / "bench" / f"model-{args.customers}x{args.files}")
    environment = {**os.environ, "FRAUD_DATA_DIR": str(data)}
    command = [
        "fraud-pipeline",
        "run",
        "--customers",
        str(args.customers),
        "--terminals",
        str(args.terminals),
        "--files",
        str(args.files),
        "--defect-scale",
        "1",
        "--max-evals",
        str(args.max_evals),
    ]
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=False)
    print(f"fraud-pipeline run: {time.perf_counter() - started:.0f} s")
    records = sorted((data / "warehouse" / "fraud_model" / "records").glob("*.json"))
    for path in records:
        record = json.loads(path.read_text())
        metrics = record["test_metrics"]
        print(
            f"{record['cutoff']} v{record['version']} {record['params']['family']}: "
            f"test AUC {metrics['roc_auc']:.3f} AP {metrics['average_precision']:.3f} "
            f"CP@100 {metrics['card_precision_at_100']:.3f}; {record['trials']} trials, "
            f"{record['seconds']:.0f} s; window {record['days']}"
        )
    for path in sorted((data / "warehouse" / "champion_model" / "records").glob("*.json")):
        decision = json.loads(path.read_text())
        print(
            f"{decision['cutoff']}: champion v{decision['champion_version']}: {decision['reason']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap")
    boot.add_argument("--rows", type=int, default=1_000_000)
    boot.add_argument("--customers", type=int, default=100_000)
    boot.add_argument("--resamples", type=int, default=1000)
    boot.set_defaults(handler=bootstrap)
    run = commands.add_parser("pipeline")
    run.add_argument("--customers", type=int, default=5000)
    run.add_argument("--terminals", type=int, default=10000)
    run.add_argument("--files", type=int, default=7)
    run.add_argument("--max-evals", type=int, default=12)
    run.add_argument("--data-dir", default=None)
    run.set_defaults(handler=pipeline)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
